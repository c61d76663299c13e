"""The capacity scenario: step verdicts from a step's figures, and a tiny real run end to end.

The verdicts are pure functions of a step's result (no server needed); the slow
test runs ``pushlab bench --scenarios capacity`` with two small steps of a few
seconds, real server, Redis and Locust, and checks what summary.json records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.load.climb import Climb, LocustCounts, histogram_p95
from benchmarks.run.bench_config import DEFAULT_HOLD_S, DEFAULT_MAX_CLIENTS, BenchConfig
from benchmarks.run.capacity import (
    CAPACITY_BUDGET_S,
    CLIMB_OVERHEAD_S,
    RESERVED_CLIENTS,
    RUN_SETUP_S,
    SLO_P95_MS,
    Budget,
    Footprint,
    FootprintSample,
    climb_seconds,
    climb_steps,
    fitting_steps,
    reserve_seconds,
    server_bounds,
    slo_p95_ms,
    step_counts,
    step_record,
)
from benchmarks.run.scenarios import CAPACITY_BUSY, CAPACITY_QUIET, CAPACITY_STEPS, JOIN_SETTLE_S

HOLD = (100.0, 120.0)
"""The hold of the step in these tests (wall-clock seconds)."""


def window(**changes: Any) -> dict[str, Any]:
    """What the climb wrote for a clean 250-client step held from 100 s to 120 s."""
    held = {
        "clients": 250, "join_started": 90.0, "hold_started": HOLD[0], "hold_ended": HOLD[1],
        "users": 250, "requests": 500, "failures": 0, "locust_p95_ms": 40,
    }  # fmt: skip
    return {**held, **changes}


def record(latencies: list[float], sent_s: list[float], **anomalies: list[float]) -> dict[str, Any]:
    """A client's record: each delivery's latency and its message's send time (epoch ms)."""
    return {
        "latencies_ms": latencies,
        "sent_ms": [at * 1000 for at in sent_s],
        **{f"{kind}_sent_ms": [at * 1000 for at in times] for kind, times in anomalies.items()},
    }


def sampled(cpu_per_s: float, fds: int = 300, rss_mb: float = 90.0, pid: int = 1) -> Footprint:
    """A footprint sampled every second from 80 s to 130 s, one process busy at ``cpu_per_s``."""
    footprint = Footprint(roots=())
    for at in range(80, 131):
        cpu = {pid: cpu_per_s * (at - 80)}
        footprint.samples.append(FootprintSample(float(at), cpu, fds, int(rss_mb * 1024)))
    return footprint


def step(
    win: dict[str, Any] | None = None,
    records: list[dict[str, Any]] | None = None,
    server: Footprint | None = None,
    load: Footprint | None = None,
) -> dict[str, Any]:
    clean = [record([10.0, 40.0, 30.0], [101.0, 110.0, 119.0])]
    return dict(
        step_record(
            win or window(),
            clean if records is None else records,
            server or sampled(0.2),
            load or sampled(0.3),
            fd_limit=1000,
            slo_ms=500.0,
        )
    )


def test_a_clean_step_passes_with_the_figures_of_its_hold() -> None:
    outside = record([9000.0, 7000.0], [95.0, 121.0], lost=[99.0, 125.0])  # sent in the join
    figures = step(records=[record([10.0, 40.0, 30.0], [101.0, 110.0, 119.0]), outside])
    assert figures["passed"] and figures["broke"] is None, figures
    assert figures["deliveries"] == 3 and figures["deliveries_per_s"] == 0.1
    assert figures["delivery_ms"]["max"] == 40.0 and figures["lost"] == 0
    assert figures["server_cpu_percent"] == 20.0 and figures["locust_cpu_percent"] == 30.0
    assert figures["http_requests_per_s"] == 25.0
    assert figures["server_cpu_ms_per_request"] == 8.0  # 20 % of 20 s over 500 requests
    assert figures["server_fds_peak"] == 300 and figures["duration_s"] == 20.0


