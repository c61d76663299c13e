"""The capacity scenario: step verdicts from a step's figures, and a tiny real run end to end.

The verdicts are pure functions of a step's result (no server needed); the slow
test runs ``pushlab bench --scenarios capacity`` with two small steps of a few
seconds, real server, Redis and Locust, and checks what summary.json records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.run.capacity import (
    SLO_P95_MS,
    ServerFootprint,
    locust_failures,
    server_bounds,
    slo_p95_ms,
    step_counts,
    step_record,
)
from benchmarks.run.scenarios import CAPACITY_STEPS


def step_result(**changes: Any) -> dict[str, Any]:
    """A timed run's result for a clean 250-client step; ``changes`` spoil it."""
    result: dict[str, Any] = {
        "status": "ok", "failure": None, "clients": 250, "duration_s": 21.0,
        "delivery_ms": {"p50": 10.0, "p95": 40.0, "p99": 60.0, "max": 90.0},
        "deliveries": 2100, "lost": 0, "duplicates": 0, "out_of_order": 0, "send_failures": 0,
        "http_requests": 500, "server_cpu_ms": 4200.0, "server_cpu_percent": 20.0,
        "server_cpu_ms_per_delivery": 2.0, "locust_cpu_percent": 30.0, "locust_saturated": False,
    }  # fmt: skip
    return {**result, **changes}


def footprint(fds: int = 300, rss_mb: float = 90.0) -> ServerFootprint:
    return ServerFootprint(server_pid=0, fds_peak=fds, rss_mb_peak=rss_mb)


def verdict(result: dict[str, Any], fds: int = 300, failures: int = 0) -> str | None:
    record = step_record(result, footprint(fds), failures, fd_limit=1000, slo_ms=500.0, hold_s=20)
    assert record["passed"] is (record["broke"] is None)
    return record["broke"]


def test_a_clean_step_passes_with_its_figures() -> None:
    record = step_record(step_result(), footprint(), 0, fd_limit=1000, slo_ms=500.0, hold_s=20)
    assert record["passed"] and record["broke"] is None
    assert record["deliveries_per_s"] == 105.0 and record["http_requests_per_s"] == 23.8
    assert record["server_cpu_ms_per_request"] == 8.4 and record["server_fds_peak"] == 300


@pytest.mark.parametrize(
    ("changes", "fds", "failures", "broke"),
    [
        pytest.param({"locust_saturated": True, "lost": 3}, 300, 0, "generator", id="generator"),
        pytest.param({}, 950, 5, "file descriptors", id="fds"),
        pytest.param({}, 300, 2, "errors", id="locust-failures"),
        pytest.param({"send_failures": 1}, 300, 0, "errors", id="send-failures"),
        pytest.param(
            {"status": "failed", "failure": "only 200 of 250 clients reported"},
            300,
            0,
            "errors",
            id="missing-clients",
        ),
        pytest.param({"status": "failed", "lost": 1}, 300, 0, "loss", id="lost"),
        pytest.param({"status": "failed", "duplicates": 1}, 300, 0, "loss", id="duplicated"),
        pytest.param(
            {"delivery_ms": {"p50": 1, "p95": 501, "p99": 1, "max": 1}},
            300,
            0,
            "latency",
            id="p95-over-slo",
        ),
    ],
)
def test_what_broke_a_step(changes: dict[str, Any], fds: int, failures: int, broke: str) -> None:
    assert verdict(step_result(**changes), fds=fds, failures=failures) == broke


def test_steps_and_slo() -> None:
    assert step_counts(4000) == [count for count in CAPACITY_STEPS if count <= 4000]
    assert step_counts(100) == [100]  # below the first standard step: that one step
    assert step_counts(4000, (8, 4, 8)) == [4, 8]
    assert slo_p95_ms("websocket", 1000) == SLO_P95_MS
    assert slo_p95_ms("short-polling", 1000) == SLO_P95_MS + 1000  # it may wait a whole poll


