"""A stop is prompt with held requests open: uvicorn gives requests in progress
``PUSHLAB_SHUTDOWN_GRACE_S`` and then closes the rest, instead of waiting for every event
stream (which never ends by itself) and long poll (held 25 s) to finish. Before, one open
SSE tab kept SIGTERM waiting 15 s. The cancel it makes is not logged as an error."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess

pytestmark = pytest.mark.slow  # a server process of its own, stopped with SIGTERM

HELD_S = 25
"""How long the long poll asks to be held: a stop must not wait for it."""


def open_held_request(port: int, path: str) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    return connection


def test_sigterm_closes_held_streams_and_polls_after_the_grace(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path), "PUSHLAB_SHUTDOWN_GRACE_S": "1"}
    server = ServerProcess(env=env, server="uvicorn", log_path=tmp_path / "server.log").start()
    try:
        stream = open_held_request(server.port, "/api/rooms/grace/events?after=0")
        assert stream.getresponse().status == 200  # the stream is open and held
        poll = open_held_request(server.port, f"/api/rooms/grace/messages/wait?timeout={HELD_S}")
        # Open: the stream, the poll and the metrics request asking.
        deadline = time.monotonic() + 10
        while server.metrics().get("http_open", 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.metrics()["http_open"] >= 3  # both held requests reached the server
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=HELD_S / 2)  # well before either would end by itself
    finally:
        server.stop()
    stream.close()
    poll.close()
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]
