"""The capacity scenario's climb: the clients grow step by step in one Locust run, and the
run goes on only while each step keeps the SLO.

``Climb.tick`` is what Locust's shape (``benchmarks.load.shapes``) calls once a second,
given the time and Locust's counts, so the tests drive it without Locust. This module
does not import Locust (importing it patches the process with gevent), which is why it
reads Locust's latency histogram with its own two small functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.run.scenarios import JOIN_SETTLE_S, Scenario

JOIN_GRACE_S = 30.0
"""How much longer than its join rate allows a step's clients may take to start."""


@dataclass(frozen=True)
class LocustCounts:
    """What the climb reads from Locust: clients started, and HTTP requests, failures and
    delivery times so far."""

    users: int
    requests: int
    failures: int
    delivery_times: Mapping[int, int]
    """Locust's histogram of delivery latencies: rounded ms → count."""


def histogram_p95(now: Mapping[int, int], before: Mapping[int, int]) -> float | None:
    """The 95th percentile of what Locust's latency histogram gained between two readings,
    None if it gained nothing: the smallest bucket with 95 % of the gain at or below it
    (what ``locust.stats.calculate_response_time_percentile`` finds from the top)."""
    gained = {ms: count - before.get(ms, 0) for ms, count in now.items()}
    total = sum(gained.values())
    if total <= 0:
        return None
    needed = math.ceil(total * 0.95)
    seen = 0
    for ms in sorted(gained):
        seen += gained[ms]
        if seen >= needed:
            return float(ms)
    return float(max(gained))


@dataclass
class Climb:
    """For each step: start its new clients at the join rate, let them settle, hold; after
    each hold, go on only if Locust saw the step keep the SLO (delivery p95) with no failed
    request. Then the end (``tick`` → None), and Locust's stop waits the drain window with
    the senders stopped before the clients count (``benchmarks.load.drain``).

    Each held step, and then why the climb stopped, is handed to ``write`` with wall-clock
    times; the runner measures each step over those times (``benchmarks.run.capacity``).
    """

    scenario: Scenario
    write: Callable[[dict[str, Any]], None]
    step: int = 0
    phase: str = "join"
    phase_at: float | None = None
    deadline: float = float("inf")
    window: dict[str, Any] = field(default_factory=dict)
    joined: LocustCounts | None = None
    """Locust's counts when this step's clients began to join."""
    held: LocustCounts | None = None
    """Locust's counts when this step's hold began."""

    def tick(self, now: float, counts: LocustCounts) -> tuple[int, float] | None:
        """Locust's shape tick: the clients to run and their join rate, or None to end."""
        scenario = self.scenario
        if self.phase_at is None:
            self.phase_at = now
            self.deadline = now + scenario.duration_s
            self.window = {"clients": scenario.steps[0], "join_started": now}
            self.joined = counts
        target = scenario.steps[self.step]
        if self.phase == "stopped":
            return None
        if now >= self.deadline - scenario.drain_s:
            self.stop(now, counts, "time budget")
        elif self.phase == "join":
            before = scenario.steps[self.step - 1] if self.step else 0
            if counts.users >= target:
                self.enter("settle", now)
            elif now - self.phase_at > (target - before) / scenario.spawn_rate + JOIN_GRACE_S:
                self.stop(now, counts, "generator")
        elif self.phase == "settle" and now - self.phase_at >= JOIN_SETTLE_S:
            self.enter("hold", now)
            self.held = counts
            self.window["hold_started"] = now
        elif self.phase == "hold" and now - self.phase_at >= scenario.step_hold_s:
            broke = self.finish_hold(now, counts)
            if broke is not None or self.step + 1 == len(scenario.steps):
                self.stop(now, counts, broke or "last step")
            else:
                self.step += 1
                self.enter("join", now)
                self.window = {"clients": scenario.steps[self.step], "join_started": now}
                self.joined = counts
        return scenario.steps[self.step], scenario.spawn_rate

    def enter(self, phase: str, now: float) -> None:
        self.phase, self.phase_at = phase, now

    def finish_hold(self, now: float, counts: LocustCounts) -> str | None:
        """Write the held step with Locust's view of it (the hold's requests and deliveries,
        the whole step's failures: a failed join is the step's); what broke, if Locust saw
        it break."""
        held = self.held or counts
        p95 = histogram_p95(counts.delivery_times, held.delivery_times)
        failures = counts.failures - (self.joined or held).failures
        self.write(
            {
                **self.window,
                "hold_ended": now,
                "users": counts.users,
                "requests": counts.requests - held.requests,
                "failures": failures,
                "locust_p95_ms": p95,
            }
        )
        if failures:
            return "errors"
        if p95 is None or p95 > self.scenario.slo_p95_ms:
            return "latency"
        return None

    def stop(self, now: float, counts: LocustCounts, reason: str) -> None:
        """End the climb at the next tick: ``reason`` is what stopped it, ``clients`` the
        step it was on."""
        self.write({"stopped": reason, "at": now, "users": counts.users, **self.window})
        self.enter("stopped", now)
