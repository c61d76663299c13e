"""``pushlab bench``: measure every strategy under each scenario and write results/<run-id>/.

For each scenario and strategy: a fresh private Redis and a fresh SQLite
directory, one ``pushlab serve`` process, then a short verify run that must
deliver every message, then the timed Locust run (its own process or
processes), with the server's and Redis's counters read around it. Locust is
never imported here: it patches the process with gevent (STACK-NOTES).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import redis

from benchmarks.load import deliveries, timeline
from benchmarks.results.summary import (
    FIGURES,
    MEASURED,
    StrategyResult,
    Summary,
    Verify,
    format_figure,
    format_number,
    rounded,
    save,
)
from benchmarks.run import capacity, chaos, hotpaths, metrics, timeline_window
from benchmarks.run.locust_workers import LOCUST_FILES, LocustWorkers, master_arguments
from benchmarks.run.probes import LoadSampler, redis_command_counts
from benchmarks.run.scenarios import (
    DELIVERIES_DIR_ENV,
    IDLE_BURST,
    PROFILES,
    RUN_TAG_ENV,
    STEPS_FILE,
    VERIFY,
    Scenario,
    profile_runs,
)
from lab.embedded_redis import EmbeddedRedis, start_embedded_redis
from lab.open_files import raise_open_files_limit
from lab.serverproc import ServerProcess, free_port
from lab.stopping import stop_signals_blocked, unblock_stop_signals

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCHMARKS_DIR.parent
LOCUST_SATURATED_PERCENT = 90.0
LOCUST_GRACE_S = 60.0
"""How long Locust may overrun the scenario (start-up, accounting) before it is killed."""
PROGRESS_EVERY_S = 5.0
RUN_OVERHEAD_S = 8.0
STEADY_FROM_S = 5.0
"""Seconds after Locust's launch when every client is connected (imports ~2 s, spawning ~2 s)."""
REDIS_CLIENT_FIELDS = ("id", "age", "idle", "cmd", "psub", "sub", "name", "lib-name")
VERSIONED_PACKAGES = (
    "django",
    "channels",
    "daphne",
    "channels_redis",
    "redis",
    "locust",
    "matplotlib",
    "uvicorn",
    "websocket-client",
    "gevent",
)


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run was asked to do; written to summary.json's ``config``."""

    profile: str
    strategies: tuple[str, ...]
    runs: tuple[tuple[str, Scenario], ...]
    server: str
    processes: int
    poll_interval_ms: int
    out: Path
    layer: str = "pubsub"
    profile_server: bool = False
    placement: Placement | None = None
    locust_workers: int = 0
    """Separate ``locust --worker`` processes joined to a master over TCP (0: no master)."""
    capacity_hold_s: float = capacity.DEFAULT_HOLD_S
    capacity_max_clients: int = capacity.DEFAULT_MAX_CLIENTS
    capacity_steps: tuple[int, ...] = ()
    """The capacity scenario's client counts; empty: ``CAPACITY_STEPS`` up to the max."""


@dataclass(frozen=True)
class Placement:
    """Which CPUs the server under test gets and which the load (Locust, Redis, probes) gets.

    On 2+ cores they are kept apart, so a saturated load generator cannot pass for a
    saturated server (STACK-NOTES, "Pin processes").
    """

    server_cpus: frozenset[int]
    load_cpus: frozenset[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"server_cpus": sorted(self.server_cpus), "load_cpus": sorted(self.load_cpus)}

    def pin_load(self, pid: int) -> None:
        """Pin a load process (children it forks later inherit it); gone already is fine."""
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, self.load_cpus)