@pytest.mark.parametrize(
    ("changes", "broke"),
    [
        pytest.param(
            {"load": sampled(0.95), "records": [record([1.0], [101.0], lost=[105.0])]},
            "generator",
            id="generator",
        ),
        pytest.param(
            {"server": sampled(0.2, fds=950), "win": window(failures=5)},
            "file descriptors",
            id="fds",
        ),
        pytest.param({"win": window(failures=2)}, "errors", id="failed-requests"),
        pytest.param({"records": [record([1.0], [101.0], lost=[105.0])]}, "loss", id="lost"),
        pytest.param(
            {"records": [record([1.0], [101.0], duplicates=[101.0])]}, "loss", id="duplicated"
        ),
        pytest.param(
            {"records": [record([1.0] * 19 + [501.0] * 2, [101.0] * 21)]},
            "latency",
            id="p95-over-slo",
        ),
        pytest.param(
            {"records": [record([1.0, 9000.0], [101.0, 121.0])]}, None, id="slow-after-the-hold"
        ),
        pytest.param({"records": [record([], [])]}, "latency", id="nothing-delivered"),
    ],
)
def test_what_broke_a_step(changes: dict[str, Any], broke: str | None) -> None:
    figures = step(**changes)
    assert figures["broke"] == broke and figures["passed"] is (broke is None), figures


def test_a_step_breaks_at_90_percent_of_its_open_file_limit() -> None:
    """docs/metrics.md: a server holding 90 % of its open-file limit (1000 here) or more has
    broken on file descriptors; one file fewer has not."""
    below, at = (step(server=sampled(0.2, fds=fds)) for fds in (899, 900))
    assert below["broke"] is None and at["broke"] == "file descriptors", (below, at)


def test_messages_in_flight_at_stop_are_counted_apart_and_are_not_loss() -> None:
    late = {**record([10.0, 20.0], [101.0, 110.0], in_flight=[119.0]), "stopped_ms": 119_300.0}
    figures = step(records=[late])
    assert figures["passed"] and figures["broke"] is None, figures
    assert (figures["in_flight"], figures["lost"], figures["deliveries"]) == (1, 0, 2)
    assert figures["delivery_ms"]["max"] == 300.0  # its age at stop: a lower bound


def test_a_step_whose_messages_had_not_arrived_breaks_on_latency_not_loss() -> None:
    # Half the hold's messages still on their way 20 s after they were sent.
    stuck = {**record([5.0] * 10, [101.0] * 10, in_flight=[102.0] * 10), "stopped_ms": 122_000.0}
    figures = step(records=[stuck])
    assert figures["broke"] == "latency" and figures["in_flight"] == 10, figures
    assert figures["lost"] == 0 and figures["delivery_ms"]["p95"] == 20_000.0


def test_the_steps_end_at_the_first_that_did_not_pass() -> None:
    windows = [
        window(clients=250),
        window(clients=500, hold_started=200.0, hold_ended=220.0),  # nothing sent in it
        window(clients=1000, hold_started=300.0, hold_ended=320.0),
    ]
    records = [record([5.0, 6.0], [110.0, 310.0])]
    steps = climb_steps(windows, None, records, sampled(0.2), sampled(0.3), 1000, 500.0)
    assert [(s["clients"], s["broke"]) for s in steps] == [(250, None), (500, "latency")]


def test_a_step_locust_could_not_start_is_generator_bound() -> None:
    stopped = {"stopped": "generator", "at": 125.0, "users": 430, "clients": 500,
               "join_started": 121.0}  # fmt: skip
    steps = climb_steps([window()], stopped, [record([5.0], [110.0])], sampled(0.2),
                        sampled(0.3), 1000, 500.0)  # fmt: skip
    assert [(s["clients"], s["broke"]) for s in steps] == [(250, None), (500, "generator")]
    assert steps[1]["failure"] == "Locust started 430 of its 500 clients in time"


