"""A WebSocket left idle for longer than redis-py 8's read timeout still works.

With redis-py 8 and channels_redis 4.3 every socket idle for ~5 s used to be dropped
("Timeout reading from ..."; STACK-NOTES, redis-py#4091). This holds two sockets on a
real server idle for 7 s, then sends on one and receives on both.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, receive_json

IDLE_SECONDS = 7


@pytest.mark.slow
def test_websocket_idle_for_seven_seconds_still_sends_and_receives(
    live_server_process: ServerProcess,
) -> None:
    room = f"idle-{uuid.uuid4().hex[:8]}"
    sender = ChatSession(live_server_process.url, room).websocket()
    reader = ChatSession(live_server_process.url, room).websocket()
    try:
        time.sleep(IDLE_SECONDS)
        assert sender.connected and reader.connected, "a socket was closed while idle"
        sender.send(json.dumps({"message": "after the nap"}))
        for socket in (sender, reader):
            frame = receive_json(socket)
            assert frame.get("message") == "after the nap", frame
    finally:
        sender.close()
        reader.close()
