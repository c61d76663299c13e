"""What every chart of a run shares: the strategies' titles and colours in registry order,
which results are charted and why the others failed, the grey line naming the run, the
footnotes, and each chart's title (``CHART_TITLES``, by file name).

``benchmarks/report/charts.py`` and ``benchmarks/report/timeline_chart.py`` both draw with
these, so neither imports the other back.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from benchmarks.results.summary import StrategyResult, Summary, is_failed, number
from strategies import STRATEGIES

UNKNOWN_STRATEGY_COLOUR = "#7f7f7f"
FAILED_COLOUR = "#b00020"

CHART_TITLES = {
    "requests_per_delivery.png": "HTTP requests per delivered message (requests/message)",
    "requests_per_client_per_min.png": (
        "HTTP requests per client per minute, busy and idle (requests/min)"
    ),
    "delivery_latency.png": "Delivery latency p50 / p95 / p99 (ms)",
    "delivery_cdf.png": "Delivery latency distribution, CDF (ms)",
    "bytes_per_delivery.png": "Bytes sent per delivered message (bytes)",
    "server_cpu_per_delivery.png": "Server CPU time per delivered message (ms)",
    "redis_commands_per_delivery.png": "Redis commands per delivered message (commands)",
    "db_queries_per_client_per_min.png": "Database queries per client per minute (queries/min)",
    "sweep_cost.png": "Cost as clients grow: requests per client per minute and CPU per delivery",
    "sweep_latency.png": "p95 delivery latency as clients grow (ms)",
    "framework_tax.png": "Framework tax: server CPU per unit next to a bare-ASGI floor (ms)",
    "server_and_layer.png": "Server CPU per delivery under each ASGI server and channel layer",
    "capacity_clients.png": "Clients one server holds at the SLO, quiet and busy load (clients)",
    "capacity_steps.png": "Capacity steps: p95 latency and server CPU as clients grow",
    "timeline.png": "Timeline: a few clients of each technique over the same 10 s",
}


def strategy_title(key: str) -> str:
    return STRATEGIES[key].title if key in STRATEGIES else key


def strategy_colour(key: str) -> str:
    return STRATEGIES[key].colour if key in STRATEGIES else UNKNOWN_STRATEGY_COLOUR


def registry_order(keys: Iterable[str]) -> list[str]:
    """Registered strategies in registry order, then any others (an older or newer run)."""
    present = list(keys)
    return [key for key in STRATEGIES if key in present] + [
        key for key in present if key not in STRATEGIES
    ]


def failure_reason(result: StrategyResult) -> str:
    """The runner's one-sentence reason, or one built from the verify counts."""
    reason = result.get("failure")
    if isinstance(reason, str) and reason.strip():
        return reason.strip()
    counts = [
        f"{int(count)} {label}"
        for label, name in (
            ("lost", "lost"),
            ("duplicated", "duplicates"),
            ("out of order", "out_of_order"),
        )
        if (count := number(result, name))
    ]
    status = result.get("status")
    return ", ".join(counts) if counts else f"status {status!r}, no reason recorded"


@dataclass(frozen=True)
class Selection:
    """Which strategies of one scenario may be charted, and which failed (never charted)."""

    charted: list[tuple[str, StrategyResult]]
    failed: dict[str, str]
    """Strategy key → why it failed."""


def select_charted(results: Mapping[str, StrategyResult]) -> Selection:
    """Split a scenario's results into charted (status ok) and failed, in registry order."""
    charted: list[tuple[str, StrategyResult]] = []
    failed: dict[str, str] = {}
    for key in registry_order(results):
        if is_failed(results[key]):
            failed[key] = failure_reason(results[key])
        else:
            charted.append((key, results[key]))
    return Selection(charted, failed)


def run_context(summary: Summary, sweep: bool = False) -> str:
    """One grey line under every chart, so a PNG seen alone still says what run it shows."""
    config = summary.get("config")
    config = config if isinstance(config, Mapping) else {}
    run = f"run {summary.get('run_id', '?')}"
    if sweep:
        parts = [run, "scenario sweep (chat load at each number of clients)"]
        if (duration := sweep_step_duration(summary)) is not None:
            parts.append(f"{duration:g} s per step")
    else:
        parts = [run, f"scenario {config.get('scenario', 'chat')}"]
        if (clients := number(config, "clients")) is not None:
            parts.append(f"{clients:g} clients")
        if (duration := number(config, "duration_s")) is not None:
            parts.append(f"{duration:g} s")
    if config.get("server"):
        parts.append(f"server {config['server']}")
    if (interval := number(config, "poll_interval_ms")) is not None:
        parts.append(f"poll interval {interval:g} ms")
    return " · ".join(parts)


def sweep_step_duration(summary: Summary) -> float | None:
    """The sweep's own step length (the config's ``duration_s`` is the chat scenario's)."""
    sweep = summary.get("sweep")
    for steps in sweep.values() if isinstance(sweep, Mapping) else ():
        for step in steps if isinstance(steps, list) else ():
            if isinstance(step, Mapping) and (duration := number(step, "duration_s")) is not None:
                return duration
    return None


@dataclass
class Footnotes:
    """Lines printed under a chart: failures (red), saturation and missing values (black)."""

    failures: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def add_failures(self, failed: Mapping[str, str]) -> None:
        for key, reason in failed.items():
            self.failures.append(f"FAILED: {strategy_title(key)}: {reason} (not charted)")

    def wrapped(self, lines: list[str]) -> list[str]:
        return [part for line in lines for part in textwrap.wrap(line, 115)]
