"""What ``pushlab bench`` was asked to do (``BenchConfig``), where its processes run
(``Placement``), and one strategy's run on its own server (``StrategyRun``): the typed
objects the runner, the timed run and the capacity climb hand each other.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks.run.scenarios import Scenario
from lab.embedded_redis import EmbeddedRedis
from lab.serverproc import ServerProcess

DEFAULT_HOLD_S = 12.0
"""Seconds each capacity step is held: 300 deliveries at the quietest step (250 clients),
thousands at a busy one, enough for a p95."""
DEFAULT_MAX_CLIENTS = 4000
"""The capacity scenario's largest step, unless ``--capacity-max`` says otherwise."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run was asked to do; written to summary.json's ``config``."""

    profile: str
    strategies: tuple[str, ...]
    runs: tuple[tuple[str, Scenario], ...]
    server: str
    processes: int
    poll_interval_ms: int
    out: Path
    layer: str = "pubsub"
    profile_server: bool = False
    placement: Placement | None = None
    locust_workers: int = 0
    """Separate ``locust --worker`` processes joined to a master over TCP (0: no master)."""
    capacity_hold_s: float = DEFAULT_HOLD_S
    capacity_max_clients: int = DEFAULT_MAX_CLIENTS
    capacity_steps: tuple[int, ...] = ()
    """The capacity scenario's client counts; empty: ``CAPACITY_STEPS`` up to the max."""


@dataclass(frozen=True)
class Placement:
    """Which CPUs the server under test gets and which the load (Locust, Redis, probes) gets.

    On 2+ cores they are kept apart, so a saturated load generator cannot pass for a
    saturated server.
    """

    server_cpus: frozenset[int]
    load_cpus: frozenset[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"server_cpus": sorted(self.server_cpus), "load_cpus": sorted(self.load_cpus)}

    def pin_load(self, pid: int) -> None:
        """Pin a load process (children it forks later inherit it); gone already is fine."""
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, self.load_cpus)


def cpu_placement() -> Placement | None:
    """The server on the first CPU this process may use, the load on the rest; None on 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if len(cpus) < 2:
        return None
    return Placement(frozenset(cpus[:1]), frozenset(cpus[1:]))


@dataclass(frozen=True)
class StrategyRun:
    """One strategy under one scenario, on its own fresh server and Redis: what a Locust run,
    the timed run and the capacity climb are handed, instead of eight arguments each."""

    key: str
    scenario: Scenario
    config: BenchConfig
    server: ServerProcess
    redis_server: EmbeddedRedis
    raw_dir: Path
    """Where this run's raw files go (Locust's CSVs and log, deliveries.jsonl, ...)."""
    label: str
    """How progress lines name it: ``[3/12] chat websocket (40 clients)``."""