def test_footprint_cpu_is_over_the_window_of_every_process_or_the_busiest() -> None:
    footprint = Footprint(roots=())
    for at in range(0, 11):  # process 1 a full core from 4 s to 8 s, process 2 a tenth
        busy = min(max(at - 4, 0), 4)
        footprint.samples.append(FootprintSample(float(at), {1: busy, 2: at / 10}, 10, 1024))
    assert footprint.cpu_percent(4.0, 8.0, busiest=True) == 100.0
    assert footprint.cpu_percent(4.0, 8.0) == 110.0
    assert footprint.cpu_percent(0.0, 10.0, busiest=True) == 40.0  # 4 s of 10, diluted
    assert footprint.cpu_percent(20.0, 30.0) is None  # nothing sampled then


def counts(users: int, deliveries: dict[int, int] | None = None, failures: int = 0) -> LocustCounts:
    return LocustCounts(users, requests=users, failures=failures, delivery_times=deliveries or {})


def test_the_climb_joins_settles_holds_and_goes_on_while_the_steps_pass() -> None:
    written: list[dict[str, Any]] = []
    scenario = replace(
        CAPACITY_QUIET, steps=(100, 200), step_hold_s=10, slo_p95_ms=500, duration_s=600
    )
    climb = Climb(scenario, written.append)
    assert climb.tick(0.0, counts(0)) == (100, scenario.join_rate)
    assert climb.tick(1.0, counts(60)) == (100, scenario.join_rate) and climb.phase == "join"
    climb.tick(2.0, counts(100))  # all started: settle
    climb.tick(2.0 + JOIN_SETTLE_S, counts(100, {20: 5}))  # the hold starts
    assert climb.tick(12.0 + JOIN_SETTLE_S, counts(100, {20: 105, 30: 10})) == (200, 50.0)
    assert written[0]["clients"] == 100 and written[0]["locust_p95_ms"] == 30.0
    assert written[0]["hold_ended"] - written[0]["hold_started"] == 10
    assert climb.step == 1 and climb.phase == "join"


@pytest.mark.parametrize(
    ("at_end", "stopped"),
    [
        pytest.param(counts(100, {20: 100, 900: 10}), "latency", id="p95-over-slo"),
        pytest.param(counts(100, {20: 100}, failures=1), "errors", id="a-failed-request"),
        pytest.param(counts(100, {20: 100}, failures=3), "errors", id="joins-failed-not-holds"),
        pytest.param(counts(100), "latency", id="nothing-delivered"),
    ],
)
def test_the_climb_stops_after_a_step_locust_saw_break(at_end: LocustCounts, stopped: str) -> None:
    written: list[dict[str, Any]] = []
    scenario = replace(
        CAPACITY_QUIET, steps=(100, 200), step_hold_s=10, slo_p95_ms=500, duration_s=600
    )
    climb = Climb(scenario, written.append)
    joining = counts(100, failures=3 if at_end.failures == 3 else 0)  # failed while joining
    for now, seen in ((0.0, counts(0)), (1.0, joining), (4.0, joining)):
        climb.tick(now, seen)
    climb.tick(15.0, at_end)
    assert written[-1]["stopped"] == stopped and climb.phase == "stopped"
    # The run ends at the next tick: Locust's stop waits the drain window (load/drain.py).
    assert climb.tick(16.0, at_end) is None


def test_the_climb_gives_up_on_clients_locust_cannot_start_and_on_its_deadline() -> None:
    written: list[dict[str, Any]] = []
    scenario = replace(CAPACITY_QUIET, steps=(100,), step_hold_s=10, duration_s=600)
    climb = Climb(scenario, written.append)
    climb.tick(0.0, counts(0))
    climb.tick(100 / scenario.join_rate + 31, counts(70))
    assert written == [{"stopped": "generator", "at": 33.0, "users": 70, "clients": 100,
                        "join_started": 0.0}]  # fmt: skip
    late = Climb(scenario, written.append)
    late.tick(0.0, counts(0))
    late.tick(600.0 - scenario.drain_s, counts(100))
    assert written[-1]["stopped"] == "time budget"


