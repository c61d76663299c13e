"""``pushlab bench``: measure every strategy under each scenario and write results/<run-id>/.

For each scenario and strategy: a fresh private Redis and a fresh SQLite
directory, one ``pushlab serve`` process, then a short verify run that must
deliver every message, then the timed Locust run (its own process or
processes), with the server's and Redis's counters read around it
(``benchmarks/run/locust_run.py``). Locust is never imported here: it patches the process
it runs in with gevent.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import redis

from benchmarks.load import deliveries
from benchmarks.results.summary import (
    FIGURES,
    Config,
    StrategyResult,
    Summary,
    Verify,
    format_figure,
    format_number,
    rounded,
    save,
)
from benchmarks.run import capacity, hotpaths, metrics
from benchmarks.run.bench_config import BenchConfig, StrategyRun, cpu_placement
from benchmarks.run.locust_run import (
    LOCUST_SATURATED_PERCENT,
    LocustFailed,
    failed_result,
    run_hot_paths,
    run_locust,
    timed_run,
)
from benchmarks.run.scenarios import (
    IDLE_BURST,
    PROFILES,
    VERIFY,
    Scenario,
    profile_runs,
)
from lab.embedded_redis import EmbeddedRedis, start_embedded_redis
from lab.open_files import raise_open_files_limit
from lab.serverproc import ServerProcess

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCHMARKS_DIR.parent
RUN_OVERHEAD_S = 8.0
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


def default_strategies(profile: str) -> tuple[str, ...]:
    """Every registered strategy; the quick profile leaves out those whose row says so
    (``Strategy.in_quick_profile``), so ``make bench`` stays near three minutes."""
    from strategies import STRATEGIES

    return tuple(
        key
        for key, strategy in STRATEGIES.items()
        if profile != "quick" or strategy.in_quick_profile
    )


class BenchArgumentsError(ValueError):
    """``pushlab bench`` was asked for what it cannot do: it says why and exits with 2."""


def run_bench(args: argparse.Namespace) -> int:
    """Entry point of ``pushlab bench``; 0 when every strategy delivered every message."""
    try:
        config = config_from(args)
    except BenchArgumentsError as exc:
        print(f"pushlab bench: {exc}", file=sys.stderr)
        return 2
    raise_open_files_limit()
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{config.profile}"
    run_dir = config.out / run_id
    started = time.monotonic()
    count = len(strategy_runs(config)) + sum(name == IDLE_BURST.name for name, _ in config.runs)
    print(
        f"pushlab bench: {count} runs ({config.profile} profile, "
        f"{config.server}, {config.layer} layer), writing {run_dir}",
        flush=True,
    )
    summary = measure_everything(config, run_id, run_dir)
    latest = save_and_draw(summary, run_dir, config.out / "latest")
    print(summary_table(summary))
    print(floor_table(summary["floor"]))
    if "idle_burst" in summary:
        print(idle_burst_line(summary["idle_burst"]))
    print(
        f"\n{summary['status']}: {run_dir} (also {latest}) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0 if summary["status"] == "ok" else 1


def config_from(args: argparse.Namespace) -> BenchConfig:
    """The run ``pushlab bench``'s arguments ask for, or ``BenchArgumentsError``."""
    if args.processes and args.locust_workers:
        raise BenchArgumentsError("use --processes or --locust-workers, not both")
    profile = PROFILES[args.profile]
    return BenchConfig(
        profile=profile.name,
        strategies=chosen_strategies(args.strategies, args.profile),
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


def chosen_strategies(named: str, profile: str) -> tuple[str, ...]:
    """``--strategies``' keys, each registered, or the profile's (saying which it leaves out)."""
    from strategies import STRATEGIES

    keys = tuple(key.strip() for key in named.split(",") if key.strip())
    unknown = [key for key in keys if key not in STRATEGIES]
    if unknown:
        raise BenchArgumentsError(
            f"unknown strategy {', '.join(unknown)}; known: {', '.join(STRATEGIES)}"
        )
    if keys:
        return keys
    keys = default_strategies(profile)
    if left := [key for key in STRATEGIES if key not in keys]:
        print(
            f"pushlab bench: the {profile} profile leaves {', '.join(left)} to "
            "--profile full (or name it in --strategies)",
            flush=True,
        )
    return keys


def save_and_draw(summary: Summary, run_dir: Path, latest: Path) -> Path:
    """summary.json, then the charts and report.md beside it, all copied to ``latest``."""
    save(summary, run_dir)
    draw_report(run_dir)
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(run_dir, latest)
    return latest


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
    """The floor, then every strategy under every scenario, then the idle burst: the summary."""
    print(f"floor: the bare-ASGI app on {config.server}, {len(hotpaths.JOBS)} jobs", flush=True)
    floor = measure_floor(config, run_dir / "raw" / "floor")
    scenarios, sweep = measure_strategies(config, run_dir)
    main_name = main_scenario(config)
    summary: Summary = {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "machine": machine(),
        "versions": versions(),
        "config": summary_config(config, main_name),
        "status": "ok",
        "strategies": scenarios.get(main_name, {}),
        "scenarios": scenarios,
        "floor": floor,
    }
    if any(name == IDLE_BURST.name for name, _ in config.runs):
        print(f"{IDLE_BURST.name}: {IDLE_BURST.clients} idle clients, then a burst", flush=True)
        summary["idle_burst"] = measure_idle_burst(config, run_dir / "raw" / IDLE_BURST.name)
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


def strategy_runs(config: BenchConfig) -> list[tuple[str, Scenario, str]]:
    """Each (scenario name, scenario, strategy key) measured on a server of its own, in order
    (the idle burst measures its strategies together: not among them)."""
    return [
        (name, scenario, key)
        for name, scenario in config.runs
        if name != IDLE_BURST.name
        for key in config.strategies
        if not scenario.only_strategies or key in scenario.only_strategies
    ]


def measure_strategies(
    config: BenchConfig, run_dir: Path
) -> tuple[dict[str, dict[str, StrategyResult]], dict[str, list[StrategyResult]]]:
    """Every strategy run, with progress lines: the results by scenario and strategy (the
    sweep's largest step there), and the sweep's steps by strategy."""
    scenarios: dict[str, dict[str, StrategyResult]] = {}
    sweep: dict[str, list[StrategyResult]] = {}
    plan = strategy_runs(config)
    for number, (name, scenario, key) in enumerate(plan, start=1):
        raw_dir = run_dir / "raw" / name / key
        if name == "sweep":
            raw_dir /= f"{scenario.clients}-clients"
        clients = (
            f"up to {capacity.largest_step(config)}"
            if capacity.is_capacity(scenario)
            else str(scenario.clients)
        )
        label = f"[{number}/{len(plan)}] {name} {key} ({clients} clients)"
        left_s = sum(planned_seconds(later, config) for _, later, _ in plan[number - 1 :])
        print(f"{label}: starting; about {left_s / 60:.1f} min left in all", flush=True)
        result = measure_strategy(key, scenario, config, raw_dir, label)
        result["server"] = scenario.server or config.server
        result["layer"] = scenario.layer or config.layer
        failure = f" ({result['failure']})" if result["failure"] else ""
        print(f"{label}: {result['status']}{failure}", flush=True)
        if name == "sweep":
            sweep.setdefault(key, []).append(result)
        scenarios.setdefault(name, {})[key] = result  # the sweep keeps its largest
    return scenarios, sweep


def main_scenario(config: BenchConfig) -> str:
    """The scenario the charts show: chat, unless ``--scenarios`` left it out (then the first
    that measures strategies one by one, or the first of all)."""
    names = [name for name, _ in config.runs]
    per_strategy = [name for name in names if name != IDLE_BURST.name]
    return "chat" if "chat" in names else (per_strategy or names)[0]


def summary_config(config: BenchConfig, main_name: str) -> Config:
    """summary.json's ``config``: what was asked, the main scenario's shape, where it ran."""
    main = next(scenario for name, scenario in config.runs if name == main_name)
    return {
        "profile": config.profile,
        "scenario": main_name,
        "scenarios": list(dict.fromkeys(name for name, _ in config.runs)),
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
    }


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
                    # Likewise every client mints its session from 127.0.0.1.
                    "PUSHLAB_SESSION_MINT_BURST": "0",
                    **(capacity.server_bounds(config) if capacity.is_capacity(scenario) else {}),
                },
                server=scenario.server or config.server,
                log_path=raw_dir / "server.log",
                cpus=set(config.placement.server_cpus) if config.placement else None,
            )
            server.start()  # assigned first, so a Ctrl-C while it starts still stops it
            run = StrategyRun(key, scenario, config, server, redis_server, raw_dir, label)
            verify = verify_strategy(run)
            if not verify["ok"]:
                return failed_result(
                    scenario,
                    verify,
                    "the verify step did not deliver every message exactly once and in order",
                )
            measure = capacity.measure_steps if capacity.is_capacity(scenario) else timed_run
            return measure(run, verify)
        except (LocustFailed, RuntimeError, OSError, redis.RedisError) as exc:
            return failed_result(scenario, verify, f"{type(exc).__name__}: {exc}")
        finally:
            if server is not None:
                server.stop()
            if redis_server is not None:
                redis_server.stop()


def verify_strategy(run: StrategyRun) -> Verify:
    """A few clients in one room; every one must get every message once, in order, within
    the drain window (at this light load a message still in flight fails the check too)."""
    verify_dir = run.raw_dir / "verify"
    verify_dir.mkdir(parents=True, exist_ok=True)
    records = run_locust(
        replace(run, scenario=VERIFY, raw_dir=verify_dir, label=f"{run.label} verify")
    )
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
                    "PUSHLAB_SESSION_MINT_BURST": "0",  # every client on 127.0.0.1
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
