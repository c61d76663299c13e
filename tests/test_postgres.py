"""``post_message`` on PostgreSQL with concurrent writers: several processes post to one
room while a reader follows with ``after=``. Ids must come out 1..N with no gap, and the
reader must never skip one (ids become visible in id order). Skipped without PostgreSQL
at 127.0.0.1:5432 (trust auth, user postgres, as on python-svc machines and CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import ChatSession, receiver_for, started
from tests.services import EXTERNAL_POSTGRES, skip_unless_reachable

pytestmark = [
    pytest.mark.slow,
    skip_unless_reachable(
        EXTERNAL_POSTGRES,
        "no PostgreSQL at 127.0.0.1:5432: the DATABASE_URL path needs one "
        "(python-svc machines and CI have it)",
    ),
]

REPO = Path(__file__).resolve().parent.parent
WRITERS = 4
MESSAGES_PER_WRITER = 30
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def database_env() -> Iterator[dict[str, str]]:
    """A fresh database of our own, migrated; dropped afterwards."""
    import psycopg
    from django.conf import settings

    name = f"pushlab_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 refused {ADMIN_URL}: {exc}")
    env = {
        **{k: v for k, v in os.environ.items() if k != "PUSHLAB_VAR_DIR"},
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
        "REDIS_URL": settings.REDIS_URL,  # the session's Redis: publishing goes somewhere real
        "DJANGO_SETTINGS_MODULE": "lab.settings",
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=REPO, check=True
        )
        yield env
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.postgres_workers", *args]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)


def test_concurrent_writers_get_gapless_ids_and_a_follower_skips_none(
    database_env: dict[str, str],
) -> None:
    room = "contended"
    total = WRITERS * MESSAGES_PER_WRITER
    follower = worker(database_env, "follow", room, str(total))
    start_at = str(time.time() + 3)  # after every writer has set Django up
    writers = [
        worker(database_env, "write", room, str(MESSAGES_PER_WRITER), f"writer{n}", start_at)
        for n in range(WRITERS)
    ]
    for process in writers:
        assert process.wait(timeout=120) == 0, "a writer failed"
    out, _ = follower.communicate(timeout=120)
    assert follower.returncode == 0
    seen = json.loads(out)
    assert seen == list(range(1, total + 1)), "the follower skipped or repeated an id"

    import psycopg

    with psycopg.connect(database_env["DATABASE_URL"]) as connection:
        rows = connection.execute(
            "SELECT m.number, m.author FROM lab_message m JOIN lab_room r ON m.room_id = r.id "
            "WHERE r.name = %s ORDER BY m.number",
            (room,),
        ).fetchall()
        last_id = connection.execute(
            "SELECT last_message_id FROM lab_room WHERE name = %s", (room,)
        ).fetchone()
    assert [number for number, _ in rows] == list(range(1, total + 1))
    assert last_id == (total,)
    per_writer = {f"writer{n}": 0 for n in range(WRITERS)}
    for _, author in rows:
        per_writer[author] += 1
    assert set(per_writer.values()) == {MESSAGES_PER_WRITER}


def test_a_server_on_postgresql_delivers_to_every_strategy(
    database_env: dict[str, str], tmp_path: Path
) -> None:
    env = {key: database_env[key] for key in ("DATABASE_URL", "REDIS_URL")}
    server = ServerProcess(env=env, log_path=tmp_path / "server.log").start(migrate=False)
    room = "on-postgres"
    try:
        with started(receiver_for(key)(server.url, room) for key in STRATEGIES) as receivers:
            session = ChatSession(server.url, room)
            texts = ["stored in PostgreSQL", "and pushed"]
            for text in texts:
                session.send(text)
            for receiver in receivers:
                assert [m["message"] for m in receiver.wait_for(len(texts))] == texts
    finally:
        server.stop()
