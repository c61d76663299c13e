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
    parser.add_argument("--clients", type=int, default=None, help="clients per strategy")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per run")
    parser.add_argument("--out", default="results", help="results directory (default: %(default)s)")


def add_charts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a results/<run-id>/ directory")
