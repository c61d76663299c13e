"""Shared fixtures.

lab.settings starts a private Redis when REDIS_URL is unset and exports REDIS_URL,
so in-process tests and the server processes started here share one Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for server processes: this session's Redis and a fresh SQLite dir."""
    from django.conf import settings

    var_dir = tmp_path_factory.mktemp("server-var")
    env = {"REDIS_URL": settings.REDIS_URL, "PUSHLAB_VAR_DIR": str(var_dir)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **env},
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return env


@pytest.fixture(scope="session")
def live_server_process(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real `pushlab serve` (Daphne) for the session, on 127.0.0.1."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    server = ServerProcess(env=server_env, log_path=log).start(migrate=False)
    yield server
    server.stop()
