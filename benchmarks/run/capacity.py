"""The capacity scenario: how many clients one server holds before its users notice.

For each strategy and load (``quiet``, ``busy``) the clients grow in steps
(``CAPACITY_STEPS`` up to ``--capacity-max``); each step is one Locust run on the
same server whose shape starts the step's clients at a bounded join rate and holds
them ``--capacity-hold`` seconds. A step passes while delivery p95 stays within the
SLO, nothing is lost, duplicated or reordered, no request or connection fails, and
Locust stays below 90 % of its core; a step where Locust saturated is
"generator-bound" and says nothing about the server. Steps stop at the first one
that does not pass, and the whole scenario stays inside ``CAPACITY_BUDGET_S``.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.results.summary import (
    CapacityResult,
    CapacityStep,
    DeliveryMs,
    StrategyResult,
    Verify,
    rounded,
)
from benchmarks.run import metrics
from benchmarks.run.background import BackgroundThread
from benchmarks.run.probes import process_cpu_s, process_tree
from benchmarks.run.scenarios import CAPACITY_LOADS, CAPACITY_STEPS, Scenario

if TYPE_CHECKING:
    from benchmarks.run.runner import BenchConfig
    from lab.embedded_redis import EmbeddedRedis
    from lab.serverproc import ServerProcess

SLO_P95_MS = 500.0
"""Delivery p95 a step may reach, plus a strategy's ``latency_allowance_ms`` (a poll interval)."""
DEFAULT_HOLD_S = 20.0
DEFAULT_MAX_CLIENTS = 4000
CAPACITY_BUDGET_S = 15 * 60.0
"""Every strategy and load of one capacity run together, verify steps included."""
STEP_OVERHEAD_S = 10.0
"""Locust's start, the drain before the end, and the clients' accounting at stop."""
RUN_SETUP_S = 20.0
"""Per strategy and load, before the steps: a fresh Redis and server, and the verify run."""
MEMORY_SHARE_LIMIT = 0.5
"""A server above this share of the machine's memory has broken on memory."""
FD_SHARE_LIMIT = 0.9
"""A server above this share of its open-file limit has broken on file descriptors."""
JOIN_SETTLE_S = 2.0
"""After the last client joined, before the first message: its socket or poll is in place."""
BREAKS = ("generator", "file descriptors", "memory", "errors", "loss", "latency")
"""What can end the steps, in the order a step is checked for it."""


def is_capacity(scenario: Scenario) -> bool:
    return scenario.name in {load.name for load in CAPACITY_LOADS.values()}


def load_name(scenario: Scenario) -> str:
    return next(name for name, load in CAPACITY_LOADS.items() if load.name == scenario.name)


def step_counts(max_clients: int, steps: tuple[int, ...] = ()) -> list[int]:
    """The client counts to try, ascending: ``steps`` if given, else the standard ones up to max."""
    counts = sorted(set(steps)) or [count for count in CAPACITY_STEPS if count <= max_clients]
    return counts or [max_clients]


def server_bounds(config: BenchConfig) -> dict[str, str]:
    """The server's per-process bounds on held clients (``PUSHLAB_MAX_WEBSOCKETS``,
    ``PUSHLAB_MAX_LONG_POLLS``, 2000 each by default), raised to twice the largest step.

    The bounds guard a server against more clients than it was sized for; the capacity
    scenario is there to find that size, so a bound must not refuse its steps first. Twice:
    a client reconnecting may hold its old socket or request a moment longer.
    """
    largest = max(step_counts(config.capacity_max_clients, config.capacity_steps))
    bound = str(2 * largest)
    return {"PUSHLAB_MAX_WEBSOCKETS": bound, "PUSHLAB_MAX_LONG_POLLS": bound}


def slo_p95_ms(key: str, poll_interval_ms: int) -> float:
    """500 ms, plus what the strategy's own design adds (short polling: one poll interval)."""
    from strategies import STRATEGIES

    return SLO_P95_MS + STRATEGIES[key].latency_allowance_ms({"poll_interval_ms": poll_interval_ms})


@dataclass
class Budget:
    """``CAPACITY_BUDGET_S`` shared by every strategy and load of one ``pushlab bench``.

    Each run may use an equal share of what is left, so time a run did not need (short
    polling breaking at its first steps) goes to the runs after it.
    """

    started: float | None = None
    runs_done: int = 0

    def share_s(self, runs: int) -> float:
        """Seconds of steps the next run may take (call once per run, in order)."""
        now = time.monotonic()
        if self.started is None:
            self.started = now - RUN_SETUP_S  # this run's server and verify already ran
        left_s = CAPACITY_BUDGET_S - (now - self.started)
        runs_left = max(1, runs - self.runs_done)
        self.runs_done += 1
        return left_s / runs_left - RUN_SETUP_S * (runs_left - 1) / runs_left


BUDGET = Budget()


