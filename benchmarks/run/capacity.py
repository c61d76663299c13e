"""The capacity scenario: how many clients one server holds before its users notice.

For each strategy and load (``quiet``, ``busy``) one Locust run climbs through the
steps (``CAPACITY_STEPS`` up to ``--capacity-max``): the clients already joined stay,
each step's new ones join at a bounded rate, and the step is held ``--capacity-hold``
seconds (``benchmarks.load.shapes.Climb``). A step passes while the delivery p95 of the
messages sent in its hold stays within the SLO, none of them is lost, duplicated or
reordered (one still in flight when the clients stopped is late, not lost: it counts in
the p95 at its age then), no request or connection fails, and Locust stays below 90 % of
its core; a step where Locust saturated is "generator-bound" and says nothing about the
server. The
climb stops after the first step Locust sees break, the figures stop at the first step
that did not pass, and the whole scenario stays inside ``CAPACITY_BUDGET_S``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from benchmarks.load import deliveries
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
from benchmarks.run.bench_config import BenchConfig, StrategyRun
from benchmarks.run.locust_run import LocustFailed, failed_result, timed_run
from benchmarks.run.probes import CpuSample, process_cpu_s, process_tree
from benchmarks.run.scenarios import (
    CAPACITY_LOADS,
    CAPACITY_STEPS,
    JOIN_SETTLE_S,
    STEPS_FILE,
    Scenario,
)

SLO_P95_MS = 500.0
"""Delivery p95 a step may reach, plus a strategy's ``latency_allowance_ms`` (a poll interval)."""
CAPACITY_BUDGET_S = 28 * 60.0
"""Every strategy and load of one capacity run together, verify runs included: on two cores
the ten climbs of the five strategies to where they break (or to 4000) take about 25 minutes
(docs/decisions.md, "The capacity scenario")."""
RUN_SETUP_S = 15.0
"""Per strategy and load, before the climb: a fresh Redis and server, and the verify run."""
CLIMB_OVERHEAD_S = 10.0
"""Per climb, besides its steps: Locust's start and stop, the clients' accounting, the probes.
With the setup, 25 s between one climb's last hold and the next one's first join, about what
full runs measure (docs/decisions.md, "The capacity scenario")."""
TICK_SLACK_S = 2.0
"""Per step: Locust asks the shape once a second, so a step's join and settle each end up to
a second late."""
RESERVED_CLIENTS = 2000
"""Each climb still to come keeps the time to reach this step (if its steps go that far): the
busy climbs break between 500 and 2000 clients, or pass 1000 (docs/decisions.md, "The
capacity scenario")."""
MEMORY_SHARE_LIMIT = 0.5
"""A server above this share of the machine's memory has broken on memory."""
FD_SHARE_LIMIT = 0.9
"""A server above this share of its open-file limit has broken on file descriptors."""
LOCUST_SATURATED_PERCENT = 90.0
"""A Locust process above this share of its core in a hold makes the step generator-bound."""
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


def largest_step(config: BenchConfig) -> int:
    return max(step_counts(config.capacity_max_clients, config.capacity_steps))


def server_bounds(config: BenchConfig) -> dict[str, str]:
    """The server's per-process bounds on held clients (``PUSHLAB_MAX_WEBSOCKETS``,
    ``PUSHLAB_MAX_LONG_POLLS``, 2000 each by default), raised to twice the largest step.

    The bounds guard a server against more clients than it was sized for; the capacity
    scenario is there to find that size, so a bound must not refuse its steps first. Twice:
    a client reconnecting may hold its old socket or request a moment longer.
    """
    bound = str(2 * largest_step(config))
    return {"PUSHLAB_MAX_WEBSOCKETS": bound, "PUSHLAB_MAX_LONG_POLLS": bound}


def slo_p95_ms(key: str, poll_interval_ms: int) -> float:
    """500 ms, plus what the strategy's own design adds (short polling: one poll interval)."""
    from strategies import STRATEGIES

    return SLO_P95_MS + STRATEGIES[key].latency_allowance_ms({"poll_interval_ms": poll_interval_ms})


