"""The ``pushlab`` command: serve the site, show a message's bytes (``pushlab wire``), run the
benchmarks, redraw charts.

The benchmark's commands are added and run by ``benchmarks/run/cli.py``, imported only
inside the functions that need it: the lab's one way into ``benchmarks/``, which stands on
top of it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence

from lab.open_files import raise_open_files_limit
from lab.secret_key import refuse_unsafe_exposure
from lab.stopping import (
    block_stop_signals,
    restore_signal_mask,
    stop_on_sigterm_like_ctrl_c,
    unblock_stop_signals,
)


def setup_django() -> None:
    """Configure Django (this starts the embedded Redis unless REDIS_URL is set)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()


def prepare_site(host: str, migrate: bool) -> None:
    """Configure Django, refuse an unsafe exposure of ``host``, apply migrations if asked:
    what the site's one process, or the parent of its ``--workers``, does before serving."""
    setup_django()
    from django.core.management import call_command

    refuse_unsafe_exposure(host)
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)


SITE_APP = "lab.asgi:application"
SERVERS = ("daphne", "uvicorn")
KEEP_ALIVE_S = 75
"""Seconds uvicorn keeps an idle HTTP/1.1 connection open for the next request."""
LAYERS = ("redis", "pubsub")
FLOOR_PING_INTERVAL_S, FLOOR_PING_TIMEOUT_S = 20, 30
FLOOR_SHUTDOWN_GRACE_S = 1


def serve(
    host: str,
    port: int,
    server: str,
    migrate: bool = True,
    fd: int | None = None,
    app: str = SITE_APP,
) -> None:
    """Apply migrations, then run the ASGI site in this process until Ctrl-C or SIGTERM.

    ``fd``: accept on this inherited listening socket instead of binding (``--workers``).
    ``app`` other than the site (``benchmarks.run.floor:app``, the benchmark's floor) is served
    as it is, without Django.
    """
    raise_open_files_limit()
    ping = (FLOOR_PING_INTERVAL_S, FLOOR_PING_TIMEOUT_S)
    grace_s = FLOOR_SHUTDOWN_GRACE_S
    if app == SITE_APP:
        prepare_site(host, migrate)
        from django.conf import settings

        ping = (settings.PUSHLAB_WS_PING_INTERVAL_S, settings.PUSHLAB_WS_PING_TIMEOUT_S)
        grace_s = settings.PUSHLAB_SHUTDOWN_GRACE_S
        banner = (
            f"pushlab: serving http://{host}:{port}/chat/ with {server}, "
            f"{settings.PUSHLAB_CHANNEL_LAYER} channel layer "
            f"(Redis {settings.REDIS_URL}, database {settings.DATABASES['default']['NAME']})"
        )
    else:
        banner = f"pushlab: serving {app} at http://{host}:{port}/ with {server}"
    # From here until the server has its own SIGINT/SIGTERM handlers, a stop signal waits
    # (lab/stopping.py says why); restoring the mask at the end delivers one still pending.
    previous_mask = block_stop_signals()
    try:
        print(banner, flush=True)
        if server == "uvicorn":
            run_uvicorn(host, port, fd, app, ping, grace_s)
        else:
            run_daphne(host, port, fd, app, ping)
    finally:
        restore_signal_mask(previous_mask)


def drop_cancelled_at_shutdown(record: logging.LogRecord) -> bool:
    """A log filter: uvicorn reports the held requests it cancels once the shutdown grace is
    over ("Cancel N running task(s)", then each as "Exception in ASGI application" with a
    traceback); that cancel is the intended way to close them (their clients reconnect), so
    neither is logged."""
    error = record.exc_info[1] if record.exc_info else None
    shutdown_cancel = "graceful shutdown exceeded" in record.getMessage()
    return not (isinstance(error, asyncio.CancelledError) or shutdown_cancel)