@dataclass
class ServerFootprint(BackgroundThread):
    """Peak open files, resident memory and CPU of the server's process tree, sampled in a
    thread (``/proc``, so the server is not asked and not disturbed)."""

    server_pid: int
    every_s: float = 0.5
    fds_peak: int = 0
    rss_mb_peak: float = 0.0
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)
    """(monotonic time, CPU seconds of the tree so far)."""
    thread_name = "server-footprint"

    def __post_init__(self) -> None:
        BackgroundThread.__init__(self)

    def run(self) -> None:
        while True:
            fds, rss_kb, cpu_s = 0, 0, 0.0
            for pid in process_tree(self.server_pid):
                try:
                    fds += len(os.listdir(f"/proc/{pid}/fd"))
                    rss_kb += resident_kb(pid)
                    cpu_s += process_cpu_s(pid) or 0.0
                except OSError:
                    continue
            self.cpu_samples.append((time.monotonic(), cpu_s))
            self.fds_peak = max(self.fds_peak, fds)
            self.rss_mb_peak = max(self.rss_mb_peak, rss_kb / 1024)
            if self.finished.wait(self.every_s):
                return

    def busiest_cpu_percent(self, window_s: float) -> float | None:
        """Server CPU (% of one core) over its busiest ``window_s``: the hold, for a step whose
        messages are all sent in the hold, without the join ramp and the stop around it."""
        best: float | None = None
        samples = self.cpu_samples
        end = 0
        for start_at, start_cpu in samples:
            while end < len(samples) and samples[end][0] - start_at < window_s:
                end += 1
            if end == len(samples):
                break
            at, cpu = samples[end]
            percent = 100 * (cpu - start_cpu) / (at - start_at)
            best = percent if best is None else max(best, percent)
        return None if best is None else round(best, 1)


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_file_limit(pid: int) -> int | None:
    """The soft ``Max open files`` of a running process."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def locust_failures(raw_dir: Path, scenario_name: str) -> int:
    """Requests and connections Locust saw fail (not the accounting's own DELIVER rows)."""
    path = raw_dir / f"{scenario_name}_failures.csv"
    if not path.is_file():
        return 0
    with path.open(newline="") as rows:
        return sum(
            int(row.get("Occurrences") or 0)
            for row in csv.DictReader(rows)
            if row.get("Method") != "DELIVER"
        )


def step_record(
    result: StrategyResult,
    footprint: ServerFootprint,
    failures: int,
    fd_limit: int | None,
    slo_ms: float,
    hold_s: float,
) -> CapacityStep:
    """One step's figures and verdict: ``passed``, or what broke.

    Messages are sent only in the hold, so deliveries/s is per second of hold and the
    server CPU is that of its busiest hold-long window (the whole run's if too short).
    """
    duration = float(result.get("duration_s") or 0.0)
    deliveries = result.get("deliveries") or 0
    errors = failures + int(result.get("send_failures") or 0)
    p95 = result["delivery_ms"]["p95"]
    lossy = bool(result.get("lost") or result.get("duplicates") or result.get("out_of_order"))
    checks = {
        "generator": bool(result.get("locust_saturated")),
        "file descriptors": fd_limit is not None
        and footprint.fds_peak >= FD_SHARE_LIMIT * fd_limit,
        "memory": footprint.rss_mb_peak >= MEMORY_SHARE_LIMIT * memory_mb(),
        "errors": errors > 0 or (result["status"] != "ok" and not lossy),
        "loss": lossy,
        "latency": p95 is None or p95 > slo_ms,
    }
    broke = next((name for name in BREAKS if checks[name]), None)
    ms = result["delivery_ms"]
    return {
        "clients": result["clients"],
        "passed": broke is None,
        "broke": broke,
        "failure": result.get("failure"),
        "duration_s": duration,
        "delivery_ms": DeliveryMs(p50=ms["p50"], p95=ms["p95"], p99=ms["p99"], max=ms["max"]),
        "deliveries": deliveries,
        "deliveries_per_s": rounded(metrics.ratio(deliveries, hold_s), 1),
        "lost": result.get("lost"),
        "duplicates": result.get("duplicates"),
        "out_of_order": result.get("out_of_order"),
        "errors": errors,
        "http_requests_per_s": rounded(
            metrics.ratio(result.get("http_requests") or 0, duration), 1
        ),
        "server_cpu_percent": footprint.busiest_cpu_percent(hold_s)
        or result.get("server_cpu_percent"),
        "server_cpu_percent_whole_step": result.get("server_cpu_percent"),
        "server_cpu_ms_per_delivery": result.get("server_cpu_ms_per_delivery"),
        "server_cpu_ms_per_request": rounded(
            metrics.ratio(result.get("server_cpu_ms") or 0.0, result.get("http_requests") or 0)
        ),
        "server_rss_mb_peak": round(footprint.rss_mb_peak, 1),
        "server_fds_peak": footprint.fds_peak,
        "locust_cpu_percent": result.get("locust_cpu_percent"),
    }


def measure_steps(
    key: str,
    scenario: Scenario,
    config: BenchConfig,
    server: ServerProcess,
    redis_server: EmbeddedRedis,
    raw_dir: Path,
    verify: Verify,
    label: str,
) -> StrategyResult:
    """The runner's timed run for a capacity load: step after step on one server.

    Returns the last passing step's full result (the first step's if none passed)
    with the capacity figures added: ``clients_at_slo``, ``steps``, ``broke``.
    """
    from benchmarks.run.runner import LocustFailed, failed_result, timed_run

    slo_ms = slo_p95_ms(key, config.poll_interval_ms)
    budget_s = BUDGET.share_s(len(config.strategies) * len(CAPACITY_LOADS))
    started = time.monotonic()
    fd_limit = open_file_limit(server.pid)
    steps: list[CapacityStep] = []
    representative: StrategyResult | None = None
    broke: str | None = None
    for clients in step_counts(config.capacity_max_clients, config.capacity_steps):
        wait_s = math.ceil(clients / scenario.spawn_rate + JOIN_SETTLE_S)
        step = replace(
            scenario,
            clients=clients,
            duration_s=wait_s + config.capacity_hold_s + scenario.drain_s,
            senders_wait_s=wait_s,
        )
        planned_s = step.duration_s + STEP_OVERHEAD_S
        if time.monotonic() - started + planned_s > budget_s:
            broke = "time budget"
            break
        step_dir = raw_dir / f"{clients}-clients"
        step_dir.mkdir(parents=True, exist_ok=True)
        footprint = ServerFootprint(server.pid).start()
        try:
            result = timed_run(
                key, step, config, server, redis_server, step_dir, verify,
                f"{label} {clients} clients",
            )  # fmt: skip
        except (LocustFailed, RuntimeError, OSError) as exc:
            result = failed_result(step, verify, f"{type(exc).__name__}: {exc}")
            result["status"] = "failed"
        finally:
            footprint.stop()
        failures = locust_failures(step_dir, step.name)
        record = step_record(result, footprint, failures, fd_limit, slo_ms, config.capacity_hold_s)
        if broke_by_file_limit(raw_dir / "server.log", step_dir / "locust.log"):
            record.update({"passed": False, "broke": "file descriptors"})
        steps.append(record)
        print(f"{label}: {clients} clients {describe_step(record, slo_ms)}", flush=True)
        if not record["passed"]:
            broke = record["broke"]
            representative = representative or result
            break
        representative = result
    passing = [step for step in steps if step["passed"]]
    at_slo = passing[-1] if passing else None
    base = representative or failed_result(scenario, verify, "no capacity step fitted the budget")
    return {
        **base,
        "status": "ok" if steps else "failed",
        "failure": None if steps else base["failure"],
        "load": load_name(scenario),
        "slo_p95_ms": slo_ms,
        "clients_at_slo": at_slo["clients"] if at_slo else 0,
        "deliveries_per_s_at_slo": at_slo["deliveries_per_s"] if at_slo else None,
        "server_cpu_percent_at_slo": at_slo["server_cpu_percent"] if at_slo else None,
        "broke": broke,
        "broke_at_clients": steps[-1]["clients"] if steps and not steps[-1]["passed"] else None,
        "steps": steps,
    }


FILE_LIMIT_MESSAGE = re.compile(r"Too many open files")


def broke_by_file_limit(*logs: Path) -> bool:
    """The server or Locust logged EMFILE (so far: the steps stop at the first that does)."""
    return any(
        log.is_file() and FILE_LIMIT_MESSAGE.search(log.read_text(errors="replace")) for log in logs
    )


def describe_step(step: CapacityStep, slo_ms: float) -> str:
    verdict = "passed" if step["passed"] else f"broke on {step['broke']}"
    return (
        f"{verdict}: p95 {step['delivery_ms']['p95']} ms (SLO {slo_ms:g}), "
        f"{step['deliveries_per_s']} deliveries/s, lost {step['lost']}, errors {step['errors']}, "
        f"server CPU {step['server_cpu_percent']} %, Locust CPU {step['locust_cpu_percent']} %, "
        f"{step['server_fds_peak']} fds, {step['server_rss_mb_peak']} MB"
    )


def capacity_summary(
    scenarios: dict[str, dict[str, StrategyResult]],
) -> dict[str, dict[str, CapacityResult]]:
    """summary.json's ``capacity``: strategy key → load → the capacity figures and steps."""
    found: dict[str, dict[str, CapacityResult]] = {}
    for load, scenario in CAPACITY_LOADS.items():
        for key, result in scenarios.get(scenario.name, {}).items():
            found.setdefault(key, {})[load] = {  # type: ignore[assignment]
                name: result.get(name)
                for name in (
                    "clients_at_slo", "slo_p95_ms", "deliveries_per_s_at_slo",
                    "server_cpu_percent_at_slo", "broke", "broke_at_clients", "steps",
                )
            }  # fmt: skip
    return found