@dataclass
class Budget:
    """``CAPACITY_BUDGET_S`` shared by every strategy and load of one ``pushlab bench``.

    A climb may use what is left but, for each climb still to come, a setup and the time to
    reach ``RESERVED_CLIENTS`` (``reserve_s``): the first climbs of a run are the quiet
    ones, where the thousands are, and the busy ones after them break within a few steps but
    must still get there, or they end on "time budget" with no reason why. Time a climb did
    not need (one that broke at its first steps) goes to the climbs after it.
    """

    started: float | None = None
    runs_done: int = 0

    def share_s(self, runs: int, reserve_s: float) -> float:
        """Seconds of climbing the next run may take (call once per run, in order)."""
        now = time.monotonic()
        if self.started is None:
            self.started = now - RUN_SETUP_S  # this run's server and verify already ran
        left_s = CAPACITY_BUDGET_S - (now - self.started)
        later = max(0, runs - self.runs_done - 1)
        self.runs_done += 1
        return left_s - later * (reserve_s + RUN_SETUP_S)


BUDGET = Budget()


def climb_seconds(steps: Sequence[int], join_rate: float, hold_s: float, drain_s: float) -> float:
    """How long a climb through ``steps`` takes if every step passes: each step's new clients
    joining at ``join_rate`` (all of them: the largest step's), the settle, the hold; then
    the drain."""
    largest = max(steps, default=0)
    return largest / join_rate + len(steps) * (JOIN_SETTLE_S + hold_s + TICK_SLACK_S) + drain_s


def fitting_steps(
    counts: Sequence[int], scenario: Scenario, hold_s: float, seconds: float
) -> list[int]:
    """The longest run of ``counts`` whose climb (and its overhead) fits in ``seconds``."""
    fitted: list[int] = []
    for clients in counts:
        planned = climb_seconds([*fitted, clients], scenario.spawn_rate, hold_s, scenario.drain_s)
        if planned + CLIMB_OVERHEAD_S > seconds:
            break
        fitted.append(clients)
    return fitted


def reserve_seconds(counts: Sequence[int], scenario: Scenario, hold_s: float) -> float:
    """What a climb still to come keeps of the budget: its steps up to ``RESERVED_CLIENTS``
    (at least its first), and its overhead."""
    reserved = [clients for clients in counts if clients <= RESERVED_CLIENTS] or list(counts[:1])
    return climb_seconds(reserved, scenario.spawn_rate, hold_s, scenario.drain_s) + CLIMB_OVERHEAD_S


def planned_seconds(scenario: Scenario, config: BenchConfig) -> float:
    """The longest a climb may take: every step passing, within its even share of the budget."""
    counts = step_counts(config.capacity_max_clients, config.capacity_steps)
    climb = climb_seconds(counts, scenario.spawn_rate, config.capacity_hold_s, scenario.drain_s)
    share = CAPACITY_BUDGET_S / (len(config.strategies) * len(CAPACITY_LOADS))
    return min(climb + CLIMB_OVERHEAD_S + RUN_SETUP_S, share)


@dataclass
class Footprint(BackgroundThread):
    """CPU time of each process, and the open files and resident memory of them all, in the
    process trees of ``roots``, sampled in a thread from ``/proc`` (so the processes are not
    asked and not disturbed). Times are wall-clock, as the climb's steps are."""

    roots: tuple[int, ...]
    every_s: float = 0.5
    samples: list[FootprintSample] = field(default_factory=list)
    thread_name = "footprint"

    def __post_init__(self) -> None:
        BackgroundThread.__init__(self)

    def run(self) -> None:
        while True:
            cpu: dict[int, float] = {}
            fds = rss_kb = 0
            for pid in (pid for root in self.roots for pid in process_tree(root)):
                try:
                    fds += len(os.listdir(f"/proc/{pid}/fd"))
                    rss_kb += resident_kb(pid)
                    cpu[pid] = process_cpu_s(pid) or 0.0
                except OSError:
                    continue
            self.samples.append(FootprintSample(time.time(), cpu, fds, rss_kb))
            if self.finished.wait(self.every_s):
                return

    def within(self, start: float, end: float) -> list[FootprintSample]:
        return [sample for sample in self.samples if start <= sample.at <= end]

    def cpu_percent(self, start: float, end: float, busiest: bool = False) -> float | None:
        """CPU (% of one core) from ``start`` to ``end``: of every process together, or of
        the busiest one; None if fewer than two samples fall in the window."""
        inside = self.within(start, end)
        if len(inside) < 2:
            return None
        used = inside[-1].percent_since(inside[0])
        if not used:
            return None
        return round(max(used) if busiest else sum(used), 1)

    def peaks(self, start: float, end: float) -> tuple[int, float]:
        """The most open files and resident MB seen from ``start`` to ``end``."""
        inside = self.within(start, end)
        return (
            max((sample.fds for sample in inside), default=0),
            round(max((sample.rss_kb for sample in inside), default=0) / 1024, 1),
        )