def cpu_placement() -> Placement | None:
    """The server on the first CPU this process may use, the load on the rest; None on 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if len(cpus) < 2:
        return None
    return Placement(frozenset(cpus[:1]), frozenset(cpus[1:]))


def default_strategies(profile: str) -> tuple[str, ...]:
    """Every registered strategy; the quick profile leaves out those whose row says so
    (``Strategy.in_quick_profile``), so ``make bench`` stays near three minutes."""
    from strategies import STRATEGIES

    return tuple(
        key
        for key, strategy in STRATEGIES.items()
        if profile != "quick" or strategy.in_quick_profile
    )


class LocustFailed(RuntimeError):
    """Locust crashed, hung or wrote no deliveries: the strategy's run cannot be trusted."""


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``pushlab bench``; 0 when every strategy delivered every message."""
    from strategies import STRATEGIES

    keys = tuple(key.strip() for key in args.strategies.split(",") if key.strip())
    if not keys:
        keys = default_strategies(args.profile)
        left = [key for key in STRATEGIES if key not in keys]
        if left:
            print(
                f"pushlab bench: the {args.profile} profile leaves {', '.join(left)} to "
                "--profile full (or name it in --strategies)",
                flush=True,
            )
    unknown = [key for key in keys if key not in STRATEGIES]
    if unknown:
        print(
            f"pushlab bench: unknown strategy {', '.join(unknown)}; known: {', '.join(STRATEGIES)}",
            file=sys.stderr,
        )
        return 2
    if args.processes and args.locust_workers:
        print("pushlab bench: use --processes or --locust-workers, not both", file=sys.stderr)
        return 2
    profile = PROFILES[args.profile]
    raise_open_files_limit()
    config = BenchConfig(
        profile=profile.name,
        strategies=keys,
        runs=tuple(profile_runs(profile, args.clients, args.duration, args.scenarios)),
        server=args.server,
        processes=args.processes,
        locust_workers=args.locust_workers,
        capacity_hold_s=args.capacity_hold,
        capacity_max_clients=args.capacity_max,
        capacity_steps=args.capacity_steps,
        poll_interval_ms=int(os.environ.get("PUSHLAB_POLL_INTERVAL_MS", "1000")),
        out=Path(args.out),
        layer=args.layer,
        profile_server=args.profile_server,
        placement=cpu_placement(),
    )
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{profile.name}"
    run_dir = config.out / run_id
    started = time.monotonic()
    count = sum(
        1
        if name == IDLE_BURST.name
        else len([key for key in keys if not run.only_strategies or key in run.only_strategies])
        for name, run in config.runs
    )
    print(
        f"pushlab bench: {count} runs ({profile.name} profile, "
        f"{config.server}, {config.layer} layer), writing {run_dir}",
        flush=True,
    )
    summary = measure_everything(config, run_id, run_dir)
    save(summary, run_dir)
    draw_report(run_dir)
    latest = config.out / "latest"
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(run_dir, latest)
    print(summary_table(summary))
    print(floor_table(summary["floor"]))
    if "idle_burst" in summary:
        print(idle_burst_line(summary["idle_burst"]))
    print(
        f"\n{summary['status']}: {run_dir} (also {latest}) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0 if summary["status"] == "ok" else 1


def draw_report(run_dir: Path) -> list[Path]:
    """Charts and report.md by ``benchmarks.report.markdown``, when that module is installed."""
    try:
        from benchmarks.report.markdown import write_report
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.report.markdown":
            raise
        print("charts and report.md skipped: benchmarks.report.markdown is not in this checkout")
        return []
    drawn = list(write_report(run_dir))
    print(f"charts and report: {len(drawn)} files in {run_dir} (report.md, charts/)")
    return drawn


def measure_everything(config: BenchConfig, run_id: str, run_dir: Path) -> Summary:
    print(f"floor: the bare-ASGI app on {config.server}, {len(hotpaths.JOBS)} jobs", flush=True)
    floor = measure_floor(config, run_dir / "raw" / "floor")
    scenarios: dict[str, dict[str, StrategyResult]] = {}
    sweep: dict[str, list[StrategyResult]] = {}
    per_strategy = [(name, scenario) for name, scenario in config.runs if name != IDLE_BURST.name]
    plan = [
        (scenario, key)
        for _, scenario in per_strategy
        for key in config.strategies
        if not scenario.only_strategies or key in scenario.only_strategies
    ]
    total = len(plan)
    number = 0
    for scenario_name, scenario in per_strategy:
        for key in config.strategies:
            if scenario.only_strategies and key not in scenario.only_strategies:
                continue
            number += 1
            raw_dir = run_dir / "raw" / scenario_name / key
            if scenario_name == "sweep":
                raw_dir /= f"{scenario.clients}-clients"
            clients = (
                f"up to {capacity.largest_step(config)}"
                if capacity.is_capacity(scenario)
                else str(scenario.clients)
            )
            label = f"[{number}/{total}] {scenario_name} {key} ({clients} clients)"
            left_s = sum(planned_seconds(later, config) for later, _ in plan[number - 1 :])
            print(f"{label}: starting; about {left_s / 60:.1f} min left in all", flush=True)
            result = measure_strategy(key, scenario, config, raw_dir, label)
            result["server"] = scenario.server or config.server
            result["layer"] = scenario.layer or config.layer
            failure = f" ({result['failure']})" if result["failure"] else ""
            print(f"{label}: {result['status']}{failure}", flush=True)
            if scenario_name == "sweep":
                sweep.setdefault(key, []).append(result)
            scenarios.setdefault(scenario_name, {})[key] = result  # the sweep keeps its largest
    idle_burst = None
    if any(name == IDLE_BURST.name for name, _ in config.runs):
        print(f"{IDLE_BURST.name}: {IDLE_BURST.clients} idle clients, then a burst", flush=True)
        idle_burst = measure_idle_burst(config, run_dir / "raw" / IDLE_BURST.name)
    names = list(dict.fromkeys(name for name, _ in config.runs))
    main_runs = per_strategy or list(config.runs)
    main_name = "chat" if "chat" in names else main_runs[0][0]  # --scenarios may leave chat out
    main = next(scenario for name, scenario in config.runs if name == main_name)
    summary: Summary = {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "machine": machine(),
        "versions": versions(),
        "config": {
            "profile": config.profile,
            "scenario": main_name,
            "scenarios": names,
            "poll_interval_ms": config.poll_interval_ms,
            "naive_poll_ms": int(os.environ.get("PUSHLAB_NAIVE_POLL_MS", "100")),
            "clients": main.clients,
            "duration_s": main.duration_s,
            "room_size": main.room_size,
            "send_interval_s": main.send_interval_s,
            "server": config.server,
            "layer": config.layer,
            "cpu_placement": config.placement.as_dict() if config.placement else None,
            "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "profile_server": config.profile_server,
            "processes": config.processes,
            "locust_workers": config.locust_workers,
            "strategies": list(config.strategies),
        },
        "status": "ok",
        "strategies": scenarios.get(main_name, {}),
        "scenarios": scenarios,
        "floor": floor,
    }
    if idle_burst is not None:
        summary["idle_burst"] = idle_burst
    for by_key in scenarios.values():
        for result in by_key.values():
            add_framework_tax(result, floor)
    if sweep:
        summary["sweep"] = sweep
    if found := capacity.capacity_summary(scenarios):
        summary["capacity"] = found
        summary["config"]["capacity_hold_s"] = config.capacity_hold_s
    every_result = [r for by_key in scenarios.values() for r in by_key.values()]
    every_result += [r for steps in sweep.values() for r in steps]
    charted = {id(result) for result in summary["strategies"].values()}
    for result in every_result:
        if id(result) not in charted:  # the chart shows the main scenario's; the rest stay raw
            result.pop("timeline", None)
    if any(result["status"] != "ok" for result in every_result):
        summary["status"] = "failed"
    return summary


def planned_seconds(scenario: Scenario, config: BenchConfig) -> float:
    """A run's expected wall time: verify, load, and about 8 s of starting and stopping (a
    capacity climb: its share of the capacity budget, at most)."""
    if capacity.is_capacity(scenario):
        return capacity.planned_seconds(scenario, config)
    return VERIFY.duration_s + scenario.duration_s + RUN_OVERHEAD_S


def measure_strategy(
    key: str, scenario: Scenario, config: BenchConfig, raw_dir: Path, label: str
) -> StrategyResult:
    """Verify, then time one strategy on its own fresh Redis, database and server."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    verify: Verify | None = None
    redis_server: EmbeddedRedis | None = None
    server: ServerProcess | None = None
    with tempfile.TemporaryDirectory(prefix="pushlab-bench-db-") as var_dir:
        try:
            redis_server = start_embedded_redis()
            if config.placement is not None:
                config.placement.pin_load(redis_server.process.pid)
            server = ServerProcess(
                env={
                    "REDIS_URL": redis_server.url,
                    "PUSHLAB_VAR_DIR": var_dir,
                    "DATABASE_URL": "",  # a fresh SQLite, whatever the shell points at
                    "PUSHLAB_POLL_INTERVAL_MS": str(config.poll_interval_ms),
                    # The server publishes only to the strategy measured: no strategy's CPU
                    # or Redis work includes another's publishing.
                    "PUSHLAB_PUBLISH_ONLY": key,
                    "PUSHLAB_CHANNEL_LAYER": scenario.layer or config.layer,
                    # Every simulated client posts from 127.0.0.1: the per-address bound
                    # (for one client that drops its session) would throttle the whole load.
                    # Each client's own session limit stays on and is never met.
                    "PUSHLAB_RATE_LIMIT_ADDRESS_BURST": "0",
                    **(capacity.server_bounds(config) if capacity.is_capacity(scenario) else {}),
                },
                server=scenario.server or config.server,
                log_path=raw_dir / "server.log",
                cpus=set(config.placement.server_cpus) if config.placement else None,
            )
            server.start()  # assigned first, so a Ctrl-C while it starts still stops it
            verify = verify_strategy(key, server, config, raw_dir / "verify", label)
            if not verify["ok"]:
                return failed_result(
                    scenario,
                    verify,
                    "the verify step did not deliver every message exactly once and in order",
                )
            measure = capacity.measure_steps if capacity.is_capacity(scenario) else timed_run
            return measure(key, scenario, config, server, redis_server, raw_dir, verify, label)
        except (LocustFailed, RuntimeError, OSError, redis.RedisError) as exc:
            return failed_result(scenario, verify, f"{type(exc).__name__}: {exc}")
        finally:
            if server is not None:
                server.stop()
            if redis_server is not None:
                redis_server.stop()


