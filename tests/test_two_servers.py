"""Two server processes on one Redis and one database: messages posted concurrently
through both reach every client of every strategy on both servers once, in id order
(DESIGN.md, "Room names and messages"). Publishes from two processes can reach a socket
out of order; a plain WebSocket client that does no reordering must still see 1..N.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import RECEIVERS, HttpSession, Receiver

SENDERS_PER_SERVER = 2
MESSAGES_PER_SENDER = 10


@pytest.fixture(scope="module")
def second_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Another `pushlab serve` on the session's Redis and SQLite file."""
    log = tmp_path_factory.mktemp("second-server") / "server.log"
    server = ServerProcess(env=server_env, log_path=log).start(migrate=False)
    yield server
    server.stop()


def post_many(server: ServerProcess, room: str, name: str, errors: list[BaseException]) -> None:
    try:
        session = HttpSession(server.url)
        session.open_room_page(room)
        for n in range(MESSAGES_PER_SENDER):
            session.post_message(room, f"{name} {n}")
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.slow
def test_concurrent_posts_through_two_servers_reach_everyone_once_in_order(
    live_server_process: ServerProcess, second_server: ServerProcess
) -> None:
    servers = [live_server_process, second_server]
    room = f"two-servers-{uuid.uuid4().hex[:8]}"
    receivers: list[Receiver] = [
        RECEIVERS[key](server.url, server.ws_url, room).start()
        for server in servers
        for key in STRATEGIES
    ]
    errors: list[BaseException] = []
    senders = [
        threading.Thread(target=post_many, args=(server, room, f"s{i}-{n}", errors))
        for i, server in enumerate(servers)
        for n in range(SENDERS_PER_SERVER)
    ]
    total = len(senders) * MESSAGES_PER_SENDER
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=60)
        assert not errors, errors
        for receiver in receivers:
            receiver.wait_for(total, timeout=20)
            received = receiver.stop()
            ids = [m["id"] for m in received]
            assert ids == list(range(1, total + 1)), (type(receiver).__name__, ids)
    finally:
        for receiver in receivers:
            receiver.stop()
