"""One strategy's measured Locust run on its own server (``timed_run``): Locust started as its
own process(es) and watched, the server's and Redis's counters read around it, the
receivers' accounts added up into a ``StrategyResult``, and the hot-path jobs probed on the
same server after it. The runner calls it for each scenario; the capacity climb
(``benchmarks/run/capacity.py``) for each climb. Locust is never imported here: it patches
the process it runs in with gevent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from benchmarks.load import deliveries, timeline
from benchmarks.results.summary import MEASURED, StrategyResult, Verify, rounded
from benchmarks.run import chaos, hotpaths, metrics, timeline_window
from benchmarks.run.bench_config import BenchConfig, StrategyRun
from benchmarks.run.locust_workers import LOCUST_FILES, LocustWorkers, master_arguments
from benchmarks.run.probes import LoadSampler, redis_command_counts
from benchmarks.run.scenarios import DELIVERIES_DIR_ENV, RUN_TAG_ENV, STEPS_FILE, Scenario
from lab.serverproc import free_port
from lab.stopping import stop_signals_blocked, unblock_stop_signals

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
LOCUST_SATURATED_PERCENT = 90.0
LOCUST_GRACE_S = 60.0
"""How long Locust may overrun the scenario (start-up, accounting) before it is killed."""
PROGRESS_EVERY_S = 5.0
STEADY_FROM_S = 5.0
"""Seconds after Locust's launch when every client is connected (imports ~2 s, spawning ~2 s)."""
REDIS_CLIENT_FIELDS = ("id", "age", "idle", "cmd", "psub", "sub", "name", "lib-name")


class LocustFailed(RuntimeError):
    """Locust crashed, hung or wrote no deliveries: the strategy's run cannot be trusted."""


def run_locust(
    run: StrategyRun, on_started: Callable[..., None] | None = None
) -> list[dict[str, Any]]:
    """Run Locust headless as its own process(es); return the receivers' deliveries.jsonl lines.

    ``on_started`` is given Locust's process ids once they run (pinned to the load CPUs)."""
    scenario, config, out_dir = run.scenario, run.config, run.raw_dir
    for stale in (deliveries.RECORDS_FILE, "clients.json", timeline.TIMELINE_FILE, STEPS_FILE):
        (out_dir / stale).unlink(missing_ok=True)
    workers = LocustWorkers(config.locust_workers, free_port(), out_dir)
    command = locust_command(run, workers)
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
            watch_progress(process, run.label, scenario.duration_s)
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