def verify_strategy(
    key: str, server: ServerProcess, config: BenchConfig, verify_dir: Path, label: str
) -> Verify:
    """A few clients in one room; every one must get every message once, in order, within
    the drain window (at this light load a message still in flight fails the check too)."""
    verify_dir.mkdir(parents=True, exist_ok=True)
    records = run_locust(key, VERIFY, config, server, verify_dir, f"{label} verify")
    account = deliveries.total_account(records)
    every_one = account.clean and account.in_flight == 0 and len(records) == VERIFY.clients
    return {
        "ok": every_one and account.deliveries > 0,
        "in_flight": account.in_flight,
        "lost": account.lost,
        "duplicates": account.duplicates,
        "out_of_order": account.out_of_order,
        "deliveries": account.deliveries,
    }


def timed_run(
    key: str,
    scenario: Scenario,
    config: BenchConfig,
    server: ServerProcess,
    redis_server: EmbeddedRedis,
    raw_dir: Path,
    verify: Verify,
    label: str,
    watch_load: Callable[..., None] | None = None,
) -> StrategyResult:
    """The measured Locust run, with server and Redis counters diffed around it.

    ``watch_load`` is given Locust's process ids once it started (the capacity climb
    samples them)."""
    monitor = redis.Redis(unix_socket_path=str(redis_server.socket_path))
    before_server = server.metrics()
    before_commands = redis_command_counts(monitor)
    samplers: list[LoadSampler] = []
    restarter = chaos.ServerRestarter(server, scenario.restarts_at_s, raw_dir / "clients.json")
    broker_chaos = chaos.BrokerChaos(
        redis_server,
        scenario.redis_restart_at_s,
        scenario.redis_stall_at_s,
        scenario.redis_stall_s,
        raw_dir / "clients.json",
    )

    def start_sampling(locust_pid: int, *worker_pids: int) -> None:
        window = (min(STEADY_FROM_S, scenario.duration_s / 2), scenario.duration_s)
        samplers.append(LoadSampler(monitor, locust_pid, window, worker_pids).start())
        if watch_load is not None:
            watch_load(locust_pid, *worker_pids)
        restarter.start()
        broker_chaos.start()

    profiler = ServerProfiler(server.pid, raw_dir) if config.profile_server else None
    try:
        if profiler is not None:
            profiler.start(scenario.duration_s)
        records = run_locust(key, scenario, config, server, raw_dir, label, start_sampling)
    finally:
        restarter.stop()
        broker_chaos.stop()
        for sampler in samplers:
            sampler.stop()
        if profiler is not None:
            profiler.stop()
    if restarter.error or broker_chaos.error:
        raise RuntimeError(restarter.error or broker_chaos.error)
    server_totals = chaos.server_totals(restarter.segments(before_server, server.metrics()))
    # A Redis restart zeroes its command counters: the run's count is then unknown.
    commands: int | None = None
    commands_by_name: dict[str, int] | None = None
    if not broker_chaos.active:
        commands_by_name = dict(sorted((redis_command_counts(monitor) - before_commands).items()))
        commands = sum(commands_by_name.values())
    monitor.close()
    sampler = samplers[0]
    with open(raw_dir / "redis_clients_at_peak.txt", "w") as listing:
        for client in sampler.redis_clients_at_peak:
            listing.write(" ".join(f"{k}={client.get(k, '')}" for k in REDIS_CLIENT_FIELDS) + "\n")
    locust_cpu, busiest_process_cpu = sampler.locust_cpu_percent()

    account = deliveries.total_account(records)
    latencies = [latency for record in records for latency in record["latencies_ms"]]
    http_requests = server_totals["http_opened"]
    db_queries = server_totals["db_queries"]
    bytes_sent = server_totals["http_bytes_sent"] + server_totals["websocket_bytes_sent"]
    cpu_ms = server_totals["cpu_s"] * 1000
    failure = None
    if len(records) != scenario.clients:
        failure = f"only {len(records)} of {scenario.clients} clients reported their deliveries"
    elif not account.clean:
        failure = (
            f"lost {account.lost}, duplicated {account.duplicates} and reordered "
            f"{account.out_of_order} of {account.expected} deliveries"
        )
    elif account.deliveries == 0:
        failure = "no message was delivered"
    elif stored_duplicates(records):
        failure = f"{stored_duplicates(records)} re-sent messages were stored twice"
    return {
        "status": "failed" if failure else "ok",
        "failure": failure,
        "verify": verify,
        "scenario": scenario.name,
        "clients": scenario.clients,
        "duration_s": float(scenario.duration_s),
        "messages_sent": sum(int(record["sent"]) for record in records),
        "deliveries_expected": account.expected,
        "deliveries": account.deliveries,
        "in_flight": account.in_flight,
        "lost": account.lost,
        "duplicates": account.duplicates,
        "out_of_order": account.out_of_order,
        "http_requests": http_requests,
        "http_requests_per_client_per_min": rounded(
            metrics.per_client_per_minute(http_requests, scenario.clients, scenario.duration_s)
        ),
        "requests_per_delivery": rounded(metrics.ratio(http_requests, account.deliveries)),
        "bytes_sent": bytes_sent,
        "bytes_per_delivery": rounded(metrics.ratio(bytes_sent, account.deliveries)),
        "delivery_ms": metrics.latency_summary(latencies),
        "server_cpu_ms": round(cpu_ms, 1),
        "server_cpu_percent": round(cpu_ms / scenario.duration_s / 10, 1),
        "server_cpu_ms_per_delivery": rounded(metrics.ratio(cpu_ms, account.deliveries)),
        "redis_commands": commands,
        "redis_commands_by_name": commands_by_name,
        "redis_commands_per_delivery": None
        if commands is None
        else rounded(metrics.ratio(commands, account.deliveries)),
        "redis_clients_peak": sampler.redis_clients_peak,
        "db_queries": db_queries,
        "db_queries_per_delivery": rounded(metrics.ratio(db_queries, account.deliveries)),
        "db_queries_per_client_per_min": rounded(
            metrics.per_client_per_minute(db_queries, scenario.clients, scenario.duration_s)
        ),
        "redis_clients_by_command": sampler.redis_clients_by_command(),
        "server_rss_mb_peak": round(server_totals["max_rss_kb"] / 1024, 1),
        "locust_cpu_percent": None if locust_cpu is None else round(locust_cpu, 1),
        "locust_saturated": (busiest_process_cpu or 0.0) > LOCUST_SATURATED_PERCENT,
        "send_failures": sum(int(record.get("send_failures", 0)) for record in records),
        "reconnects": sum(int(record.get("reconnects", 0)) for record in records),
        "resends": sum(int(record.get("resends", 0)) for record in records),
        "stored_duplicates": stored_duplicates(records),
        "restarts": restarter.restarts,
        "broker_events": broker_chaos.events,
        "server_cpu_ms_per_request": rounded(metrics.ratio(cpu_ms, http_requests)),
        "hot_path": probe_hot_paths(key, server.url, config, raw_dir),
        "server_profile": profiler.output_name if profiler is not None else None,
        "timeline": timeline_window.collect(
            timeline_window.read_timeline(raw_dir), scenario.duration_s, scenario.drain_s
        ),
    }