def test_locusts_histogram_p95_is_read_from_what_it_gained() -> None:
    assert histogram_p95({10: 50, 20: 5}, {10: 50}) == 20.0
    assert histogram_p95({10: 95, 900: 5}, {}) == 10.0
    assert histogram_p95({10: 94, 900: 6}, {}) == 900.0
    assert histogram_p95({10: 5}, {10: 5}) is None


def test_steps_and_slo() -> None:
    assert step_counts(4000) == [count for count in CAPACITY_STEPS if count <= 4000]
    assert step_counts(100) == [100]  # below the first standard step: that one step
    assert step_counts(4000, (8, 4, 8)) == [4, 8]
    assert slo_p95_ms("websocket", 1000) == SLO_P95_MS
    assert slo_p95_ms("short-polling", 1000) == SLO_P95_MS + 1000  # it may wait a whole poll


def test_a_climb_is_planned_to_fit_its_share_of_the_budget() -> None:
    rate, drain = CAPACITY_QUIET.join_rate, CAPACITY_QUIET.drain_s
    to_4000 = climb_seconds([250, 500, 1000, 2000, 4000], rate, 20, drain)
    assert to_4000 == pytest.approx(4000 / rate + 5 * (20 + JOIN_SETTLE_S + 2) + drain)
    steps = [250, 500, 1000, 2000, 4000]
    assert fitting_steps(steps, CAPACITY_QUIET, 20, 1e6) == steps
    assert fitting_steps(steps, CAPACITY_QUIET, 20, to_4000) == [250, 500, 1000, 2000]
    assert fitting_steps(steps, CAPACITY_QUIET, 20, 10) == []


def test_the_budget_keeps_time_for_the_climbs_still_to_come() -> None:
    budget = Budget()
    kept = 100 + RUN_SETUP_S  # for each climb still to come
    # the first climb's server and verify have already run when it asks
    assert budget.share_s(10, 100) == pytest.approx(
        CAPACITY_BUDGET_S - RUN_SETUP_S - 9 * kept, abs=1
    )
    assert budget.share_s(10, 100) == pytest.approx(
        CAPACITY_BUDGET_S - RUN_SETUP_S - 8 * kept, abs=1
    )


def test_a_climb_still_to_come_keeps_the_time_to_reach_the_reserved_step() -> None:
    rate, drain = CAPACITY_QUIET.join_rate, CAPACITY_QUIET.drain_s
    to_2000 = climb_seconds([250, 500, 1000, 2000], rate, 12, drain) + CLIMB_OVERHEAD_S
    assert RESERVED_CLIENTS == 2000
    assert reserve_seconds([250, 500, 1000, 2000, 4000], CAPACITY_QUIET, 12) == to_2000
    first_only = climb_seconds([4000], rate, 12, drain) + CLIMB_OVERHEAD_S
    assert reserve_seconds([4000, 8000], CAPACITY_QUIET, 12) == first_only


def test_every_climb_reaches_where_it_broke_in_the_last_full_run_within_the_budget() -> None:
    """The ten climbs of ``--profile full``, quiet ones first, each needing the steps it went
    through in session 6's full run (busy WebSocket and SSE, which passed 1000 there, assumed
    to break at 4000), all get them: the early climbs to 4000 leave the busy ones theirs."""
    # per load, in the run's order: short polling, long polling, WebSocket, SSE, naive
    went_to = {
        CAPACITY_QUIET: [2000, 4000, 4000, 4000, 1000],
        CAPACITY_BUSY: [2000, 1000, 4000, 4000, 500],
    }
    counts = step_counts(DEFAULT_MAX_CLIENTS)
    budget = Budget()
    spent = RUN_SETUP_S  # the first climb's server and verify run before it asks
    for scenario, lasts in went_to.items():
        for last in lasts:
            budget.started = time.monotonic() - spent
            share = budget.share_s(10, reserve_seconds(counts, scenario, DEFAULT_HOLD_S))
            needed = [clients for clients in counts if clients <= last]
            assert fitting_steps(counts, scenario, DEFAULT_HOLD_S, share)[: len(needed)] == needed
            climb = climb_seconds(needed, scenario.spawn_rate, DEFAULT_HOLD_S, scenario.drain_s)
            spent += climb + CLIMB_OVERHEAD_S + RUN_SETUP_S
    assert spent < CAPACITY_BUDGET_S - 120  # and two minutes to spare