@dataclass
class FootprintSample(CpuSample):
    """A ``CpuSample`` of the tree, with the open files and resident memory of it all."""

    fds: int
    rss_kb: int


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


def read_climb(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The held steps the climb wrote, and the line saying why it stopped (None: it did not
    get to say, e.g. Locust was killed)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    stopped = next((line for line in lines if "stopped" in line), None)
    return [line for line in lines if "hold_ended" in line], stopped


def in_window(sent_ms: Sequence[float | None], start: float, end: float) -> int:
    """How many of these send times (epoch ms) fall from ``start`` to ``end`` (epoch s)."""
    return sum(1 for sent in sent_ms if sent is not None and start <= sent / 1000 < end)


ANOMALIES = ("in_flight", "lost", "duplicates", "out_of_order")
"""What a client's record lists the send times of, beside its deliveries."""


def hold_anomalies(records: list[dict[str, Any]], start: float, end: float) -> dict[str, int]:
    """How many messages sent in the hold were in flight at stop, lost, duplicated, reordered."""
    return {
        kind: sum(in_window(record.get(f"{kind}_sent_ms") or [], start, end) for record in records)
        for kind in ANOMALIES
    }


def hold_latencies(
    records: list[dict[str, Any]], start: float, end: float
) -> tuple[list[float], list[float]]:
    """The delivery latencies of the messages sent in the hold, and the ages (ms) that the
    ones still in flight had reached when their client stopped: a lower bound of their
    latency, so a step cannot pass on the messages that had not arrived."""
    delivered: list[float] = []
    waited: list[float] = []
    for record in records:
        delivered += [
            latency
            for latency, sent in zip(record["latencies_ms"], record["sent_ms"], strict=True)
            if start <= sent / 1000 < end
        ]
        stopped_ms = record.get("stopped_ms")
        if stopped_ms is not None:
            waited += [
                round(stopped_ms - sent, 2)
                for sent in record.get("in_flight_sent_ms") or []
                if sent is not None and start <= sent / 1000 < end
            ]
    return delivered, waited


def step_record(
    window: dict[str, Any],
    records: list[dict[str, Any]],
    server: Footprint,
    load: Footprint,
    fd_limit: int | None,
    slo_ms: float,
) -> CapacityStep:
    """One step's figures and verdict (``passed``, or what broke), from the messages sent in
    its hold: their deliveries, latencies and loss from the clients' records (messages in
    flight at stop are not loss; they count in the latency at their age), the server's CPU
    and Locust's over the hold, the server's peaks over the whole step."""
    start, end = window["hold_started"], window["hold_ended"]
    hold_s = end - start
    latencies, waited = hold_latencies(records, start, end)
    anomalies = hold_anomalies(records, start, end)
    errors = int(window.get("failures") or 0)
    fds, rss_mb = server.peaks(window["join_started"], end)
    cpu_percent = server.cpu_percent(start, end)
    locust_percent = load.cpu_percent(start, end, busiest=True)
    summary = metrics.latency_summary(latencies + waited)
    delivery_ms = DeliveryMs(
        p50=summary["p50"], p95=summary["p95"], p99=summary["p99"], max=summary["max"]
    )
    checks = {
        "generator": (locust_percent or 0.0) > LOCUST_SATURATED_PERCENT,
        "file descriptors": fd_limit is not None and fds >= FD_SHARE_LIMIT * fd_limit,
        "memory": rss_mb >= MEMORY_SHARE_LIMIT * memory_mb(),
        "errors": errors > 0,
        "loss": any(anomalies[kind] for kind in ("lost", "duplicates", "out_of_order")),
        "latency": delivery_ms["p95"] is None or delivery_ms["p95"] > slo_ms,
    }
    broke = next((name for name in BREAKS if checks[name]), None)
    cpu_ms = None if cpu_percent is None else cpu_percent * hold_s * 10
    requests = window.get("requests")
    return {
        "clients": window["clients"],
        "passed": broke is None,
        "broke": broke,
        "failure": None,
        "duration_s": round(hold_s, 1),
        "delivery_ms": delivery_ms,
        "deliveries": len(latencies),
        "deliveries_per_s": rounded(metrics.ratio(len(latencies), hold_s), 1),
        "in_flight": anomalies["in_flight"],
        "lost": anomalies["lost"],
        "duplicates": anomalies["duplicates"],
        "out_of_order": anomalies["out_of_order"],
        "errors": errors,
        "http_requests_per_s": rounded(metrics.ratio(requests or 0, hold_s), 1),
        "server_cpu_percent": cpu_percent,
        "server_cpu_percent_whole_step": server.cpu_percent(window["join_started"], end),
        "server_cpu_ms_per_delivery": rounded(metrics.ratio(cpu_ms or 0.0, len(latencies))),
        "server_cpu_ms_per_request": rounded(metrics.ratio(cpu_ms or 0.0, requests or 0)),
        "server_rss_mb_peak": rss_mb,
        "server_fds_peak": fds,
        "locust_cpu_percent": locust_percent,
    }


def unheld_step(stopped: dict[str, Any], server: Footprint) -> CapacityStep:
    """The step Locust could not start all the clients of in time: generator-bound."""
    fds, rss_mb = server.peaks(stopped["join_started"], stopped["at"])
    failure = f"Locust started {stopped['users']} of its {stopped['clients']} clients in time"
    return {
        "clients": stopped["clients"],
        "passed": False,
        "broke": "generator",
        "failure": failure,
        "duration_s": round(stopped["at"] - stopped["join_started"], 1),
        "delivery_ms": DeliveryMs(p50=None, p95=None, p99=None, max=None),
        "deliveries": None,
        "deliveries_per_s": None,
        "in_flight": None,
        "lost": None,
        "duplicates": None,
        "out_of_order": None,
        "errors": 0,
        "http_requests_per_s": None,
        "server_cpu_percent": None,
        "server_cpu_percent_whole_step": server.cpu_percent(stopped["join_started"], stopped["at"]),
        "server_cpu_ms_per_delivery": None,
        "server_cpu_ms_per_request": None,
        "server_rss_mb_peak": rss_mb,
        "server_fds_peak": fds,
        "locust_cpu_percent": None,
    }


def climb_steps(
    windows: list[dict[str, Any]],
    stopped: dict[str, Any] | None,
    records: list[dict[str, Any]],
    server: Footprint,
    load: Footprint,
    fd_limit: int | None,
    slo_ms: float,
) -> list[CapacityStep]:
    """Every held step up to the first that did not pass (the climb itself only stops on
    what Locust sees: latency and failed requests), then the step Locust could not start."""
    steps: list[CapacityStep] = []
    for window in windows:
        steps.append(step_record(window, records, server, load, fd_limit, slo_ms))
        if not steps[-1]["passed"]:
            return steps
    if stopped is not None and stopped["stopped"] == "generator":
        steps.append(unheld_step(stopped, server))
    return steps


def measure_steps(run: StrategyRun, verify: Verify) -> StrategyResult:
    """The runner's timed run for a capacity load: one Locust run climbing its steps.

    Returns the whole climb's result with the capacity figures added:
    ``clients_at_slo``, ``steps``, ``broke``.
    """
    slo_ms = slo_p95_ms(run.key, run.config.poll_interval_ms)
    counts = step_counts(run.config.capacity_max_clients, run.config.capacity_steps)
    climb = planned_climb(run, counts, slo_ms)
    if climb is None:
        return failed_result(run.scenario, verify, "no capacity step fitted the time budget")
    fd_limit = open_file_limit(run.server.pid)
    server_footprint = Footprint((run.server.pid,)).start()
    load_footprints: list[Footprint] = []
    try:
        result = timed_run(
            replace(run, scenario=climb),
            verify,
            watch_load=lambda *pids: load_footprints.append(Footprint(pids).start()),
        )
    except (LocustFailed, RuntimeError, OSError) as exc:
        return failed_result(climb, verify, f"{type(exc).__name__}: {exc}")
    finally:
        for footprint in (server_footprint, *load_footprints):
            footprint.stop()
    windows, stopped = read_climb(run.raw_dir / STEPS_FILE)
    records = deliveries.read_records(run.raw_dir)
    load = load_footprints[0] if load_footprints else Footprint(())
    steps = climb_steps(windows, stopped, records, server_footprint, load, fd_limit, slo_ms)
    if broke_by_file_limit(run.raw_dir / "server.log", run.raw_dir / "locust.log") and steps:
        steps[-1].update({"passed": False, "broke": "file descriptors"})
    for step in steps:
        print(f"{run.label}: {step['clients']} clients {describe_step(step, slo_ms)}", flush=True)
    out_of_time = (stopped or {}).get("stopped") == "time budget" or len(climb.steps) < len(counts)
    climbed = {
        **result,
        **climb_figures(steps, stopped, len(records), out_of_time),
        "clients": int((stopped or {}).get("users") or 0) or result["clients"],
        "load": load_name(run.scenario),
        "slo_p95_ms": slo_ms,
    }
    return cast(StrategyResult, climbed)


def planned_climb(run: StrategyRun, counts: list[int], slo_ms: float) -> Scenario | None:
    """The run's capacity load as a climb through the steps that fit its share of the time
    budget (None: not even the first fits)."""
    scenario, hold_s = run.scenario, run.config.capacity_hold_s
    share_s = BUDGET.share_s(
        len(run.config.strategies) * len(CAPACITY_LOADS), reserve_seconds(counts, scenario, hold_s)
    )
    fitted = fitting_steps(counts, scenario, hold_s, share_s)
    if not fitted:
        return None
    return replace(
        scenario,
        clients=fitted[-1],
        steps=tuple(fitted),
        step_hold_s=hold_s,
        slo_p95_ms=slo_ms,
        duration_s=climb_seconds(fitted, scenario.spawn_rate, hold_s, scenario.drain_s),
    )


def climb_figures(
    steps: list[CapacityStep], stopped: dict[str, Any] | None, reported: int, out_of_time: bool
) -> dict[str, Any]:
    """The climb's verdict from its steps: the last that passed (the capacity at the SLO),
    what broke first and where, or that the time budget ended it; failed when it held no step
    or fewer clients than joined (``reported``) wrote their records."""
    passing = [step for step in steps if step["passed"]]
    at_slo = passing[-1] if passing else None
    broke = next((step["broke"] for step in steps if not step["passed"]), None)
    if broke is None and out_of_time:
        broke = "time budget"
    failure = None if steps else "the climb held no step (see locust.log)"
    users = int((stopped or {}).get("users") or 0)
    if steps and reported < users:
        failure = f"only {reported} of {users} clients reported their deliveries"
    return {
        "status": "failed" if failure else "ok",
        "failure": failure,
        "clients_at_slo": at_slo["clients"] if at_slo else 0,
        "deliveries_per_s_at_slo": at_slo["deliveries_per_s"] if at_slo else None,
        "server_cpu_percent_at_slo": at_slo["server_cpu_percent"] if at_slo else None,
        "broke": broke,
        "broke_at_clients": steps[-1]["clients"] if steps and not steps[-1]["passed"] else None,
        "steps": steps,
    }


FILE_LIMIT_MESSAGE = re.compile(r"Too many open files")


def broke_by_file_limit(*logs: Path) -> bool:
    """The server or Locust logged EMFILE: the step the climb ended on broke on it."""
    return any(
        log.is_file() and FILE_LIMIT_MESSAGE.search(log.read_text(errors="replace")) for log in logs
    )


def describe_step(step: CapacityStep, slo_ms: float) -> str:
    verdict = "passed" if step["passed"] else f"broke on {step['broke']}"
    return (
        f"{verdict}: p95 {step['delivery_ms']['p95']} ms (SLO {slo_ms:g}), "
        f"{step['deliveries_per_s']} deliveries/s, in flight {step.get('in_flight')}, "
        f"lost {step['lost']}, errors {step['errors']}, "
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
