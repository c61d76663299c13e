"""Run ``pushlab serve`` as a separate process: for tests, the benchmark runner and chaos runs.

The server is a real ASGI server (Daphne or uvicorn) in its own process, so what
is measured or tested is what a user runs. Its Redis and database come from the
environment given to it; the caller owns their lifetime.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.stopping import stop_signals_blocked, unblock_stop_signals


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    """One ``pushlab serve`` child process on 127.0.0.1."""

    env: dict[str, str]
    """Extra environment: REDIS_URL, PUSHLAB_VAR_DIR or DATABASE_URL, settings."""
    port: int = field(default_factory=free_port)
    server: str = "daphne"
    log_path: Path | None = None
    workers: int = 1
    """``pushlab serve --workers``: server processes behind the one port."""
    process: subprocess.Popen[bytes] | None = None
    cpus: set[int] | None = None
    """Pin the server to these CPUs (``os.sched_setaffinity``), on every (re)start."""
    app: str = "lab.asgi:application"
    """The ASGI app to serve; ``benchmarks.run.floor:app`` is the benchmark's floor."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def start(self, *, migrate: bool = True, timeout: float = 30.0) -> ServerProcess:
        """Start the server and return once it answers HTTP."""
        command = [sys.executable, "-m", "lab.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--server", self.server, "--app", self.app]
        if not migrate:
            command.append("--no-migrate")
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        with stop_signals_blocked():  # a Ctrl-C now would leave the child running unseen
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=unblock_stop_signals,
            )
            if self.cpus:
                os.sched_setaffinity(self.process.pid, self.cpus)
        try:
            self.wait_until_answering(timeout)
        except BaseException:  # also Ctrl-C while waiting: never leave the child behind
            self.stop()
            raise
        return self

    def wait_until_answering(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pushlab serve exited with {self.process.returncode}")
            try:
                self.metrics()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pushlab serve did not answer on {self.url}") from None
                time.sleep(0.1)

    def metrics(self) -> dict[str, Any]:
        """The server's own counters (``GET /api/metrics``)."""
        with urllib.request.urlopen(self.url + "/api/metrics", timeout=5) as answer:
            return dict(json.load(answer))

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time; safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> ServerProcess:
        """Stop and start again on the same port (clients reconnect to the same URL)."""
        self.stop()
        return self.start(migrate=False)
