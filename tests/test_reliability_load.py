"""No loss under load, across two server processes, on SQLite and on PostgreSQL.

Several sender processes post at once to one room, over HTTP and over WebSockets,
each through one of two ``pushlab serve`` processes that share one Redis and one
database. Clients of every strategy on BOTH servers must receive every message
exactly once and in id order — a plain lecture WebSocket client included, which
does no reordering of its own — and nothing more after that, checked once the
receivers stop, so a late repeat counts. This covers issue points 1 and 3.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, one_receiver_of_each_kind

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "PUSHLAB_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
SENDERS = [
    ("http", 0),
    ("websocket", 1),
    ("http", 1),
    ("websocket", 0),
    ("http", 0),
    ("websocket", 1),
]
"""(transport, which server) for each sender process."""
MESSAGES_PER_SENDER = 20


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards; skip if none runs."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    name = f"pushlab_reliability_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def two_servers(
    request: pytest.FixtureRequest, server_env: dict[str, str], tmp_path: Path
) -> Iterator[list[ServerProcess]]:
    """Two server processes sharing this session's Redis and one fresh database."""
    env = {"REDIS_URL": server_env["REDIS_URL"], "PUSHLAB_RATE_LIMIT_BURST": "0"}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    else:
        env["PUSHLAB_VAR_DIR"] = str(tmp_path)
    servers = []
    try:
        for index in range(2):
            log = tmp_path / f"server-{index}.log"
            # The first one migrates the shared database; the second finds it ready.
            servers.append(ServerProcess(env=env, log_path=log).start(migrate=index == 0))
        yield servers
    finally:
        for server in servers:
            server.stop()


def start_sender(
    base_url: str, room: str, transport: str, texts: list[str]
) -> subprocess.Popen[bytes]:
    code = "import sys, json; from tests.clients import send_burst; "
    code += "send_burst(*json.loads(sys.argv[1]))"
    argument = json.dumps([base_url, room, transport, texts])
    return subprocess.Popen([sys.executable, "-c", code, argument], cwd=REPO)


def test_every_client_of_every_strategy_gets_every_message_once_in_order(
    two_servers: list[ServerProcess],
) -> None:
    room = f"load-{secrets.token_hex(3)}"
    total = len(SENDERS) * MESSAGES_PER_SENDER
    receivers = [
        receiver.start()
        for server in two_servers
        for receiver in one_receiver_of_each_kind(server.url, room)
    ]

    texts_by_sender = [
        [f"sender{index}-{transport}-{n}" for n in range(MESSAGES_PER_SENDER)]
        for index, (transport, _) in enumerate(SENDERS)
    ]
    senders = [
        start_sender(two_servers[server].url, room, transport, texts)
        for (transport, server), texts in zip(SENDERS, texts_by_sender, strict=True)
    ]
    assert [sender.wait(timeout=120) for sender in senders] == [0] * len(senders)
    for receiver in receivers:
        receiver.wait_for(total, timeout=120)
    received = [receiver.stop() for receiver in receivers]  # late repeats included

    stored = ChatSession(two_servers[0].url, room).read_all()
    assert [m["id"] for m in stored] == list(range(1, total + 1))
    assert sorted(m["message"] for m in stored) == sorted(itertools.chain(*texts_by_sender))
    for sender_texts in texts_by_sender:  # each sender's own messages keep their order
        mine = [m["message"] for m in stored if m["message"] in sender_texts]
        assert mine == sender_texts
    for receiver, messages in zip(receivers, received, strict=True):
        assert not receiver.errors, f"{receiver!r}: {receiver.errors!r}"
        assert [m["id"] for m in messages] == list(range(1, total + 1)), receiver
        assert messages == stored, receiver
