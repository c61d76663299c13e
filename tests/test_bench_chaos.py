"""The chaos scenario: the server restarts during a real Locust run and nothing is lost.

The slow test runs the runner's own ``measure_strategy`` (real Redis, real server
process restarted by ``ServerProcess.restart()``, real Locust) on a small chaos
scenario; the others check the pieces that need no run: how ``--scenarios`` is
parsed, how restarts scale with ``--duration``, and how counters add up across
server processes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.run.chaos import server_totals
from benchmarks.run.cli import add_bench_arguments
from benchmarks.run.scenarios import CHAOS, PROFILES, profile_runs


def bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushlab bench")
    add_bench_arguments(parser)
    return parser


def test_scenarios_option_replaces_the_profile_list() -> None:
    args = bench_parser().parse_args(["--scenarios", "chaos,chat,chaos"])
    assert args.scenarios == ("chaos", "chat")
    runs = profile_runs(PROFILES["quick"], None, None, args.scenarios)
    assert [name for name, _ in runs] == ["chaos", "chat"]
    assert "chaos" in PROFILES["full"].scenarios


@pytest.mark.slow
def test_an_unknown_scenario_is_a_clear_usage_error() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--scenarios", "chat,storm"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 2
    assert "unknown scenario storm; known: chat" in finished.stderr
    assert "chaos" in finished.stderr


def test_restarts_keep_their_place_when_the_duration_changes() -> None:
    ((_, halved),) = profile_runs(PROFILES["quick"], None, CHAOS.duration_s / 2, ("chaos",))
    assert halved.duration_s == CHAOS.duration_s / 2
    assert halved.restarts_at_s == tuple(at / 2 for at in CHAOS.restarts_at_s)
    assert all(0 < at < halved.duration_s - halved.drain_s for at in halved.restarts_at_s)


def test_server_counters_are_summed_over_each_server_process() -> None:
    first = ({"http_opened": 5, "cpu_s": 1.0, "max_rss_kb": 100},
             {"http_opened": 25, "cpu_s": 3.0, "max_rss_kb": 180})  # fmt: skip
    second = ({"http_opened": 1, "cpu_s": 0.5, "max_rss_kb": 90},
              {"http_opened": 11, "cpu_s": 2.0, "max_rss_kb": 120})  # fmt: skip
    totals = server_totals([first, second])
    assert totals["http_opened"] == 20 + 10 - 2  # each segment's closing /api/metrics left out
    assert totals["cpu_s"] == pytest.approx(2.0 + 1.5)
    assert totals["max_rss_kb"] == 180


@pytest.mark.slow
@pytest.mark.parametrize("key", ["long-polling", "websocket"])
def test_a_restart_mid_run_loses_and_duplicates_nothing(key: str, tmp_path: Path) -> None:
    from benchmarks.run.bench_config import BenchConfig
    from benchmarks.run.runner import measure_strategy

    scenario = replace(CHAOS, clients=4, room_size=4, duration_s=12, restarts_at_s=(5,))
    config = BenchConfig(
        profile="test", strategies=(key,), runs=(("chaos", scenario),), server="daphne",
        processes=0, poll_interval_ms=1000, out=tmp_path,
    )  # fmt: skip
    result = measure_strategy(key, scenario, config, tmp_path / key, f"chaos {key}")

    assert result["status"] == "ok", result["failure"]
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)
    assert result["deliveries"] == result["deliveries_expected"] > 0
    (restart,) = result["restarts"]
    assert restart["at_s"] >= 5 and 0 < restart["downtime_s"] < 10
    assert isinstance(result["send_failures"], int)
    # senders re-sent (every 4th message on purpose, and after failures): nothing stored twice
    assert result["resends"] > 0 and result["stored_duplicates"] == 0
    # every client lost the server and came back: the run did not just stop at the restart
    assert result["reconnects"] >= scenario.clients
    assert result["http_requests"] > 0 and result["server_cpu_ms"] > 0


def test_the_chaos_redis_scenario_keeps_its_broker_events_in_place() -> None:
    from benchmarks.run.scenarios import CHAOS_REDIS, Scenario

    halved = CHAOS_REDIS.with_duration(CHAOS_REDIS.duration_s / 2)
    assert halved.redis_restart_at_s == CHAOS_REDIS.redis_restart_at_s / 2
    assert 0 < halved.redis_restart_at_s < halved.redis_stall_at_s < halved.duration_s
    assert Scenario.from_env(CHAOS_REDIS.to_env()) == CHAOS_REDIS


@pytest.mark.slow
# Polling reads the database; long polling (its hub shared with SSE) and WebSocket recover
# pushes. tests/test_broker_failure.py follows all five strategies' clients.
@pytest.mark.parametrize("key", ["short-polling", "long-polling", "websocket"])
def test_redis_restarted_and_stalled_mid_run_loses_and_duplicates_nothing(
    key: str, tmp_path: Path
) -> None:
    """The server is not restarted: every strategy resumes by itself after Redis comes back
    empty, and after a stall; every stored message reaches every client once, in order."""
    from benchmarks.run.bench_config import BenchConfig
    from benchmarks.run.runner import measure_strategy
    from benchmarks.run.scenarios import CHAOS_REDIS

    scenario = replace(
        CHAOS_REDIS, clients=4, room_size=4, duration_s=20,
        redis_restart_at_s=5, redis_stall_at_s=11, redis_stall_s=3,
    )  # fmt: skip
    config = BenchConfig(
        profile="test", strategies=(key,), runs=(("chaos-redis", scenario),), server="daphne",
        processes=0, poll_interval_ms=1000, out=tmp_path,
    )  # fmt: skip
    result = measure_strategy(key, scenario, config, tmp_path / key, f"chaos-redis {key}")

    assert result["status"] == "ok", result["failure"]
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)
    assert result["deliveries"] == result["deliveries_expected"] > 0
    assert [event["what"] for event in result["broker_events"]] == ["restart", "stall"]
    assert result["stored_duplicates"] == 0 and result["restarts"] == []
