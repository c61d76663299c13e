"""The load shape of a benchmark run: start the scenario's clients, hold them, stop on time.

Given to Locust beside the locustfile only by ``pushlab bench`` (``-f
locustfile.py,shapes.py``), so ``make locust`` keeps the web UI's own user count.
"""

from __future__ import annotations

from locust import LoadTestShape

from benchmarks.run.scenarios import Scenario


class ScenarioShape(LoadTestShape):
    """All of the scenario's clients within about two seconds, until its duration is up."""

    def tick(self) -> tuple[int, float] | None:
        scenario = Scenario.from_env()
        if self.get_run_time() >= scenario.duration_s:
            return None
        return scenario.clients, scenario.spawn_rate
