"""A WebSocket left idle for longer than redis-py 8's read timeout still works.

With redis-py 8 and channels_redis 4.3 every socket idle for ~5 s used to be dropped
("Timeout reading from ..."; redis-py issue 4091). This holds two sockets on a
real server idle for 7 s, then sends on one and receives on both, on each channel layer
(the lecture's ``redis``, where the timeout bit, and the default ``pubsub``).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.clients import ChatSession, receive_json
from tests.services import own_server

IDLE_SECONDS = 7


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["redis", "pubsub"])
def test_websocket_idle_for_seven_seconds_still_sends_and_receives(
    layer: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    room = f"idle-{uuid.uuid4().hex[:8]}"
    with own_server(server_env, tmp_path, PUSHLAB_CHANNEL_LAYER=layer) as server:
        assert f"{layer} channel layer" in (tmp_path / "server.log").read_text()
        hold_idle_then_exchange(server.url, room)


def hold_idle_then_exchange(url: str, room: str) -> None:
    sender = ChatSession(url, room).websocket()
    reader = ChatSession(url, room).websocket()
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