def test_the_servers_bounds_on_held_clients_do_not_refuse_a_step() -> None:
    config = BenchConfig("full", (), (), "daphne", 0, 1000, Path("."), capacity_max_clients=4000)
    bounds = server_bounds(config)
    assert bounds == {"PUSHLAB_MAX_WEBSOCKETS": "8000", "PUSHLAB_MAX_LONG_POLLS": "8000"}
    few = server_bounds(
        BenchConfig("x", (), (), "daphne", 0, 1000, Path("."), capacity_steps=(8, 30))
    )
    assert few["PUSHLAB_MAX_WEBSOCKETS"] == "60"


@pytest.mark.slow
def test_a_tiny_capacity_run_climbs_its_steps_in_one_locust_run(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--scenarios", "capacity", "--strategies",
         "websocket", "--capacity-steps", "4,8", "--capacity-hold", "12", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["config"]["scenarios"] == ["capacity-quiet", "capacity-busy"]
    assert summary["config"]["capacity_hold_s"] == 12
    for load in ("quiet", "busy"):
        capacity = summary["capacity"]["websocket"][load]
        assert [step["clients"] for step in capacity["steps"]] == [4, 8], capacity
        assert capacity["clients_at_slo"] == 8 and capacity["broke"] is None, capacity
        assert capacity["slo_p95_ms"] == SLO_P95_MS
        for step in capacity["steps"]:
            assert step["passed"] and step["lost"] == 0 and step["errors"] == 0, step
            assert isinstance(step["in_flight"], int), step  # recorded apart from lost
            # a sender sends every 8-12 s, so a 12 s hold holds a message of every room
            assert step["deliveries"] > 0 and step["delivery_ms"]["p95"] <= SLO_P95_MS
            assert step["server_fds_peak"] > 0 and step["server_rss_mb_peak"] > 0
            assert step["server_cpu_percent"] is not None
            assert step["duration_s"] == pytest.approx(12, abs=1.5)
        assert capacity["deliveries_per_s_at_slo"] == capacity["steps"][-1]["deliveries_per_s"]
        scenario = summary["scenarios"][f"capacity-{load}"]["websocket"]
        assert scenario["clients"] == 8 and scenario["clients_at_slo"] == 8
        raw = tmp_path / "latest" / "raw" / f"capacity-{load}" / "websocket"
        # one Locust run for both steps, every client accounted once, after the drain window
        records = [json.loads(line) for line in (raw / "deliveries.jsonl").read_text().splitlines()]
        assert len(records) == 8 and all("in_flight_sent_ms" in r for r in records)
        drained = f"receiving {CAPACITY_BUSY.drain_s:.1f} s more before counting"
        assert drained in (raw / "locust.log").read_text()
        climbed = [json.loads(line) for line in (raw / "steps.jsonl").read_text().splitlines()]
        assert [line.get("stopped") for line in climbed] == [None, None, "last step"]


def synthetic_capacity(cpu_ms_per_request: float) -> dict[str, Any]:
    """A summary whose short polling passed 500 and 1000 clients and broke on latency at 2000."""

    def step(clients: int, passed: bool, p95: float) -> dict[str, Any]:
        return {
            "clients": clients, "passed": passed, "broke": None if passed else "latency",
            "delivery_ms": {"p50": p95 / 2, "p95": p95, "p99": p95, "max": p95},
            "deliveries": clients, "deliveries_per_s": clients / 10, "lost": 0, "errors": 0,
            "http_requests_per_s": clients * 1.02, "server_cpu_percent": clients / 10,
            "server_cpu_ms_per_request": cpu_ms_per_request, "server_cpu_ms_per_delivery": 10.0,
            "server_rss_mb_peak": 80 + clients / 100, "server_fds_peak": clients + 30,
            "locust_cpu_percent": 40.0,
        }  # fmt: skip

    figures = {
        "clients_at_slo": 1000, "slo_p95_ms": 1500.0, "deliveries_per_s_at_slo": 100.0,
        "server_cpu_percent_at_slo": 100.0, "broke": "latency", "broke_at_clients": 2000,
        "steps": [step(500, True, 900), step(1000, True, 1200), step(2000, False, 4000)],
    }  # fmt: skip
    return {
        "run_id": "capacity-test", "config": {"poll_interval_ms": 1000, "capacity_hold_s": 20},
        "strategies": {}, "capacity": {"short-polling": {"quiet": figures}},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cpu_ms_per_request", "verdict"),
    [
        pytest.param(0.8, "agrees with it within 20%", id="predicts-1250"),
        pytest.param(0.2, "does not agree with it within 20%", id="predicts-5000"),
    ],
)
def test_the_report_checks_short_pollings_limit_against_its_cpu_per_poll(
    cpu_ms_per_request: float, verdict: str
) -> None:
    from benchmarks.report.capacity_report import capacity_section

    text = "\n".join(capacity_section(synthetic_capacity(cpu_ms_per_request)))
    assert "| Short polling | quiet | 1,000 | latency at 2,000 clients | 100 | 100 |" in text
    predicted = 1000 / cpu_ms_per_request
    assert f"≈ {predicted:,.0f} clients" in text and verdict in text
    assert "| 2,000 | broke: latency | 4,000 |" in text  # every step, the breaking one included


def test_a_run_older_than_the_in_flight_count_says_its_loss_may_be_late() -> None:
    from benchmarks.report.capacity_report import BEFORE_IN_FLIGHT, capacity_section
    from benchmarks.report.charts import breaking_words
    from benchmarks.report.reference_docs import ENGLISH, capacity_cell

    old = synthetic_capacity(0.8)
    figures = old["capacity"]["short-polling"]["quiet"]
    figures["broke"] = figures["steps"][-1]["broke"] = "loss"
    assert BEFORE_IN_FLIGHT in "\n".join(capacity_section(old))
    assert breaking_words(figures) == "loss (or late) at 2000"
    assert "messages lost or still in flight" in capacity_cell(figures, ENGLISH)
    for step_figures in figures["steps"]:
        step_figures["in_flight"] = 0
    assert BEFORE_IN_FLIGHT not in "\n".join(capacity_section(old))
    assert breaking_words(figures) == "loss at 2000"
    assert "still in flight" not in capacity_cell(figures, ENGLISH)


def test_the_report_explains_naive_long_polling_by_its_queries_not_its_deliveries() -> None:
    """The naive loop's cost follows the clients waiting (a query each per check interval),
    so its reading must not say what holds for pushed deliveries."""
    from benchmarks.report.capacity_report import capacity_section

    summary = synthetic_capacity(0.8)
    summary["config"]["naive_poll_ms"] = 100
    summary["capacity"] = {"naive-long-polling": summary["capacity"]["short-polling"]}
    text = "\n".join(capacity_section(summary))
    # 1000 clients each asking every 100 ms; 100 % of a core over those 10,000 queries/s
    assert "at 1,000 clients up to 10,000 queries/s" in text
    assert "0.1 ms of server CPU each at most" in text
    assert "costs nothing while the room is silent" not in text


@pytest.mark.slow
def test_capacity_charts_are_drawn_only_for_a_run_with_capacity(tmp_path: Path) -> None:
    from benchmarks.report.markdown import write_charts

    summary = synthetic_capacity(0.8)
    drawn = {path.name for path in write_charts(summary, tmp_path)}
    assert {"capacity_clients.png", "capacity_steps.png"} <= drawn
    assert (tmp_path / "capacity_steps.png").read_bytes().startswith(b"\x89PNG")
    without = {path.name for path in write_charts({**summary, "capacity": {}}, tmp_path / "no")}
    assert not {"capacity_clients.png", "capacity_steps.png"} & without