def stored_duplicates(records: list[dict[str, Any]]) -> int:
    """Messages stored twice (the same benchmark text under two ids), over the run's rooms.

    Every client of a room reports its room's count, so each room is counted once.
    """
    by_room = {r["room"]: int(r.get("stored_duplicates") or 0) for r in records}
    return sum(by_room.values())


def failed_result(scenario: Scenario, verify: Verify | None, failure: str) -> StrategyResult:
    """A StrategyResult with every measurement null: never charted as if it were valid."""
    unknown: Verify = {
        "ok": False,
        "in_flight": None,
        "lost": None,
        "duplicates": None,
        "out_of_order": None,
        "deliveries": None,
    }
    result: dict[str, Any] = {
        "status": "failed",
        "failure": failure,
        "verify": verify or unknown,
        "scenario": scenario.name,
        "clients": scenario.clients,
        "duration_s": float(scenario.duration_s),
        **dict.fromkeys(MEASURED),
        "delivery_ms": metrics.latency_summary([]),
        "locust_saturated": False,
        "restarts": [],
    }
    return cast(StrategyResult, result)


def run_locust(
    key: str,
    scenario: Scenario,
    config: BenchConfig,
    server: ServerProcess,
    out_dir: Path,
    label: str,
    on_started: Any = None,
) -> list[dict[str, Any]]:
    """Run Locust headless as its own process(es); return the receivers' deliveries.jsonl lines."""
    from strategies import STRATEGIES

    user_class = STRATEGIES[key].locust_user.partition(":")[2]
    for stale in (deliveries.RECORDS_FILE, "clients.json", timeline.TIMELINE_FILE, STEPS_FILE):
        (out_dir / stale).unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUST_FILES,
        "--headless",
        "--only-summary",
        "--host",
        server.url,
        "--csv",
        str(out_dir / scenario.name),
        "--exit-code-on-error",
        "0",
    ]
    if config.processes > 0:
        # The forked workers reach their master on a free loopback port, not on Locust's
        # default *:5557: a second run (or anything else on 5557) would make the bind fail.
        port = str(free_port())
        command += ["--processes", str(config.processes), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    workers = LocustWorkers(config.locust_workers, free_port(), out_dir)
    if workers.count:
        command += master_arguments(workers.count, "127.0.0.1", workers.master_port)
    command.append(user_class)
    env = {
        **os.environ,
        **scenario.to_env(),
        DELIVERIES_DIR_ENV: str(out_dir),
        RUN_TAG_ENV: uuid.uuid4().hex[:10],
    }
    with open(out_dir / "locust.log", "ab") as log:
        process: subprocess.Popen[bytes] | None = None
        # The try starts before Locust does: a Ctrl-C held while it starts is delivered when
        # the block below ends, and must find the clean-up that kills Locust already armed.
        try:
            with stop_signals_blocked():  # a Ctrl-C now would leave Locust running unseen
                process = subprocess.Popen(
                    command,
                    cwd=PROJECT_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=unblock_stop_signals,
                )
                workers.start(PROJECT_DIR)
                if config.placement is not None:
                    for pid in (process.pid, *workers.pids):
                        config.placement.pin_load(pid)
            if on_started is not None:
                on_started(process.pid, *workers.pids)
            watch_progress(process, label, scenario.duration_s)
        finally:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            clean_exit = process is not None and process.returncode == 0
            workers.stop(timeout=15.0 if clean_exit else 0.0)
    if process.returncode != 0:
        raise LocustFailed(f"Locust exited with code {process.returncode} (see {log.name})")
    accounts = out_dir / deliveries.RECORDS_FILE
    if not accounts.exists():
        raise LocustFailed(f"Locust wrote no deliveries (see {log.name})")
    (out_dir / "clients.json").unlink(missing_ok=True)  # the users' shared numbering, done
    return deliveries.read_records(out_dir)


def watch_progress(process: subprocess.Popen[bytes], label: str, duration_s: float) -> None:
    """Wait for Locust, printing elapsed and remaining seconds; kill it if it overstays."""
    started = time.monotonic()
    next_report = started + PROGRESS_EVERY_S
    while process.poll() is None:
        now = time.monotonic()
        if now - started > duration_s + LOCUST_GRACE_S:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise LocustFailed(f"Locust ran {LOCUST_GRACE_S:.0f} s past its {duration_s:g} s")
        if now >= next_report:
            elapsed = now - started
            print(
                f"  {label}: {elapsed:.0f} s elapsed, {max(0.0, duration_s - elapsed):.0f} s left",
                flush=True,
            )
            next_report += PROGRESS_EVERY_S
        time.sleep(0.2)


def summary_table(summary: Summary) -> str:
    """The closing table: one row per scenario, strategy and client count."""

    def figure(name: str) -> tuple[str, Callable[[dict[str, Any]], Any]]:
        return FIGURES[name].short, partial(format_figure, name=name, missing="-")

    columns: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
        ("scenario", lambda r: r["scenario"]),
        ("strategy", lambda r: r["key"]),
        ("status", lambda r: r["status"]),
        figure("clients"),
        figure("deliveries"),
        ("flight/lost/dup/ooo", integrity_cell),
        *map(figure, ("delivery_ms.p50", "delivery_ms.p95", "http_requests_per_client_per_min",
                      "requests_per_delivery", "bytes_per_delivery", "server_cpu_ms_per_delivery",
                      "redis_commands_per_delivery", "redis_clients_peak",
                      "db_queries_per_client_per_min")),
        ("hot ms/unit", lambda r: hot_path_cell(r, "cpu_ms_per_unit")),
        ("x floor", lambda r: hot_path_cell(r, "ratio")),
        (
            "post ms",
            lambda r: ((r.get("framework_tax") or {}).get("post") or {}).get("cpu_ms_per_unit"),
        ),
        figure("locust_cpu_percent"),
    )  # fmt: skip
    rows = [[name for name, _ in columns]]
    results = [
        {**result, "key": key}
        for name, by_key in summary["scenarios"].items()
        if name != "sweep"
        for key, result in by_key.items()
    ]
    results += [{**r, "key": key} for key, steps in summary.get("sweep", {}).items() for r in steps]
    for result in results:
        row = [cell(read(result)) for _, read in columns]
        if result.get("locust_saturated"):
            row[-1] += "!"
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = [
        "  ".join(text.rjust(width) for text, width in zip(row, widths, strict=True))
        for row in rows
    ]
    if any(result.get("locust_saturated") for result in results):
        lines.append(
            f"! Locust used more than {LOCUST_SATURATED_PERCENT:.0f}% of a core: "
            "its numbers include its own queueing"
        )
    return "\n" + "\n".join(lines)


