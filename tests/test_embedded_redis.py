"""The embedded Redis: private, reachable only by unix socket, and gone when pushlab is."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from lab.embedded_redis import start_embedded_redis


def redis_pids_in(directory: str) -> list[int]:
    """Pids of redis-server processes whose socket lives in ``directory``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "redis-server" in cmdline and directory in cmdline:
                pids.append(int(proc.name))
    return pids


def wait_until_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if pid in redis_pids_in("pushlab-redis-")]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def test_embedded_redis_answers_on_a_private_socket_and_stops():
    server = start_embedded_redis()
    try:
        assert server.url.startswith("unix://")
        assert redis.Redis.from_url(server.url).ping()
        assert server.socket_path.stat().st_mode & 0o077 == 0  # only our user may connect
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not server.directory.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_serve_leaves_no_redis_behind(how: signal.Signals, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["PUSHLAB_VAR_DIR"] = str(tmp_path)
    serve = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # A deadline for the banner: a serve that never prints it is killed, ending the read.
    no_banner = threading.Timer(60, serve.kill)
    no_banner.start()
    try:
        lines = []
        for line in serve.stdout or ():  # the banner, after anything printed before it
            lines.append(line)
            if "pushlab: serving" in line:
                break
        no_banner.cancel()
        socket_dir = re.search(r"unix://(\S+)/redis\.sock", lines[-1] if lines else "")
        assert socket_dir, f"no embedded Redis in the banner: {''.join(lines)!r}"
        pids = redis_pids_in(socket_dir.group(1))
        assert len(pids) == 1
        serve.send_signal(how)  # Ctrl-C, a polite stop, and a crash
        serve.wait(timeout=20)
        assert wait_until_gone(pids) == []
    finally:
        no_banner.cancel()
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_a_restart_from_a_thread_outlives_that_thread() -> None:
    """The chaos-redis scenario restarts Redis from a thread that then ends: the new server
    must not die with it (a child's death signal follows the thread that started it)."""
    import threading

    server = start_embedded_redis()
    try:
        restarter = threading.Thread(target=server.restart)
        restarter.start()
        restarter.join(30)
        assert not restarter.is_alive()
        with pytest.raises(subprocess.TimeoutExpired):
            server.process.wait(timeout=1)  # it would have been sent SIGTERM at once
        with redis.Redis(unix_socket_path=str(server.socket_path)) as client:
            assert client.ping()
    finally:
        server.stop()
