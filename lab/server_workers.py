"""``pushlab serve --workers N``: N server processes behind one listening socket.

The parent binds the port once, applies migrations once, and starts N
``pushlab serve --fd`` children that inherit the socket and accept from it (the
gunicorn model; Daphne and uvicorn both serve an inherited descriptor). The
children share the parent's Redis (its embedded one, exported as ``REDIS_URL``,
or the one ``REDIS_URL`` names) and the database, so every strategy works across
them. SIGTERM or Ctrl-C stops every child; so does any child exiting on its own.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from lab.stopping import stop_signals_blocked, unblock_stop_signals

STOP_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 4096
"""Connections the kernel queues before a child accepts them: a join storm of thousands."""


class StopRequested(Exception):
    """SIGTERM or SIGINT reached the parent."""


def raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)


def serve_workers(host: str, port: int, server: str, workers: int) -> int:
    """Bind once, start ``workers`` children on the socket, and stop them all together.

    Django is set up in this parent first (``lab.cli.prepare_site``): its embedded Redis
    starts here and ``REDIS_URL`` is exported to the children; migrations ran once."""
    listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
    listener.set_inheritable(True)
    fd = listener.fileno()
    command = [sys.executable, "-m", "lab.cli", "serve", "--host", host, "--port", str(port)]
    command += ["--server", server, "--no-migrate", "--fd", str(fd)]
    previous = {sig: signal.signal(sig, raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        with stop_signals_blocked():  # a stop between two starts must not leave one unseen
            for _ in range(workers):
                child = subprocess.Popen(command, pass_fds=(fd,), preexec_fn=unblock_stop_signals)
                children.append(child)
        print(
            f"pushlab: {workers} {server} processes (pids "
            f"{', '.join(str(child.pid) for child in children)}) share http://{host}:{port}/",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        exited = next(child for child in children if child.poll() is not None)
        print(f"pushlab: server process {exited.pid} exited; stopping the others", flush=True)
        return 1
    except StopRequested:
        return 0
    finally:
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, then SIGKILL any still running after ``STOP_TIMEOUT_S``."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
