"""The load shape of a benchmark run: start the scenario's clients, hold them, stop on time;
or, for the capacity scenario, climb through its steps while they keep the SLO.

Given to Locust beside the locustfile only by ``pushlab bench`` (``-f
locustfile.py,shapes.py``), so ``make locust`` keeps the web UI's own user count.
The shape runs in Locust's master process (or its only one), which sees every
worker's statistics.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import LoadTestShape
from locust.runners import Runner

from benchmarks.load.climb import Climb, LocustCounts
from benchmarks.run.scenarios import DELIVERIES_DIR_ENV, STEPS_FILE, Scenario


class ScenarioShape(LoadTestShape):
    """All of the scenario's clients within about two seconds, until its duration is up;
    a scenario with ``steps`` climbs them (``benchmarks.load.climb``)."""

    climb: Climb | None = None

    def tick(self) -> tuple[int, float] | None:
        scenario = Scenario.from_env()
        if scenario.steps:
            if self.climb is None:
                self.climb = Climb(scenario, step_writer())
            assert self.runner is not None
            return self.climb.tick(time.time(), locust_counts(self.runner))
        if self.get_run_time() >= scenario.duration_s:
            return None
        return scenario.clients, scenario.spawn_rate


def locust_counts(runner: Runner) -> LocustCounts:
    """Clients started, and every worker's requests, failures and delivery times so far:
    ``DELIVER`` rows are deliveries (the accounting's rows at stop left out), ``WS`` rows a
    socket's connects and frames (failures, not HTTP requests), every other row a request."""
    requests = failures = 0
    times: dict[int, int] = {}
    for (name, method), entry in runner.stats.entries.items():
        if method == "DELIVER":
            if not name.endswith(" accounting"):
                for ms, count in entry.response_times.items():
                    times[ms] = times.get(ms, 0) + count
            continue
        failures += entry.num_failures
        if method != "WS":
            requests += entry.num_requests
    return LocustCounts(runner.user_count, requests, failures, times)


def step_writer() -> Callable[[dict[str, Any]], None]:
    """Append a line to ``STEPS_FILE`` in the run's directory (nowhere if run by hand)."""
    directory = os.environ.get(DELIVERIES_DIR_ENV)

    def write(line: dict[str, Any]) -> None:
        if directory:
            with open(Path(directory) / STEPS_FILE, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")

    return write
