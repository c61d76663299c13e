"""Arguments of ``pushlab bench`` and ``pushlab charts`` (kept apart from the web app)."""

from __future__ import annotations

import argparse


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=["quick", "full"],
        default="quick",
        help="quick: chat scenario, ~3 min; full: every scenario (default: %(default)s)",
    )
    parser.add_argument(
        "--strategies",
        default="",
        help="comma-separated strategy keys (default: every registered strategy)",
    )
    parser.add_argument(
        "--clients", type=int, default=None,
        help="clients of the chat scenario (default: the profile's, 20 quick, 40 full)",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=float, default=None,
        help="seconds of load per scenario and strategy (default: the profile's; quick 30)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default="results",
        help="writes OUT/<run-id>/ and replaces OUT/latest/ (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=0, metavar="N",
        help="run Locust as a master with N worker processes (default: one process)",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=["daphne", "uvicorn"], default="daphne",
        help="the ASGI server under test, the same for every strategy (default: %(default)s)",
    )  # fmt: skip


def add_charts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a results/<run-id>/ directory")
