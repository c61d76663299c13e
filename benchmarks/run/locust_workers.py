"""Locust worker processes for ``pushlab bench --locust-workers N`` and ``pushlab locust-worker``.

Each worker is a separate ``locust --worker`` process that reaches its master
over TCP, exactly as a worker on another machine would: it is started with none
of the run's ``PUSHLAB_BENCH_*`` settings and learns the run from the master
(``benchmarks.load.distributed``). Locust is never imported here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.run.scenarios import ENV_PREFIX
from lab.stopping import unblock_stop_signals

LOAD_DIR = Path(__file__).resolve().parent.parent / "load"
LOCUST_FILES = f"{LOAD_DIR / 'locustfile.py'},{LOAD_DIR / 'shapes.py'}"
DEFAULT_MASTER_PORT = 5557
"""Locust's own default ``--master-port``."""
EXPECT_WORKERS_MAX_WAIT_S = 60
"""How long a headless master waits for its workers before it gives up."""


def master_arguments(workers: int, bind_host: str, port: int) -> list[str]:
    """What turns a headless ``locust`` into a master that starts once ``workers`` joined."""
    return [
        "--master",
        "--master-bind-host", bind_host,
        "--master-bind-port", str(port),
        "--expect-workers", str(workers),
        "--expect-workers-max-wait", str(EXPECT_WORKERS_MAX_WAIT_S),
    ]  # fmt: skip


def worker_command(master_host: str, master_port: int) -> list[str]:
    """One ``locust --worker`` process of pushlab's users, pointed at a master."""
    return [
        sys.executable, "-m", "locust", "-f", LOCUST_FILES, "--worker",
        "--master-host", master_host, "--master-port", str(master_port),
    ]  # fmt: skip


def worker_environment() -> dict[str, str]:
    """This process's environment without the run's settings: a worker must get them by TCP."""
    return {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}


@dataclass
class LocustWorkers:
    """N local worker processes of one Locust run, each in its own session with its own log."""

    count: int
    master_port: int
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pids(self) -> Sequence[int]:
        return [process.pid for process in self.processes]

    def start(self, cwd: Path) -> LocustWorkers:
        for index in range(self.count):
            with open(self.log_dir / f"locust-worker-{index}.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        worker_command("127.0.0.1", self.master_port),
                        cwd=cwd,
                        env=worker_environment(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=unblock_stop_signals,  # started inside stop_signals_blocked
                    )
                )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Wait for the workers to follow their master's quit; kill any that do not."""
        for process in self.processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def serve_master_forever(master_host: str, master_port: int) -> int:
    """``pushlab locust-worker``: a worker for one master run after another, until Ctrl-C.

    ``pushlab bench`` starts a new Locust master per strategy and step, and a
    worker exits when its master quits, so this starts the next one.
    """
    print(
        f"pushlab locust-worker: joining the Locust master at {master_host}:{master_port} "
        "for every run until Ctrl-C",
        flush=True,
    )
    while True:
        try:
            subprocess.run(worker_command(master_host, master_port), check=False)
        except KeyboardInterrupt:
            return 0