def integrity_cell(result: dict[str, Any]) -> str:
    """``in flight/lost/duplicates/out of order``; ``-`` for a figure the run did not record."""
    names = ("in_flight", "lost", "duplicates", "out_of_order")
    return "/".join("-" if result.get(name) is None else str(result[name]) for name in names)


def hot_path_cell(result: dict[str, Any], name: str) -> Any:
    """The strategy's own hot-path job's figure from ``framework_tax`` (None if not measured)."""
    tax = result.get("framework_tax") or {}
    job = (result.get("hot_path") or {}).get("job")
    return (tax.get(job) or {}).get(name) if job else None


def floor_table(floor: dict[str, Any]) -> str:
    """One line per floor job: what the bare-ASGI app spent per unit."""
    parts = []
    for job in hotpaths.JOBS:
        measured = floor.get(job) or {}
        value = measured.get("cpu_ms_per_unit")
        shown = "failed" if value is None else f"{value:.3g} ms/{measured.get('unit')}"
        parts.append(f"{job} {shown}")
    return f"floor ({floor.get('server')}): " + ", ".join(parts)


def idle_burst_line(measured: dict[str, Any]) -> str:
    """The idle-burst scenario in one line (or why it failed)."""
    if "failure" in measured:
        return f"idle-burst: failed ({measured['failure']})"
    burst = measured.get("burst_ms") or {}
    return (
        f"idle-burst ({measured.get('clients')} clients): idle CPU "
        f"{measured.get('idle_cpu_percent')} % of a core, {measured.get('rss_kb_per_client')} KB "
        f"per client, threads {measured.get('threads_before')} -> "
        f"{measured.get('threads_connected')}; burst {measured.get('burst_deliveries')}/"
        f"{measured.get('burst_expected')} delivered, p50 {burst.get('p50')} ms, "
        f"p95 {burst.get('p95')} ms, max {burst.get('max')} ms"
    )


