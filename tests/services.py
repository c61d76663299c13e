"""Servers and services the slow tests run against: a ``pushlab serve`` of a test's own,
and where the external services of the ``REDIS_URL`` / ``DATABASE_URL`` tests are and
whether they are up (python-svc machines and CI have them, a user's fresh machine not)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess

EXTERNAL_REDIS = ("127.0.0.1", 6379)
EXTERNAL_POSTGRES = ("127.0.0.1", 5432)


def tcp_reachable(address: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def skip_unless_reachable(address: tuple[str, int], reason: str) -> pytest.MarkDecorator:
    """Skip a module whose tests need the external service at ``address``."""
    return pytest.mark.skipif(not tcp_reachable(address), reason=reason)


@contextlib.contextmanager
def own_server(
    server_env: dict[str, str], var_dir: Path, server: str = "daphne", **settings: str
) -> Iterator[ServerProcess]:
    """A migrated ``pushlab serve`` (``server``: daphne or uvicorn) on the session's Redis with
    a SQLite file and log of its own in ``var_dir`` and extra ``settings`` env: for tests
    that restart or limit it."""
    env = {**server_env, "PUSHLAB_VAR_DIR": str(var_dir), **settings}
    process = ServerProcess(env=env, server=server, log_path=var_dir / "server.log").start()
    try:
        yield process
    finally:
        process.stop()
