"""Ctrl-C or SIGTERM at any moment of ``pushlab serve`` and ``pushlab bench``: a quick exit
that leaves no process, listening socket or temporary directory behind.

Each run marks its process tree with an environment variable (children inherit it), so
the test finds every process it caused, even one that outlived its parent; ``TMPDIR``
points at a directory of the test's own, so every temporary directory it made is seen.
Each signal is sent as soon as an observable condition holds (a redis-server exists, the
database file exists, the banner is printed, the server answers), waited for with a
deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.serverproc import free_port

TAG_ENV = "PUSHLAB_STOP_TEST_TAG"
EXIT_WITHIN_S = 10.0
"""'A few seconds', with room for a busy 2-core machine."""


def wait_for(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 30.0,
    process: subprocess.Popen[str] | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail at the deadline or if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def tagged_processes(tag: str, tmp_dir: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries ``tag`` or whose
    command line names ``tmp_dir`` (redis-server overwrites its environment with its title,
    which names its socket there)."""
    marker = f"{TAG_ENV}={tag}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        ours = marker in environ or str(tmp_dir) in cmdline
        if ours and state != "Z":  # a zombie has exited; only its parent's wait() is missing
            found.append((int(proc.name), cmdline))
    return found


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Run:
    """One ``pushlab`` command in a process tree of its own tag, temp and var directories."""

    args: list[str]
    root: Path
    prelude: str = ""
    """Python run before ``lab.cli.main`` in the same process (to inject a signal)."""
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    def start(self) -> Run:
        self.tmp_dir.mkdir(parents=True)
        self.var_dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
        env |= {TAG_ENV: self.tag, "TMPDIR": str(self.tmp_dir)}
        env["PUSHLAB_VAR_DIR"] = str(self.var_dir)
        code = f"{self.prelude}\nimport sys\nfrom lab.cli import main\nsys.exit(main())"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *self.args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def processes(self) -> list[tuple[int, str]]:
        return tagged_processes(self.tag, self.tmp_dir)

    def has_child(self, word: str) -> bool:
        return any(word in cmdline for pid, cmdline in self.processes() if pid != self.pid)

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop_with(self, how: signal.Signals) -> float:
        """Send ``how``; the seconds until the process exited."""
        assert self.process is not None
        assert self.process.poll() is None, f"exited before the signal: {''.join(self.lines)}"
        sent = time.monotonic()
        self.process.send_signal(how)
        try:
            self.process.wait(EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
            dump = "(py-spy is not installed: no stack dump)"
            if py_spy:
                dump = subprocess.run(
                    [py_spy, "dump", "-p", str(self.pid)], capture_output=True, text=True
                ).stdout
            raise AssertionError(
                f"no exit within {EXIT_WITHIN_S:g} s of {how.name}; output:\n"
                + "".join(self.lines)
                + dump
            ) from None
        return time.monotonic() - sent

    def kill_leftovers(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def assert_nothing_left(self) -> None:
        assert self.process is not None
        output = "".join(self.lines)
        assert "Traceback" not in output, output
        # The pushlab process waits for its children; allow the kernel a moment to reap.
        wait_for(lambda: not self.processes(), "no process of the run is left", 5)
        assert sorted(p.name for p in self.tmp_dir.iterdir()) == [], output


def serve_run(server: str, root: Path, prelude: str = "") -> tuple[Run, int]:
    port = free_port()
    args = ["serve", "--port", str(port), "--server", server]
    return Run(args, root, prelude).start(), port


def answers_http(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/metrics", timeout=2):
            return True
    except OSError:
        return False


SERVE_POINTS: dict[str, Callable[[Run, int], bool]] = {
    "redis-server-started": lambda run, port: run.has_child("redis-server"),
    "database-file-created": lambda run, port: (run.var_dir / "pushlab.sqlite3").exists(),
    "banner-printed": lambda run, port: run.printed("pushlab: serving"),
    "answering-http": lambda run, port: answers_http(port),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("point", list(SERVE_POINTS))
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_serve_stops_cleanly_at_any_point(
    server: str, point: str, how: signal.Signals, tmp_path: Path
) -> None:
    run, port = serve_run(server, tmp_path)
    try:
        wait_for(lambda: SERVE_POINTS[point](run, port), point, process=run.process)
        run.stop_with(how)
        assert run.process is not None and run.process.returncode == 0, "".join(run.lines)
        run.assert_nothing_left()
        assert not listening(port)
    finally:
        run.kill_leftovers()


# The flake's window, hit on purpose: the signal arrives while the server is still
# starting and before it has installed its own handlers. Without lab.stopping, Twisted's
# start-up swallowed the KeyboardInterrupt and Daphne never stopped.
STARTUP_WINDOWS = {
    "daphne": "twisted.internet.base.ReactorBase._reallyStartRunning",
    "uvicorn": "uvicorn.Server.serve",
}
INJECT = """
import importlib, os, signal
module_name, cls_name, method_name = {target!r}.rsplit(".", 2)
cls = getattr(importlib.import_module(module_name), cls_name)
original = getattr(cls, method_name)
def signal_first(self, *args, **kwargs):
    print("signal sent at {target}", flush=True)
    os.kill(os.getpid(), signal.{how})
    return original(self, *args, **kwargs)
setattr(cls, method_name, signal_first)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("server", list(STARTUP_WINDOWS))
def test_signal_during_server_startup_is_not_swallowed(
    server: str, how: signal.Signals, tmp_path: Path
) -> None:
    prelude = INJECT.format(target=STARTUP_WINDOWS[server], how=how.name)
    run, _port = serve_run(server, tmp_path, prelude)
    try:
        wait_for(lambda: run.process is not None and run.process.poll() is not None, "exit", 20)
        assert run.printed("signal sent at"), "".join(run.lines)
        assert run.process is not None and run.process.returncode == 0, "".join(run.lines)
        run.assert_nothing_left()
    finally:
        run.kill_leftovers()


BENCH_POINTS: dict[str, Callable[[Run], bool]] = {
    "server-starting": lambda run: run.has_child("lab.cli serve"),
    "locust-running": lambda run: run.has_child("locust"),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("point", list(BENCH_POINTS))
def test_bench_stops_cleanly_mid_run(point: str, how: signal.Signals, tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["bench", "--strategies", "short-polling", "--clients", "2", "--duration", "60"]
    run = Run([*args, "--out", str(out)], tmp_path).start()
    try:
        wait_for(lambda: BENCH_POINTS[point](run), point, timeout=60, process=run.process)
        run.stop_with(how)
        assert run.process is not None and run.process.returncode == 130, "".join(run.lines)
        assert run.printed("pushlab bench: interrupted")
        try:
            wait_for(lambda: not run.processes(), "no process of the run is left", 5)
        except AssertionError as exc:  # name what was left, so a failure says where to look
            raise AssertionError(f"{exc}: {run.processes()}\n{''.join(run.lines)}") from None
        assert sorted(p.name for p in run.tmp_dir.iterdir()) == []
    finally:
        run.kill_leftovers()