def cell(value: Any) -> str:
    """A cell of the closing table: figures come formatted; the rest as they are."""
    return "-" if value is None else value if isinstance(value, str) else format_number(value)


def git_sha() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_DIR,
            text=True,
            capture_output=True,
            timeout=10,
            check=True,
        )
        return found.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    found["redis_server"] = redis_server_version()
    return found


def redis_server_version() -> str | None:
    """The bundled redis-server's version (``redis-server --version``)."""
    from lab.embedded_redis import redis_server_binary

    try:
        answer = subprocess.run(
            [redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for part in answer.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return None


HOT_PATH_SECONDS = float(os.environ.get("PUSHLAB_HOT_PATH_SECONDS") or 2.0)
"""Seconds each hot-path job runs (each job's ``seconds`` in hotpaths.json says what it ran).
``PUSHLAB_HOT_PATH_SECONDS`` shortens it for a run that checks the plumbing, not the figures:
the test suite's bench runs use 1 s."""


def run_hot_paths(url: str, jobs: list[str], config: BenchConfig) -> dict[str, Any]:
    """``python -m benchmarks.run.hotpaths`` on the load CPUs; its JSON (a failed job says so)."""
    command = [sys.executable, "-m", "benchmarks.run.hotpaths", "--url", url]
    command += ["--jobs", ",".join(jobs), "--seconds", str(HOT_PATH_SECONDS)]
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if config.placement is not None:
        config.placement.pin_load(process.pid)
    try:
        out, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    if process.returncode != 0:
        failure = f"hotpaths exited with {process.returncode}: {err.strip()[-300:]}"
        return {job: {"unit": hotpaths.UNITS.get(job), "failure": failure} for job in jobs}
    return dict(json.loads(out))


def probe_hot_paths(
    key: str, url: str, config: BenchConfig, raw_dir: Path
) -> dict[str, Any] | None:
    """After the timed run, on the same server: the strategy's own job (its registry row's
    ``hot_path_job``, the floor doing the same job) and a post job."""
    from strategies import STRATEGIES

    job = STRATEGIES[key].hot_path_job
    jobs = [job, "post"] if job else ["post"]
    measured = run_hot_paths(url, jobs, config)
    (raw_dir / "hotpaths.json").write_text(json.dumps(measured, indent=2) + "\n")
    return {"job": job, **measured}


def measure_floor(config: BenchConfig, raw_dir: Path) -> dict[str, Any]:
    """The bare-ASGI floor (``benchmarks.run.floor``) on the run's server program, every job."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        env={},
        server=config.server,
        app="benchmarks.run.floor:app",
        log_path=raw_dir / "server.log",
        cpus=set(config.placement.server_cpus) if config.placement else None,
    )
    try:
        server.start()
        jobs = run_hot_paths(server.url, list(hotpaths.JOBS), config)
    except (RuntimeError, OSError) as exc:
        jobs = {job: {"unit": hotpaths.UNITS[job], "failure": str(exc)} for job in hotpaths.JOBS}
    finally:
        server.stop()
    (raw_dir / "hotpaths.json").write_text(json.dumps(jobs, indent=2) + "\n")
    return {"server": config.server, "app": "benchmarks.run.floor:app", **jobs}


def add_framework_tax(result: StrategyResult, floor: dict[str, Any]) -> None:
    """``result["framework_tax"]``: the strategy's CPU per unit over the floor's, per job."""
    hot = result.get("hot_path") or {}
    tax: dict[str, Any] = {}
    for job in (hot.get("job"), "post"):
        if job is None:
            continue
        mine = (hot.get(job) or {}).get("cpu_ms_per_unit")
        least = (floor.get(job) or {}).get("cpu_ms_per_unit")
        tax[job] = {
            "unit": hotpaths.UNITS[job],
            "cpu_ms_per_unit": mine,
            "floor_cpu_ms_per_unit": least,
            "ratio": rounded(metrics.ratio(mine, least)) if mine and least else None,
        }
    result["framework_tax"] = tax or None


class ServerProfiler:
    """``py-spy record`` of the server during the timed run, written as speedscope JSON.

    Sampling costs the server a little CPU (py-spy reads its memory from outside; with
    ``--nonblocking`` it never pauses it): compare profiled runs with profiled runs.
    """

    output_name = "server-profile.speedscope.json"

    def __init__(self, pid: int, raw_dir: Path) -> None:
        self.pid = pid
        self.path = raw_dir / self.output_name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, duration_s: float) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        command = [py_spy, "record", "--pid", str(self.pid), "--rate", "200"]
        command += ["--duration", str(int(duration_s) + 5), "--nonblocking"]
        command += ["--format", "speedscope", "--output", str(self.path)]
        log = open(self.path.with_name("server-profile.log"), "wb")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            log.write(f"py-spy could not start: {exc}\n".encode())
        finally:
            log.close()

    def stop(self) -> None:
        """py-spy writes its file on SIGINT; wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure_idle_burst(config: BenchConfig, raw_dir: Path) -> dict[str, Any]:
    """The ``idle-burst`` scenario: one server publishing to long polling and WebSockets,
    ``benchmarks.run.hotpaths``' idle-burst job against it (idle CPU, memory and threads per
    client, then one message to each room and its delivery times)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pushlab-bench-db-") as var_dir:
        redis_server = start_embedded_redis()
        server: ServerProcess | None = None
        try:
            if config.placement is not None:
                config.placement.pin_load(redis_server.process.pid)
            server = ServerProcess(
                env={
                    "REDIS_URL": redis_server.url,
                    "PUSHLAB_VAR_DIR": var_dir,
                    "DATABASE_URL": "",
                    "PUSHLAB_PUBLISH_ONLY": "long-polling,websocket",
                    "PUSHLAB_CHANNEL_LAYER": config.layer,
                },
                server=config.server,
                log_path=raw_dir / "server.log",
                cpus=set(config.placement.server_cpus) if config.placement else None,
            )
            server.start()
            measured = run_hot_paths(server.url, ["idle-burst"], config)["idle-burst"]
        except (RuntimeError, OSError) as exc:
            measured = {"failure": f"{type(exc).__name__}: {exc}"}
        finally:
            if server is not None:
                server.stop()
            redis_server.stop()
    (raw_dir / "hotpaths.json").write_text(json.dumps(measured, indent=2) + "\n")
    return {"server": config.server, "layer": config.layer, **measured}