def test_the_servers_bounds_on_held_clients_do_not_refuse_a_step() -> None:
    from benchmarks.run.runner import BenchConfig

    config = BenchConfig("full", (), (), "daphne", 0, 1000, Path("."), capacity_max_clients=4000)
    bounds = server_bounds(config)
    assert bounds == {"PUSHLAB_MAX_WEBSOCKETS": "8000", "PUSHLAB_MAX_LONG_POLLS": "8000"}
    few = server_bounds(
        BenchConfig("x", (), (), "daphne", 0, 1000, Path("."), capacity_steps=(8, 30))
    )
    assert few["PUSHLAB_MAX_WEBSOCKETS"] == "60"


def test_locust_failures_leave_out_the_accounting_rows(tmp_path: Path) -> None:
    (tmp_path / "capacity-busy_failures.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,/chat/[room]/,ConnectionRefusedError(111),4\n"
        "WS,/ws/chat/[room]/ connect,timeout,3\n"
        "DELIVER,websocket accounting,lost 1,9\n"
    )
    assert locust_failures(tmp_path, "capacity-busy") == 7
    assert locust_failures(tmp_path, "capacity-quiet") == 0


@pytest.mark.slow
def test_a_tiny_capacity_run_records_every_step(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--scenarios", "capacity", "--strategies",
         "websocket", "--capacity-steps", "4,8", "--capacity-hold", "4", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["config"]["scenarios"] == ["capacity-quiet", "capacity-busy"]
    assert summary["config"]["capacity_hold_s"] == 4
    for load in ("quiet", "busy"):
        capacity = summary["capacity"]["websocket"][load]
        assert [step["clients"] for step in capacity["steps"]] == [4, 8], capacity
        assert capacity["clients_at_slo"] == 8 and capacity["broke"] is None, capacity
        assert capacity["slo_p95_ms"] == SLO_P95_MS
        for step in capacity["steps"]:
            assert step["passed"] and step["lost"] == 0 and step["errors"] == 0, step
            assert step["deliveries"] > 0 and step["delivery_ms"]["p95"] <= SLO_P95_MS
            assert step["server_fds_peak"] > 0 and step["server_rss_mb_peak"] > 0
            assert step["server_cpu_percent"] is not None
        assert capacity["deliveries_per_s_at_slo"] == capacity["steps"][-1]["deliveries_per_s"]
        scenario = summary["scenarios"][f"capacity-{load}"]["websocket"]
        assert scenario["clients"] == 8 and scenario["clients_at_slo"] == 8
        raw = tmp_path / "latest" / "raw" / f"capacity-{load}" / "websocket"
        for clients in (4, 8):  # one Locust run per step, each client accounted
            lines = (raw / f"{clients}-clients" / "deliveries.jsonl").read_text().splitlines()
            assert len(lines) == clients


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


def test_capacity_charts_are_drawn_only_for_a_run_with_capacity(tmp_path: Path) -> None:
    from benchmarks.report.markdown import write_charts

    summary = synthetic_capacity(0.8)
    drawn = {path.name for path in write_charts(summary, tmp_path)}
    assert {"capacity_clients.png", "capacity_steps.png"} <= drawn
    assert (tmp_path / "capacity_steps.png").read_bytes().startswith(b"\x89PNG")
    without = {path.name for path in write_charts({**summary, "capacity": {}}, tmp_path / "no")}
    assert not {"capacity_clients.png", "capacity_steps.png"} & without


def test_server_cpu_is_that_of_the_busiest_hold_long_window() -> None:
    sampled = ServerFootprint(server_pid=0)
    # idle for 4 s (the join ramp), a full core for 4 s (the hold), idle for 2 s (the stop)
    cpu = 0.0
    for tenth in range(0, 101, 5):
        at = tenth / 10
        sampled.cpu_samples.append((at, cpu))
        cpu += 0.5 if 4 <= at < 8 else 0.05
    assert sampled.busiest_cpu_percent(4.0) == 100.0
    assert 10.0 < (sampled.busiest_cpu_percent(10.0) or 0) < 50.0  # the whole run, diluted
    assert sampled.busiest_cpu_percent(60.0) is None  # no window that long was sampled
