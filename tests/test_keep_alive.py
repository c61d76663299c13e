"""uvicorn keeps an idle HTTP/1.1 connection open longer than a chat client pauses.

With uvicorn's default (5 s) a client that posts about every 5 s sent its next request
on a connection the server was closing, and the request failed ("connection closed"):
the busy capacity load counted those as the server's errors (docs/decisions.md).
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from lab.cli import KEEP_ALIVE_S
from lab.serverproc import ServerProcess

pytestmark = pytest.mark.slow  # a uvicorn server of its own, held idle for seconds

IDLE_S = 6.0
"""Longer than uvicorn's default keep-alive (5 s), well inside ours."""


def test_an_idle_connection_outlives_a_chat_clients_pause(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    assert KEEP_ALIVE_S > IDLE_S
    env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path)}
    server = ServerProcess(env=env, server="uvicorn", log_path=tmp_path / "server.log").start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", "/api/rooms/keep-alive/messages?after=0")
        first = connection.getresponse()
        assert first.status == 200 and first.getheader("connection") != "close"
        first.read()
        socket_before = connection.sock
        time.sleep(IDLE_S)  # the pause itself is what is tested: no condition to wait for
        connection.request("GET", "/api/rooms/keep-alive/messages?after=0")
        again = connection.getresponse()  # RemoteDisconnected if the server had closed it
        assert again.status == 200 and connection.sock is socket_before
        again.read()
    finally:
        connection.close()
        server.stop()
