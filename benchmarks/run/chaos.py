"""Server restarts during a Locust run (the chaos scenario), and counters that survive them.

The runner gives a ``ServerRestarter`` the scenario's ``restarts_at_s``; a thread
restarts the server at those seconds after the first client started (same port,
Redis and database) and records each restart's downtime. The server's
``/api/metrics`` counters and CPU start again from zero in each new process, so
the run's totals are the sums over the segments, one per server process.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.run.background import BackgroundThread
from lab.embedded_redis import EmbeddedRedis
from lab.serverproc import ServerProcess

SERVER_COUNTERS = (
    "http_opened",
    "websocket_opened",
    "http_bytes_sent",
    "websocket_bytes_sent",
    "db_queries",
)
CLIENTS_START_WAIT_S = 15.0
"""How long to wait for the first client's start before counting from Locust's launch."""

Metrics = dict[str, Any]
Segment = tuple[Metrics, Metrics]
"""The server's /api/metrics at the start and at the end of one server process's share."""


def clients_started_at(clients_file: Path, finished: threading.Event, launched_at: float) -> float:
    """When client 0 started (from the users' shared state file), or ``launched_at`` if no
    client starts within ``CLIENTS_START_WAIT_S``."""
    deadline = time.monotonic() + CLIENTS_START_WAIT_S
    while not finished.is_set() and time.monotonic() < deadline:
        try:
            with open(clients_file, encoding="utf-8") as state_file:
                fcntl.flock(state_file, fcntl.LOCK_SH)
                text = state_file.read()
            if text:
                return float(json.loads(text)["started_at"])
        except (OSError, ValueError, KeyError):
            pass
        finished.wait(0.1)
    return launched_at


class ServerRestarter(BackgroundThread):
    """Restarts ``server`` at ``restarts_at_s`` while Locust runs; ``restarts`` says how it went."""

    thread_name = "server-restarter"

    def __init__(self, server: ServerProcess, restarts_at_s: tuple[float, ...], clients_file: Path):
        super().__init__()
        self.server = server
        self.restarts_at_s = restarts_at_s
        self.clients_file = clients_file
        """The users' shared state file: its ``started_at`` is when client 0 started."""
        self.restarts: list[dict[str, float]] = []
        self.error: str | None = None
        self.boundaries: list[Segment] = []
        """(metrics before stopping, metrics of the new process) for each restart."""

    def wanted(self) -> bool:
        return bool(self.restarts_at_s)

    def run(self) -> None:
        launched_at = time.time()
        started_at = self.clients_started_at(launched_at)
        for at_s in self.restarts_at_s:
            if self.finished.wait(max(0.0, started_at + at_s - time.time())):
                return
            try:
                self.restart(round(time.time() - started_at, 1))
            except (OSError, RuntimeError) as exc:
                self.error = f"the restart at {at_s:g} s failed: {type(exc).__name__}: {exc}"
                return

    def restart(self, at_s: float) -> None:
        ending = self.server.metrics()
        down_at = time.monotonic()
        self.server.restart()
        downtime_s = time.monotonic() - down_at
        self.boundaries.append((ending, self.server.metrics()))
        self.restarts.append({"at_s": at_s, "downtime_s": round(downtime_s, 2)})

    def clients_started_at(self, launched_at: float) -> float:
        """When client 0 started (the scenario's clock), or Locust's launch if none starts."""
        return clients_started_at(self.clients_file, self.finished, launched_at)

    def segments(self, before: Metrics, after: Metrics) -> list[Segment]:
        """(start, end) metrics of each server process that served the run, in order."""
        points = [before]
        for ending, starting in self.boundaries:
            points += [ending, starting]
        points.append(after)
        return [(points[i], points[i + 1]) for i in range(0, len(points), 2)]


def server_totals(segments: list[Segment]) -> Metrics:
    """The run's server counters: each segment's growth summed, the peak RSS of any process.

    Every segment ends with a read of /api/metrics that counts itself, so that
    many HTTP requests are the runner's own and are left out.
    """
    totals: Metrics = {
        name: sum(int(end.get(name, 0)) - int(start.get(name, 0)) for start, end in segments)
        for name in SERVER_COUNTERS
    }
    totals["http_opened"] -= len(segments)
    totals["cpu_s"] = sum(float(end["cpu_s"]) - float(start["cpu_s"]) for start, end in segments)
    totals["max_rss_kb"] = max(int(end["max_rss_kb"]) for _, end in segments)
    return totals


class BrokerChaos(BackgroundThread):
    """Restarts Redis (empty) and stalls it (SIGSTOP, then SIGCONT) at the scenario's
    seconds after the first client started (the chaos-redis scenario); the server runs on."""

    thread_name = "broker-chaos"

    def __init__(
        self,
        redis_server: EmbeddedRedis,
        restart_at_s: float,
        stall_at_s: float,
        stall_s: float,
        clients_file: Path,
    ) -> None:
        super().__init__()
        self.redis_server = redis_server
        self.plan = sorted(
            [(at, "restart") for at in (restart_at_s,) if at > 0]
            + [(at, "stall") for at in (stall_at_s,) if at > 0]
        )
        self.stall_s = stall_s
        self.clients_file = clients_file
        self.events: list[dict[str, Any]] = []
        self.error: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.plan)

    def wanted(self) -> bool:
        return self.active

    def stop(self) -> None:
        """Cancel what is not yet due; a stalled Redis is always resumed."""
        super().stop()
        self.redis_server.resume()

    def run(self) -> None:
        started_at = clients_started_at(self.clients_file, self.finished, time.time())
        for at_s, what in self.plan:
            if self.finished.wait(max(0.0, started_at + at_s - time.time())):
                return
            began = time.monotonic()
            try:
                if what == "restart":
                    self.redis_server.restart()
                else:
                    self.redis_server.pause()
                    self.finished.wait(self.stall_s)
                    self.redis_server.resume()
            except (OSError, RuntimeError) as exc:
                self.error = f"the Redis {what} at {at_s:g} s failed: {type(exc).__name__}: {exc}"
                return
            self.events.append(
                {
                    "what": what,
                    "at_s": round(time.time() - started_at, 1),
                    "down_s": round(time.monotonic() - began, 2),
                }
            )