def locust_command(run: StrategyRun, workers: LocustWorkers) -> list[str]:
    """Locust's command line: headless, the strategy's user class (named by its registry row)
    against the run's server, CSVs beside the run's files, as one process, a master with
    ``--processes`` forked workers, or a master for ``workers``."""
    from strategies import STRATEGIES

    command = [sys.executable, "-m", "locust", "-f", LOCUST_FILES, "--headless", "--only-summary"]
    command += ["--host", run.server.url, "--csv", str(run.raw_dir / run.scenario.name)]
    command += ["--exit-code-on-error", "0"]
    if run.config.processes > 0:
        # The forked workers reach their master on a free loopback port, not on Locust's
        # default *:5557: a second run (or anything else on 5557) would make the bind fail.
        port = str(free_port())
        command += ["--processes", str(run.config.processes), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    if workers.count:
        command += master_arguments(workers.count, "127.0.0.1", workers.master_port)
    return [*command, STRATEGIES[run.key].locust_user.partition(":")[2]]


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


def timed_run(
    run: StrategyRun, verify: Verify, watch_load: Callable[..., None] | None = None
) -> StrategyResult:
    """The measured Locust run, with server and Redis counters diffed around it.

    ``watch_load`` is given Locust's process ids once it started (the capacity climb
    samples them)."""
    monitor = redis.Redis(unix_socket_path=str(run.redis_server.socket_path))
    try:
        before = Counters.read(run, monitor)
        beside = Beside.around(run, monitor, watch_load)
        try:
            records = run_locust(run, beside.locust_started)
        finally:
            beside.stop()
        if beside.error:
            raise RuntimeError(beside.error)
        costs = before.growth(Counters.read(run, monitor), beside)
    finally:
        monitor.close()
    beside.write_redis_clients_at_peak(run.raw_dir / "redis_clients_at_peak.txt")
    return measured_result(run, verify, records, costs, beside)


@dataclass(frozen=True)
class Counters:
    """The server's ``/api/metrics`` and Redis's command counts, read once."""

    server: chaos.Metrics
    redis_commands: Counter[str]

    @classmethod
    def read(cls, run: StrategyRun, monitor: redis.Redis) -> Counters:
        return cls(run.server.metrics(), redis_command_counts(monitor))

    def growth(self, after: Counters, beside: Beside) -> Costs:
        """What the run spent between this read and ``after``: the server's totals over each
        of its processes (a chaos restart starts one anew), and Redis's commands by name
        unless a Redis restart zeroed its counters (then the run's count is unknown)."""
        segments = beside.restarter.segments(self.server, after.server)
        by_name = None
        if not beside.broker_chaos.active:
            by_name = dict(sorted((after.redis_commands - self.redis_commands).items()))
        return Costs(chaos.server_totals(segments), by_name)


@dataclass(frozen=True)
class Costs:
    """What the server and Redis spent on a run."""

    server: chaos.Metrics
    """``chaos.server_totals``: HTTP requests, bytes, database queries, CPU, peak memory."""
    redis_commands_by_name: dict[str, int] | None

    @property
    def redis_commands(self) -> int | None:
        by_name = self.redis_commands_by_name
        return None if by_name is None else sum(by_name.values())


@dataclass
class Beside:
    """What runs beside Locust in a timed run: the load samplers (Redis's clients, Locust's
    CPU), the scenario's chaos (server restarts, Redis restarts and stalls), the optional
    py-spy profile of the server, and the caller's ``watch_load``. Everything starts once
    Locust has (``locust_started``), the profile at once."""

    run: StrategyRun
    monitor: redis.Redis
    watch_load: Callable[..., None] | None
    restarter: chaos.ServerRestarter
    broker_chaos: chaos.BrokerChaos
    profiler: ServerProfiler | None
    samplers: list[LoadSampler] = field(default_factory=list)

    @classmethod
    def around(
        cls, run: StrategyRun, monitor: redis.Redis, watch_load: Callable[..., None] | None
    ) -> Beside:
        scenario, clients_file = run.scenario, run.raw_dir / "clients.json"
        broker_chaos = chaos.BrokerChaos(
            run.redis_server,
            scenario.redis_restart_at_s,
            scenario.redis_stall_at_s,
            scenario.redis_stall_s,
            clients_file,
        )
        profiler = None
        if run.config.profile_server:
            profiler = ServerProfiler(run.server.pid, run.raw_dir)
            profiler.start(scenario.duration_s)
        return cls(
            run=run,
            monitor=monitor,
            watch_load=watch_load,
            restarter=chaos.ServerRestarter(run.server, scenario.restarts_at_s, clients_file),
            broker_chaos=broker_chaos,
            profiler=profiler,
        )

    def locust_started(self, locust_pid: int, *worker_pids: int) -> None:
        duration_s = self.run.scenario.duration_s
        window = (min(STEADY_FROM_S, duration_s / 2), duration_s)
        self.samplers.append(LoadSampler(self.monitor, locust_pid, window, worker_pids).start())
        if self.watch_load is not None:
            self.watch_load(locust_pid, *worker_pids)
        self.restarter.start()
        self.broker_chaos.start()

    def stop(self) -> None:
        self.restarter.stop()
        self.broker_chaos.stop()
        for sampler in self.samplers:
            sampler.stop()
        if self.profiler is not None:
            self.profiler.stop()

    @property
    def error(self) -> str | None:
        """Why a restart or a Redis stall failed, if one did: the run cannot be trusted."""
        return self.restarter.error or self.broker_chaos.error

    @property
    def sampler(self) -> LoadSampler:
        return self.samplers[0]

    def write_redis_clients_at_peak(self, path: Path) -> None:
        with open(path, "w") as listing:
            for client in self.sampler.redis_clients_at_peak:
                fields = (f"{k}={client.get(k, '')}" for k in REDIS_CLIENT_FIELDS)
                listing.write(" ".join(fields) + "\n")


def measured_result(
    run: StrategyRun,
    verify: Verify,
    records: list[dict[str, Any]],
    costs: Costs,
    beside: Beside,
) -> StrategyResult:
    """The run's ``StrategyResult``: its verdict, then its figures, group by group."""
    scenario, account = run.scenario, deliveries.total_account(records)
    failure = run_failure(scenario, records, account)
    result: dict[str, Any] = {
        "status": "failed" if failure else "ok",
        "failure": failure,
        "verify": verify,
        "scenario": scenario.name,
        "clients": scenario.clients,
        "duration_s": float(scenario.duration_s),
        **delivery_figures(records, account),
        **server_figures(scenario, costs.server, account),
        **redis_figures(costs, account, beside.sampler),
        **load_figures(beside.sampler),
        "restarts": beside.restarter.restarts,
        "broker_events": beside.broker_chaos.events,
        "hot_path": probe_hot_paths(run),
        "server_profile": beside.profiler.output_name if beside.profiler is not None else None,
        "timeline": timeline_window.collect(
            timeline_window.read_timeline(run.raw_dir), scenario.duration_s, scenario.drain_s
        ),
    }
    return cast(StrategyResult, result)


def run_failure(
    scenario: Scenario, records: list[dict[str, Any]], account: deliveries.DeliveryAccount
) -> str | None:
    """Why the run cannot be charted as a measurement (None: it can)."""
    if len(records) != scenario.clients:
        return f"only {len(records)} of {scenario.clients} clients reported their deliveries"
    if not account.clean:
        return (
            f"lost {account.lost}, duplicated {account.duplicates} and reordered "
            f"{account.out_of_order} of {account.expected} deliveries"
        )
    if account.deliveries == 0:
        return "no message was delivered"
    if stored_duplicates(records):
        return f"{stored_duplicates(records)} re-sent messages were stored twice"
    return None


def delivery_figures(
    records: list[dict[str, Any]], account: deliveries.DeliveryAccount
) -> dict[str, Any]:
    """What the clients sent and got, from their records."""
    latencies = [latency for record in records for latency in record["latencies_ms"]]

    def total(name: str) -> int:
        return sum(int(record.get(name, 0)) for record in records)

    return {
        "messages_sent": total("sent"),
        "deliveries_expected": account.expected,
        "deliveries": account.deliveries,
        "in_flight": account.in_flight,
        "lost": account.lost,
        "duplicates": account.duplicates,
        "out_of_order": account.out_of_order,
        "delivery_ms": metrics.latency_summary(latencies),
        "send_failures": total("send_failures"),
        "reconnects": total("reconnects"),
        "resends": total("resends"),
        "stored_duplicates": stored_duplicates(records),
    }


def server_figures(
    scenario: Scenario, totals: chaos.Metrics, account: deliveries.DeliveryAccount
) -> dict[str, Any]:
    """What the server spent: requests, bytes, CPU, queries and memory, also per delivery and
    per client and minute."""
    clients, duration_s, delivered = scenario.clients, scenario.duration_s, account.deliveries
    requests, queries = totals["http_opened"], totals["db_queries"]
    bytes_sent = totals["http_bytes_sent"] + totals["websocket_bytes_sent"]
    cpu_ms = totals["cpu_s"] * 1000
    return {
        "http_requests": requests,
        "http_requests_per_client_per_min": rounded(
            metrics.per_client_per_minute(requests, clients, duration_s)
        ),
        "requests_per_delivery": rounded(metrics.ratio(requests, delivered)),
        "bytes_sent": bytes_sent,
        "bytes_per_delivery": rounded(metrics.ratio(bytes_sent, delivered)),
        "server_cpu_ms": round(cpu_ms, 1),
        "server_cpu_percent": round(cpu_ms / duration_s / 10, 1),
        "server_cpu_ms_per_delivery": rounded(metrics.ratio(cpu_ms, delivered)),
        "server_cpu_ms_per_request": rounded(metrics.ratio(cpu_ms, requests)),
        "db_queries": queries,
        "db_queries_per_delivery": rounded(metrics.ratio(queries, delivered)),
        "db_queries_per_client_per_min": rounded(
            metrics.per_client_per_minute(queries, clients, duration_s)
        ),
        "server_rss_mb_peak": round(totals["max_rss_kb"] / 1024, 1),
    }


def redis_figures(
    costs: Costs, account: deliveries.DeliveryAccount, sampler: LoadSampler
) -> dict[str, Any]:
    """Redis's commands (None after a Redis restart) and the clients connected to it."""
    commands = costs.redis_commands
    return {
        "redis_commands": commands,
        "redis_commands_by_name": costs.redis_commands_by_name,
        "redis_commands_per_delivery": None
        if commands is None
        else rounded(metrics.ratio(commands, account.deliveries)),
        "redis_clients_peak": sampler.redis_clients_peak,
        "redis_clients_by_command": sampler.redis_clients_by_command(),
    }


def load_figures(sampler: LoadSampler) -> dict[str, Any]:
    """Locust's own CPU, and whether a Locust process saturated its core (then its latencies
    include its own queueing)."""
    locust_cpu, busiest_process_cpu = sampler.locust_cpu_percent()
    return {
        "locust_cpu_percent": None if locust_cpu is None else round(locust_cpu, 1),
        "locust_saturated": (busiest_process_cpu or 0.0) > LOCUST_SATURATED_PERCENT,
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


def probe_hot_paths(run: StrategyRun) -> dict[str, Any] | None:
    """After the timed run, on the same server: the strategy's own job (its registry row's
    ``hot_path_job``, the floor doing the same job) and a post job."""
    from strategies import STRATEGIES

    job = STRATEGIES[run.key].hot_path_job
    jobs = [job, "post"] if job else ["post"]
    measured = run_hot_paths(run.server.url, jobs, run.config)
    (run.raw_dir / "hotpaths.json").write_text(json.dumps(measured, indent=2) + "\n")
    return {"job": job, **measured}
