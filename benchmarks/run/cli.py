"""``pushlab bench``, ``pushlab charts`` and ``pushlab locust-worker``: their arguments, and
running them. ``lab/cli.py`` hands its subcommands here (kept apart from the web app).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.run.bench_config import DEFAULT_HOLD_S, DEFAULT_MAX_CLIENTS
from benchmarks.run.scenarios import (
    CAPACITY_STEPS,
    CHAT,
    LAYERS,
    PROFILES,
    SCENARIOS,
    SERVERS,
    SWEEP_CLIENTS,
)

MIN_DURATION_S = CHAT.drain_s + 1
"""Senders stop ``drain_s`` before the end, so a shorter run would send nothing."""


def whole_number(low: int) -> Callable[[str], int]:
    """An argparse type: an int of at least ``low``, refused with a clear message otherwise."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    parse.__name__ = "whole number"  # argparse names it in "invalid whole number value"
    return parse


def seconds(text: str) -> float:
    value = float(text)
    if not MIN_DURATION_S <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least {MIN_DURATION_S:g} seconds")
    return value


def client_counts(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated client counts, each at least 1."""
    counts = tuple(whole_number(1)(part.strip()) for part in text.split(",") if part.strip())
    if not counts:
        raise argparse.ArgumentTypeError("give at least one client count")
    return counts


def scenario_names(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated names from ``SCENARIOS``, in the order given."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown) or repr(text)}; known: {', '.join(SCENARIOS)}"
        )
    return names


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """``pushlab bench``'s options: what to measure, the capacity scenario's steps, and how
    the server and Locust run."""
    add_what_to_measure(parser)
    add_capacity_arguments(parser)
    add_how_it_runs(parser)


def add_what_to_measure(parser: argparse.ArgumentParser) -> None:
    quick, full = PROFILES["quick"], PROFILES["full"]
    parser.add_argument(
        "--profile", choices=list(PROFILES), default="quick",
        help=f"quick: the chat scenario, {quick.chat_clients} clients, "
        f"{quick.chat_duration_s:g} s per strategy (~3 min); full: {', '.join(full.scenarios)} "
        f"(sweep: {', '.join(map(str, SWEEP_CLIENTS))} clients; capacity: at most 28 min; "
        "about an hour in all on 2 cores) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--scenarios", type=scenario_names, default=None, metavar="NAME,...",
        help=f"run these scenarios instead of the profile's ({', '.join(SCENARIOS)}; "
        "chaos restarts the server mid-run)",
    )  # fmt: skip
    parser.add_argument(
        "--strategies", default="", metavar="KEY,...",
        help="comma-separated strategy keys (default: every registered strategy; the quick "
        "profile leaves out those marked full-only, e.g. naive-long-polling)",
    )  # fmt: skip
    parser.add_argument(
        "--clients", type=whole_number(1), default=None, metavar="N",
        help="clients of the chat scenario (default: the profile's)",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=seconds, default=None, metavar="S",
        help="seconds of load per scenario and strategy (default: the profile's)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default="results", metavar="DIR",
        help="writes DIR/<run-id>/ and replaces DIR/latest/ (default: %(default)s)",
    )  # fmt: skip


def add_capacity_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capacity-hold", type=seconds, default=DEFAULT_HOLD_S, metavar="S",
        help="capacity scenario: seconds each step holds its clients, after they joined "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-max", type=whole_number(1), default=DEFAULT_MAX_CLIENTS, metavar="N",
        help=f"capacity scenario: the largest step ({', '.join(map(str, CAPACITY_STEPS))}, "
        "up to N; default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-steps", type=client_counts, default=(), metavar="N,...",
        help="capacity scenario: these client counts instead of the standard steps",
    )  # fmt: skip


def add_how_it_runs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--processes", type=whole_number(0), default=0, metavar="N",
        help="run Locust as a master with N worker processes (default: 0, one process)",
    )  # fmt: skip
    parser.add_argument(
        "--locust-workers", type=whole_number(0), default=0, metavar="N",
        help="run Locust as a master and N separate worker processes joined over TCP on "
        "127.0.0.1, as workers on other machines would (default: 0, no master)",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=SERVERS, default="uvicorn",
        help="the ASGI server under test, the same for every strategy and the floor "
        "(default: %(default)s, the leaner one; daphne is the lecture's: docs/decisions.md)",
    )  # fmt: skip
    parser.add_argument(
        "--layer", choices=LAYERS, default="pubsub",
        help="the channel layer carrying WebSocket messages: redis (RedisChannelLayer) or "
        "pubsub (RedisPubSubChannelLayer) (default: %(default)s, the leaner one; redis is the "
        "lecture's)",
    )  # fmt: skip
    parser.add_argument(
        "--profile-server", action="store_true",
        help="record a py-spy profile of the server during each timed run, written to "
        "raw/<scenario>/<strategy>/server-profile.speedscope.json",
    )  # fmt: skip


def add_charts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a results/<run-id>/ directory")
    parser.add_argument(
        "--lang", choices=["en", "ru"], default="en",
        help="labels' language; ru writes RESULTS_DIR/charts/ru/, not report.md (default: en)",
    )  # fmt: skip


def add_locust_worker_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.run.locust_workers import DEFAULT_MASTER_PORT

    parser.add_argument(
        "--master-host", required=True, metavar="ADDRESS",
        help="the machine running the Locust master",
    )  # fmt: skip
    parser.add_argument(
        "--master-port", type=whole_number(1), default=DEFAULT_MASTER_PORT, metavar="PORT",
        help="the master's --master-bind-port (default: %(default)s)",
    )  # fmt: skip


def add_benchmark_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The benchmark's subcommands of ``pushlab``."""
    add_bench_arguments(
        commands.add_parser(
            "bench",
            help="measure every strategy and write results/<run-id>/",
            description="For each scenario and strategy: a fresh Redis, SQLite database and "
            "server process, a verify step that must deliver every message, then Locust "
            "headless. Writes DIR/<run-id>/ (summary.json, raw/, charts/, report.md), copies it "
            "to DIR/latest/ and prints a summary table.",
        )
    )
    add_charts_arguments(
        commands.add_parser("charts", help="redraw charts and report.md from saved results")
    )
    add_locust_worker_arguments(
        commands.add_parser(
            "locust-worker",
            help="a Locust worker for a master on another machine, run after run",
            description="Joins the Locust master at --master-host (a `locust -f "
            "benchmarks/load/locustfile.py --master --host <server-url>`) for one run after "
            "another until Ctrl-C. The run's scenario and the server's URL (the master's "
            "--host) come from the master; each client's delivery record goes back to it.",
        )
    )


def run_benchmark_command(args: argparse.Namespace) -> int:
    """Run the ``bench``, ``locust-worker`` or ``charts`` command ``args`` names; its exit code."""
    if args.command == "bench":
        from benchmarks.run.runner import run_bench

        try:
            return run_bench(args)
        except KeyboardInterrupt:  # every server, Redis and Locust it started is stopped by now
            print("pushlab bench: interrupted", file=sys.stderr, flush=True)
            return 130
    if args.command == "locust-worker":
        from benchmarks.run.locust_workers import serve_master_forever

        return serve_master_forever(args.master_host, args.master_port)
    from benchmarks.report.markdown import redraw

    return redraw(Path(args.results_dir), args.lang)
