"""A small real benchmark: ``pushlab bench`` end to end into a temporary directory.

Real Redis, real server processes, real Locust; a few clients for a few seconds
per strategy. It checks the results layout and summary.json's records
(``benchmarks/results/summary.py``), and that nothing was lost, duplicated or reordered.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import hotpaths
from benchmarks.run.locust_workers import DEFAULT_MASTER_PORT
from benchmarks.run.scenarios import ENV_PREFIX, LIVE_DEMO
from lab.serverproc import ServerProcess
from strategies import STRATEGIES

pytestmark = pytest.mark.slow

DESIGN_KEYS = {
    "clients", "messages_sent", "deliveries_expected", "deliveries", "lost", "duplicates",
    "out_of_order", "http_requests", "http_requests_per_client_per_min", "requests_per_delivery",
    "bytes_per_delivery", "delivery_ms", "server_cpu_ms_per_delivery",
    "redis_commands_per_delivery", "redis_clients_peak",
}  # fmt: skip
SCHEMA_KEYS = DESIGN_KEYS | {
    "status", "failure", "verify", "scenario", "duration_s", "bytes_sent", "server_cpu_ms",
    "redis_commands", "server_rss_mb_peak", "locust_cpu_percent", "locust_saturated", "in_flight",
}  # fmt: skip
CLIENTS = 4
TCP_CLIENTS = 6


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("results")
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--clients", str(CLIENTS), "--duration", "6",
         "--strategies", ",".join(STRATEGIES), "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    run_dirs = [path for path in out.iterdir() if path.name != "latest"]
    assert len(run_dirs) == 1
    summary = json.loads((run_dirs[0] / "summary.json").read_text())
    return run_dirs[0], summary, finished.stdout


def test_results_layout_and_latest_copy(bench_run: tuple[Path, dict, str]) -> None:
    run_dir, summary, _ = bench_run
    assert summary["run_id"] == run_dir.name and run_dir.name.endswith("-quick")
    latest = run_dir.parent / "latest"
    assert json.loads((latest / "summary.json").read_text()) == summary
    assert not (latest / "summary.json").is_symlink()
    for key in STRATEGIES:
        raw = run_dir / "raw" / "chat" / key
        for name in ("chat_stats.csv", "chat_stats_history.csv", "chat_failures.csv",
                     "deliveries.jsonl", "locust.log", "server.log"):  # fmt: skip
            assert (raw / name).is_file(), raw / name
        lines = (raw / "deliveries.jsonl").read_text().splitlines()
        assert len(lines) == CLIENTS  # one line per receiving client
        stats = (raw / "chat_stats.csv").read_text()
        assert f"DELIVER,{key}," in stats  # latencies went through Locust's request event


def test_summary_has_the_design_contract(bench_run: tuple[Path, dict, str]) -> None:
    _, summary, _ = bench_run
    assert {"run_id", "created_at", "git_sha", "machine", "versions", "config", "status"} <= set(
        summary
    )
    config = summary["config"]
    assert config["profile"] == "quick" and config["clients"] == CLIENTS
    assert config["duration_s"] == 6 and config["poll_interval_ms"] > 0
    assert config["server"] == "uvicorn" and config["strategies"] == list(STRATEGIES)
    assert summary["status"] == "ok"
    assert set(summary["strategies"]) == set(STRATEGIES)
    assert summary["scenarios"]["chat"] == summary["strategies"]
    for key, result in summary["strategies"].items():
        assert set(result) >= SCHEMA_KEYS, (key, SCHEMA_KEYS - set(result))
        assert {"p50", "p95", "p99", "max", "mean", "cdf"} <= set(result["delivery_ms"])
        assert result["status"] == "ok" and result["verify"]["ok"], (key, result["failure"])


def test_floor_and_framework_tax_recorded(bench_run: tuple[Path, dict, str]) -> None:
    _, summary, stdout = bench_run
    config = summary["config"]
    assert config["layer"] == "pubsub" and config["open_files_limit"] >= 1024
    if len(os.sched_getaffinity(0)) >= 2:
        placement = config["cpu_placement"]
        assert placement["server_cpus"] and placement["load_cpus"]
        assert not set(placement["server_cpus"]) & set(placement["load_cpus"])
    floor = summary["floor"]
    assert floor["server"] == config["server"]
    for job in hotpaths.JOBS:
        assert floor[job]["cpu_ms_per_unit"] > 0 and floor[job]["errors"] == 0, (job, floor[job])
        assert floor[job]["units"] > 0
    assert "floor (" in stdout
    for key, result in summary["strategies"].items():
        assert key not in summary["floor"]  # the floor is kept apart from the strategies
        tax = result["framework_tax"]
        jobs = [STRATEGIES[key].hot_path_job, "post"]  # every strategy has its own job
        for job in jobs:
            assert tax[job]["ratio"] > 0, (key, job, tax)
            assert tax[job]["floor_cpu_ms_per_unit"] == floor[job]["cpu_ms_per_unit"]
        assert result["server_cpu_ms_per_request"] > 0
    # Each strategy's server publishes only to it. Short polling publishes nothing: its only
    # Redis work is the rate limit's one EVALSHA per post (and a SCRIPT LOAD), never another
    # strategy's PUBLISH or group_send.
    by_name = summary["strategies"]["short-polling"]["redis_commands_by_name"]
    assert by_name.get("evalsha", 0) >= 1, by_name
    assert not {"publish", "zrange", "zadd", "rpush"} & set(by_name), by_name


def test_every_message_delivered_once_in_order(bench_run: tuple[Path, dict, str]) -> None:
    _, summary, _ = bench_run
    for key, result in summary["strategies"].items():
        assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0), key
        # the senders stop a drain window before the end: nothing is still on its way
        assert result["in_flight"] == 0 and result["verify"]["in_flight"] == 0, key
        assert result["messages_sent"] > 0
        assert result["deliveries"] == result["deliveries_expected"] > 0, key
        # every client of a room receives every message of its room, its own included
        assert result["deliveries"] == result["messages_sent"] * CLIENTS, key
        latency = result["delivery_ms"]
        assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        cdf = result["delivery_ms"]["cdf"]
        assert 0 < len(cdf) <= 101 and cdf[-1][1] == 1.0
        assert result["http_requests"] > 0 and result["bytes_sent"] > 0


def test_strategies_differ_as_the_lecture_says(bench_run: tuple[Path, dict, str]) -> None:
    _, summary, _ = bench_run
    results = summary["strategies"]
    # only short polling asks again and again when nothing is new
    polling = results["short-polling"]["http_requests_per_client_per_min"]
    assert polling > results["websocket"]["http_requests_per_client_per_min"]
    assert results["websocket"]["requests_per_delivery"] < 1


def test_summary_table_printed(bench_run: tuple[Path, dict, str]) -> None:
    _, _, stdout = bench_run
    assert "p50 ms" in stdout and "req/deliv" in stdout
    for key in STRATEGIES:
        assert key in stdout.split("p50 ms", 1)[1]


@pytest.mark.skipif(
    importlib.util.find_spec("benchmarks.report.markdown") is None,
    reason="benchmarks.report.markdown (charts) is not in this checkout",
)
def test_charts_and_report_drawn(bench_run: tuple[Path, dict, str]) -> None:
    run_dir, _, _ = bench_run
    charts = sorted(path.name for path in (run_dir / "charts").glob("*.png"))
    assert "delivery_latency.png" in charts and "requests_per_delivery.png" in charts
    assert "charts/" in (run_dir / "report.md").read_text()


def test_the_first_clients_of_each_strategy_are_on_the_timeline(
    bench_run: tuple[Path, dict, str],
) -> None:
    run_dir, summary, _ = bench_run
    for key, result in summary["strategies"].items():
        found = result["timeline"]
        assert found["window_s"] == [0.0, 10.0], key  # a 6-s run shows its first ten seconds
        lanes = found["clients"]
        assert [lane["client"] for lane in lanes] == [0, 1, 2], key
        arrivals = [arrival for lane in lanes for arrival in lane["arrivals"]]
        assert arrivals and found["sent"], key
        holds = all(lane["connections"] for lane in lanes)
        assert {arrival["pushed"] for arrival in arrivals} == {holds}, key  # pushed iff held
        assert all(a["sent"] is None or a["sent"] <= a["at"] + 0.05 for a in arrivals), key
    short, socket = summary["strategies"]["short-polling"], summary["strategies"]["websocket"]
    assert all(len(lane["requests"]) >= 4 for lane in short["timeline"]["clients"])
    assert all(lane["connections"] for lane in socket["timeline"]["clients"])
    assert (run_dir / "charts" / "timeline.png").is_file()
    assert (run_dir / "charts" / "ru" / "timeline.png").is_file()


def test_a_strategy_that_misses_messages_fails_verify_and_is_not_measured(
    tmp_path: Path,
) -> None:
    # Polling every 30 s, short polling cannot deliver within the few seconds of verify: a
    # message still in flight fails verify as a lost one would.
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--strategies", "short-polling",
         "--clients", "2", "--duration", "4", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PUSHLAB_POLL_INTERVAL_MS": "30000"},
    )  # fmt: skip
    assert finished.returncode == 1, finished.stdout[-2000:] + finished.stderr[-2000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    result = summary["strategies"]["short-polling"]
    assert summary["status"] == "failed" and summary["config"]["poll_interval_ms"] == 30000
    assert result["status"] == "failed" and "verify" in result["failure"]
    # Nothing newer passed the missing messages by (the next 30 s poll had not come), so they
    # count in flight, not lost (docs/metrics.md); verify fails on them all the same.
    verify = result["verify"]
    assert verify["ok"] is False and verify["in_flight"] > 0 and verify["lost"] == 0, verify
    assert result["delivery_ms"]["p50"] is None and result["requests_per_delivery"] is None
    assert not (tmp_path / "latest" / "raw" / "chat" / "short-polling" / "chat_stats.csv").exists()


def test_locust_master_and_workers_account_for_every_client(tmp_path: Path) -> None:
    """Also with Locust's default master port taken (another run, another program): the
    forked workers meet their master on a port of the run's own."""
    with contextlib.closing(socket.socket()) as squatter:
        with contextlib.suppress(OSError):  # taken already: the same condition
            squatter.bind(("127.0.0.1", DEFAULT_MASTER_PORT))
            squatter.listen()
        finished = subprocess.run(
            [sys.executable, "-m", "lab.cli", "bench", "--strategies", "websocket", "--clients",
             "6", "--duration", "6", "--processes", "2", "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    result = summary["strategies"]["websocket"]
    assert summary["config"]["processes"] == 2
    assert result["status"] == "ok" and result["lost"] == 0
    raw = tmp_path / "latest" / "raw" / "chat" / "websocket"
    records = [json.loads(line) for line in (raw / "deliveries.jsonl").open()]
    clients = sorted((record["worker"], record["client"]) for record in records)
    assert len(set(clients)) == len(clients) == 6  # each worker numbers its own, each once
    assert "2 workers connected" in (raw / "locust.log").read_text()


@pytest.fixture(scope="module")
def tcp_workers_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One run for two tests of different things: a master and two separate ``locust
    --worker`` processes joined over TCP on 127.0.0.1, and the server, layer and profiler
    flags (Daphne, the lecture's Redis layer, py-spy), which the main run leaves at their
    defaults (uvicorn, the pub/sub layer, no profiler)."""
    out = tmp_path_factory.mktemp("tcp-workers")
    finished = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bench", "--strategies", "websocket", "--clients",
         str(TCP_CLIENTS), "--duration", "8", "--locust-workers", "2", "--server", "daphne",
         "--layer", "redis", "--profile-server", "--out", str(out)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    return out / "latest", json.loads((out / "latest" / "summary.json").read_text())


def test_locust_workers_over_tcp_account_for_every_client_and_delivery(
    tcp_workers_run: tuple[Path, dict],
) -> None:
    latest, summary = tcp_workers_run
    clients = TCP_CLIENTS
    assert summary["config"]["locust_workers"] == 2 and summary["config"]["processes"] == 0
    result = summary["strategies"]["websocket"]
    assert result["status"] == "ok", result["failure"]
    raw = latest / "raw" / "chat" / "websocket"
    assert "2 workers connected" in (raw / "locust.log").read_text()
    for index in (0, 1):  # separate processes with their own logs, not forked by the master
        assert "Got quit message from master" in (raw / f"locust-worker-{index}.log").read_text()
    records = [json.loads(line) for line in (raw / "deliveries.jsonl").open()]
    # every client of both workers reported to the master, each once
    assert sorted({record["worker"] for record in records}) == [0, 1]
    assert len({(record["worker"], record["client"]) for record in records}) == clients
    assert len(records) == result["clients"] == clients
    # the sampled clients' timelines came to the master too; the first worker's are charted
    sampled = [json.loads(line) for line in (raw / "timeline.jsonl").open()]
    assert sorted((record["worker"], record["client"]) for record in sampled) == [
        (worker, client) for worker in (0, 1) for client in range(3)
    ]
    assert [lane["client"] for lane in result["timeline"]["clients"]] == [0, 1, 2]
    # every client got every message its room stored while it was there
    sent_by_room: dict[str, int] = {}
    for record in records:
        sent_by_room[record["room"]] = sent_by_room.get(record["room"], 0) + record["sent"]
    for record in records:
        assert record["deliveries"] == record["expected"] == sent_by_room[record["room"]]
    assert result["messages_sent"] == sum(sent_by_room.values()) > 0
    assert (
        result["deliveries"]
        == result["deliveries_expected"]
        == sum(
            record["sent"] * sum(1 for other in records if other["room"] == record["room"])
            for record in records
        )
    )


def test_server_layer_and_profile_flags_are_recorded(tcp_workers_run: tuple[Path, dict]) -> None:
    latest, summary = tcp_workers_run
    config, result = summary["config"], summary["strategies"]["websocket"]
    # The lecture's server and layer, both not the defaults: the flags are what chose them.
    assert (config["server"], config["layer"], config["profile_server"]) == (
        "daphne",
        "redis",
        True,
    )
    assert (result["server"], result["layer"]) == ("daphne", "redis")
    assert summary["floor"]["server"] == "daphne"
    raw = latest / "raw" / "chat" / "websocket"
    profile = json.loads((raw / result["server_profile"]).read_text())
    assert profile["profiles"] and profile["shared"]["frames"]  # speedscope, with samples
    assert "redis channel layer" in (raw / "server.log").read_text()


def test_a_locust_stopped_by_hand_waits_the_drain_window_before_counting(
    live_server_process: ServerProcess,
) -> None:
    """What the Stop button of ``make locust``'s web UI does (``runner.stop()``), reached
    here through ``--run-time``: the live demo's senders are still sending when it comes, so
    the stop stops them, lets the clients receive for the drain window, and only then counts;
    a message posted just before the stop arrives in the window instead of counting lost."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    finished = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "benchmarks/load/locustfile.py", "--headless",
         "--only-summary", "-u", "10", "-r", "10", "--run-time", "8s",
         "--host", live_server_process.url, "ShortPollingUser"],
        capture_output=True, text=True, timeout=120, env=environment,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-3000:]
    assert f"receiving {LIVE_DEMO.drain_s:.1f} s more before counting" in output, output[-3000:]
    account = next(line for line in output.splitlines() if "deliveries at stop" in line)
    assert ": lost 0, in flight 0, duplicates 0, out of order 0 of " in account, account
    assert "DeliveryError" not in output, output[-3000:]
