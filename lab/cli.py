"""The ``pushlab`` command: serve the site, run the benchmarks, redraw charts."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def setup_django() -> None:
    """Configure Django (this starts the embedded Redis unless REDIS_URL is set)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()


SITE_APP = "lab.asgi:application"
SERVERS = ("daphne", "uvicorn")
LAYERS = ("redis", "pubsub")
DEFAULT_LAYER = "redis"


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit (children inherit it): each
    idle client holds a file descriptor, and the usual soft limit of 1024 is too few."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
    return soft


def serve(
    host: str,
    port: int,
    server: str,
    migrate: bool = True,
    layer: str | None = None,
    app: str = SITE_APP,
) -> None:
    """Apply migrations, then run the ASGI site in this process until Ctrl-C or SIGTERM.

    ``app`` other than the site (``benchmarks.floor:app``, the benchmark's floor) is served
    as it is, without Django.
    """
    raise_open_files_limit()
    ping_interval, ping_timeout = 20, 30
    if app == SITE_APP:
        if layer is not None:
            os.environ["PUSHLAB_CHANNEL_LAYER"] = layer
        setup_django()
        from django.conf import settings
        from django.core.management import call_command

        if migrate:
            call_command("migrate", interactive=False, verbosity=0)
        ping_interval = settings.PUSHLAB_WS_PING_INTERVAL_S
        ping_timeout = settings.PUSHLAB_WS_PING_TIMEOUT_S
        print(
            f"pushlab: serving http://{host}:{port}/chat/ with {server}, "
            f"{settings.PUSHLAB_CHANNEL_LAYER} channel layer "
            f"(Redis {settings.REDIS_URL}, database {settings.DATABASES['default']['NAME']})",
            flush=True,
        )
    else:
        print(f"pushlab: serving {app} at http://{host}:{port}/ with {server}", flush=True)
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="uvloop",
            http="httptools",
            ws="websockets",
            # Daphne does not compress frames; neither does uvicorn here, so the two are
            # compared on the same work (deflate costs CPU on every frame).
            ws_per_message_deflate=False,
            ws_ping_interval=ping_interval,
            ws_ping_timeout=ping_timeout,
        )
    else:
        from daphne.cli import CommandLineInterface

        CommandLineInterface().run(
            [
                "--bind", host,
                "--port", str(port),
                "--ping-interval", str(ping_interval),
                "--ping-timeout", str(ping_timeout),
                app,
            ]
        )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushlab",
        description="One Django chat served three ways (short polling, long polling, "
        "WebSockets), and the benchmarks that measure what each costs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="serve the site for a live demo")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    serve_cmd.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve_cmd.add_argument(
        "--server", choices=SERVERS, default="daphne",
        help="ASGI server (default: %(default)s, the lecture's)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--layer", choices=LAYERS, default=None,
        help="channel layer for WebSockets: redis (RedisChannelLayer) or pubsub "
        "(RedisPubSubChannelLayer) (default: $PUSHLAB_CHANNEL_LAYER, else redis)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--app", default=SITE_APP, metavar="MODULE:ATTR",
        help="the ASGI app to serve (default: %(default)s; benchmarks.floor:app is the "
        "benchmark's bare-ASGI floor)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--no-migrate", dest="migrate", action="store_false",
        help="skip applying migrations at start",
    )  # fmt: skip

    from benchmarks.cli import add_bench_arguments, add_charts_arguments

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            serve(args.host, args.port, args.server, args.migrate, args.layer, args.app)
        return 0
    if args.command == "bench":
        from benchmarks.runner import run_bench

        return run_bench(args)
    from benchmarks.report import redraw

    return redraw(Path(args.results_dir))


if __name__ == "__main__":
    sys.exit(main())
