"""One limit for one client across server processes: the buckets live in Redis, so two
``pushlab serve`` processes sharing it give a client the configured allowance once, not
twice; and a client that drops its session each time still meets its address's bound."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, receive_json

pytestmark = pytest.mark.slow

LIMITS = {
    "PUSHLAB_RATE_LIMIT_BURST": "6",
    "PUSHLAB_RATE_LIMIT_PER_S": "0.01",  # no refill worth counting during the test
    "PUSHLAB_RATE_LIMIT_ADDRESS_BURST": "9",
    "PUSHLAB_RATE_LIMIT_ADDRESS_PER_S": "0.01",
}


@pytest.fixture
def two_servers(server_env: dict[str, str], tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two server processes (one Daphne, one uvicorn) on one Redis and one database, and a
    Redis of this test's own so that no other test's posts from 127.0.0.1 share the
    address's bucket."""
    from lab.embedded_redis import start_embedded_redis

    redis_server = start_embedded_redis()
    env = {**server_env, "REDIS_URL": redis_server.url, "PUSHLAB_VAR_DIR": str(tmp_path)}
    env |= LIMITS
    servers: list[ServerProcess] = []
    try:
        for server, migrate in (("daphne", True), ("uvicorn", False)):
            log = tmp_path / f"{server}.log"
            process = ServerProcess(env=env, server=server, log_path=log)
            servers.append(process)
            process.start(migrate=migrate)
        yield servers
    finally:
        for process in servers:
            process.stop()
        redis_server.stop()


def test_a_session_gets_its_burst_once_across_two_processes(
    two_servers: list[ServerProcess],
) -> None:
    first, second = two_servers
    room = f"limit-{secrets.token_hex(3)}"
    on_first = ChatSession(first.url, room)
    on_second = ChatSession(second.url, room, open_page=False)
    on_second.http.cookies = on_first.http.cookies  # one client, one session, two servers
    statuses = []
    for n in range(10):  # alternating: each process alone would allow 6
        session = on_first if n % 2 == 0 else on_second
        statuses.append(session.post(f"m{n}").status_code)
    assert statuses == [201] * 6 + [429] * 4
    # over a WebSocket of either process, the same empty bucket
    with contextlib.closing(on_second.websocket()) as socket:
        socket.send(json.dumps({"message": "one more"}))
        assert "too many messages" in receive_json(socket)["error"]
    assert len(on_first.read_all()) == 6


def test_a_client_that_drops_its_session_meets_the_address_bound(
    two_servers: list[ServerProcess],
) -> None:
    room = f"sessionless-{secrets.token_hex(3)}"
    statuses = []
    for n in range(12):  # a fresh session (cookies thrown away) for every post
        server = two_servers[n % 2]
        statuses.append(ChatSession(server.url, room).post(f"m{n}").status_code)
    assert statuses == [201] * 9 + [429] * 3
    refused = ChatSession(two_servers[0].url, room).post("again")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