def run_uvicorn(
    host: str, port: int, fd: int | None, app: str, ping: tuple[int, int], grace_s: int
) -> None:
    """uvicorn in this process; stop signals are unblocked once its handlers are in place.

    ``grace_s``: on a stop, requests in progress get this long before the rest are closed.
    Without it uvicorn waits for every held long poll and event stream to end by itself (an
    open SSE tab kept Ctrl-C waiting 15 s), while Daphne closes them at once."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                unblock_stop_signals()
                yield

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        fd=fd,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="uvloop",
        http="httptools",
        # The sans-I/O protocol writes a frame from the send call and pings from a timer,
        # where the legacy "websockets" one runs three tasks per socket (docs/decisions.md,
        # "A WebSocket delivery without a task per message").
        ws="websockets-sansio",
        # Daphne does not compress frames; neither does uvicorn here, so the two are
        # compared on the same work (permessage-deflate costs CPU on every frame).
        ws_per_message_deflate=False,
        ws_ping_interval=ping[0],
        ws_ping_timeout=ping[1],
        timeout_graceful_shutdown=grace_s,
        # uvicorn closes an idle keep-alive connection after 5 s by default: a client that
        # posts every 5 s then sends on a connection the server is closing, and the request
        # fails ("connection closed"). 75 s is nginx's default, above any client's pause here.
        timeout_keep_alive=KEEP_ALIVE_S,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default, so any local client
        # could pick the address its rate limit counts against. PUSHLAB_TRUSTED_PROXIES
        # names the proxies to believe, on either server (lab/asgi.py, trusting_proxies).
        proxy_headers=False,
    )
    logging.getLogger("uvicorn.error").addFilter(drop_cancelled_at_shutdown)
    Server(config).run()


def run_daphne(host: str, port: int, fd: int | None, app: str, ping: tuple[int, int]) -> None:
    """Daphne in this process; stop signals are unblocked once Twisted's handlers are in place.

    Twisted installs them in the reactor's "during startup" phase; "after startup"
    callbacks (``callWhenRunning``) run once that is done.
    """
    from daphne.cli import CommandLineInterface  # installs the asyncio reactor first
    from twisted.internet import reactor

    reactor.callWhenRunning(unblock_stop_signals)
    listen = ["--fd", str(fd)] if fd is not None else ["--bind", host, "--port", str(port)]
    CommandLineInterface().run(
        [
            *listen,
            "--ping-interval", str(ping[0]),
            "--ping-timeout", str(ping[1]),
            app,
        ]
    )  # fmt: skip


def description() -> str:
    """What ``pushlab --help`` says the project is, naming the registry's techniques, so a
    technique added to the registry is named here too."""
    from strategies import STRATEGIES

    titles = [strategy.title for strategy in STRATEGIES.values()]
    return (
        f"One Django chat served by each push technique of its registry ({', '.join(titles)}), "
        "and the benchmarks that measure what each costs."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushlab", description=description())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="serve the site for a live demo")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    serve_cmd.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve_cmd.add_argument(
        "--server", choices=SERVERS, default="uvicorn",
        help="ASGI server (default: %(default)s, the leaner one; daphne is the lecture's)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--layer", choices=LAYERS, default=None,
        help="channel layer for WebSockets: redis (RedisChannelLayer) or pubsub "
        "(RedisPubSubChannelLayer) (default: $PUSHLAB_CHANNEL_LAYER, else pubsub)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--app", default=SITE_APP, metavar="MODULE:ATTR",
        help="the ASGI app to serve (default: %(default)s; benchmarks.run.floor:app is the "
        "benchmark's bare-ASGI floor)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--no-migrate", dest="migrate", action="store_false",
        help="skip applying migrations at start",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="N server processes sharing one listening socket, one Redis and one database "
        "(default: %(default)s)",
    )  # fmt: skip
    serve_cmd.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)

    from strategies.wire import add_wire_command

    add_wire_command(commands)
    from benchmarks.run.cli import add_benchmark_commands  # the one way into benchmarks/

    add_benchmark_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "wire":  # a client of a running server: no Django of its own
        from strategies.wire import print_live

        return print_live(args.url, args.room, args.strategy)
    stop_on_sigterm_like_ctrl_c()  # so cleanups run on SIGTERM too (lab/stopping.py)
    if args.command == "serve":
        if args.layer is not None:  # read by lab.settings, here and in every worker process
            os.environ["PUSHLAB_CHANNEL_LAYER"] = args.layer
        if args.workers > 1:
            from lab.server_workers import serve_workers

            prepare_site(args.host, args.migrate)  # the embedded Redis starts in the parent
            return serve_workers(args.host, args.port, args.server, args.workers)
        with contextlib.suppress(KeyboardInterrupt):
            serve(args.host, args.port, args.server, args.migrate, args.fd, args.app)
        return 0
    from benchmarks.run.cli import run_benchmark_command

    return run_benchmark_command(args)


if __name__ == "__main__":
    sys.exit(main())
