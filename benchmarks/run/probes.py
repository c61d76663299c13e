"""What the runner reads around a Locust run: Redis work, Redis connections, process CPU.

Redis figures come from ``INFO`` on the run's private Redis; CPU from
``/proc/<pid>/stat`` of the Locust process tree (master and workers), sampled
while the load runs, so start-up imports and shutdown are left out.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import redis

from benchmarks.run.background import BackgroundThread

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY_S = 0.5


def redis_command_counts(client: redis.Redis) -> Counter[str]:
    """Commands Redis has executed so far, by name, leaving out our own ``INFO`` probes."""
    stats = client.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(entry["calls"])
            for name, entry in stats.items()
            if name != "cmdstat_info"
        }
    )


def redis_command_calls(client: redis.Redis) -> int:
    """Commands Redis has executed so far, leaving out our own ``INFO`` probes."""
    return sum(redis_command_counts(client).values())


def process_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of one process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(root_pid: int) -> list[int]:
    """root_pid and every process descended from it (Locust's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


@dataclass
class CpuSample:
    """The CPU seconds of each watched process (by pid) at one moment."""

    at: float
    cpu_s: dict[int, float]

    def percent_since(self, first: CpuSample) -> list[float]:
        """Each process's CPU from ``first`` to this sample, in % of one core (the processes
        seen in both)."""
        wall = self.at - first.at
        if wall <= 0:
            return []
        return [
            100 * (self.cpu_s[pid] - first.cpu_s[pid]) / wall
            for pid in first.cpu_s
            if pid in self.cpu_s
        ]


@dataclass
class LoadSampler(BackgroundThread):
    """Samples Redis connections and the Locust tree's CPU every half second, in a thread.

    Only samples inside ``window`` (seconds after Locust was launched) count: that
    leaves out Locust's imports, the clients' connect storm and their disconnect
    storm at the end, which are artefacts of starting everyone at once.
    """

    redis_client: redis.Redis
    locust_pid: int
    window: tuple[float, float]
    worker_pids: tuple[int, ...] = ()
    """Locust workers started beside the master (``--locust-workers``), not forked by it."""
    redis_clients_peak: int = 0
    redis_clients_at_peak: list[dict[str, str]] = field(default_factory=list)
    """``CLIENT LIST`` when the peak was reached: which commands hold the connections."""
    samples: list[CpuSample] = field(default_factory=list)
    thread_name = "load-sampler"

    def __post_init__(self) -> None:
        BackgroundThread.__init__(self)

    def start(self) -> Self:
        self._started = time.monotonic()
        return super().start()

    def run(self) -> None:
        while not self.finished.wait(SAMPLE_EVERY_S):
            since_launch = time.monotonic() - self._started
            if since_launch < self.window[0]:
                continue
            if since_launch > self.window[1]:
                return
            roots = (self.locust_pid, *self.worker_pids)
            watched = [pid for root in roots for pid in process_tree(root)]
            cpu = {pid: process_cpu_s(pid) for pid in watched}
            self.samples.append(
                CpuSample(time.monotonic(), {p: s for p, s in cpu.items() if s is not None})
            )
            try:
                # our own connection is one of them
                clients = int(self.redis_client.info("clients")["connected_clients"]) - 1
                if clients > self.redis_clients_peak:
                    self.redis_clients_peak = clients
                    self.redis_clients_at_peak = self.redis_client.client_list()
            except redis.RedisError:
                pass

    def redis_clients_by_command(self) -> dict[str, int]:
        """At the peak, how many connections were last used for each command (ours left out)."""
        counts: dict[str, int] = {}
        for client in self.redis_clients_at_peak:
            if client.get("cmd") not in ("client", "info"):
                counts[client.get("cmd", "?")] = counts.get(client.get("cmd", "?"), 0) + 1
        return dict(sorted(counts.items()))

    def locust_cpu_percent(self) -> tuple[float | None, float | None]:
        """(whole tree, busiest single process) CPU percent of one core over the sampled window."""
        alive = [sample for sample in self.samples if self.locust_pid in sample.cpu_s]
        if len(alive) < 2:
            return None, None
        per_process = alive[-1].percent_since(alive[0])
        if not per_process:
            return None, None
        return sum(per_process), max(per_process)
