"""A WebSocket client that stops reading cannot make the server hold its frames forever.

The channel layer bounds what Redis queues per socket (PUSHLAB_CHANNEL_CAPACITY); what the
ASGI server buffers for a socket is bounded by its keepalive: a client that stops reading
never answers a ping, so the server closes the socket and drops what it held for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, WebSocketReceiver, wait_until
from tests.services import own_server

PING = {"PUSHLAB_WS_PING_INTERVAL_S": "1", "PUSHLAB_WS_PING_TIMEOUT_S": "2"}


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def pinging_server(
    request: pytest.FixtureRequest,
    server_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """A server that pings quiet sockets after 1 s and closes them 2 s later without a pong."""
    settings = {**PING, "PUSHLAB_RATE_LIMIT_BURST": "0"}
    var_dir = tmp_path_factory.mktemp(f"pinging-{request.param}")
    with own_server(server_env, var_dir, server=request.param, **settings) as server:
        yield server


@pytest.mark.slow
def test_a_socket_whose_client_stopped_reading_is_closed_by_the_server(
    pinging_server: ServerProcess,
) -> None:
    room = f"slow-{secrets.token_hex(3)}"
    sender = ChatSession(pinging_server.url, room)
    reader = WebSocketReceiver(pinging_server.url, room).start()  # reads, so answers pings
    stalled = sender.websocket()  # connected, then never read again
    wait_until(lambda: pinging_server.metrics().get("websocket_open", 0) == 2)

    texts = [f"{n} " + "x" * 1500 for n in range(60)]
    for text in texts:
        sender.send(text)

    # The stalled socket is dropped (its buffered frames with it); the reading one stays.
    wait_until(lambda: pinging_server.metrics().get("websocket_open", 0) == 1, timeout=20)
    assert [m["message"] for m in reader.wait_for(len(texts))] == texts
    reader.stop()
    stalled.close()
