"""What docs/exercises.md tells a student to run, read from the page, and the servers those
commands start: the exercise tests run the page's own commands (on free ports, in temporary
directories), so a changed page changes what is tested."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "exercises.md"
PAGES = [PAGE, REPO / "docs" / "ru" / "exercises.md"]
PUSHLAB = ".venv/bin/pushlab"


def section(number: int, page: Path = PAGE) -> str:
    """Exercise ``number``'s text, from its heading to the next one."""
    return re.split(r"^## ", page.read_text(encoding="utf-8"), flags=re.MULTILINE)[number]


def bash_blocks(number: int, page: Path = PAGE) -> list[str]:
    """The exercise's fenced ``bash`` blocks, as printed."""
    return re.findall(r"```bash\n(.*?)```", section(number, page), flags=re.DOTALL)


def inline_commands(number: int, page: Path = PAGE) -> list[str]:
    """The exercise's inline code that runs something (``pushlab``, ``make``, ``pytest``)."""
    code = re.findall(r"`([^`\n]+)`", section(number, page))
    return [text for text in code if re.search(r"pushlab |make |pytest ", text)]


def commands(number: int, page: Path = PAGE) -> list[str]:
    """Every command of the exercise, block lines and inline code alike."""
    lines = [line.strip() for block in bash_blocks(number, page) for line in block.splitlines()]
    return [line for line in lines if line] + inline_commands(number, page)


def the_command(number: int, containing: str) -> str:
    """The one command of the exercise containing ``containing``."""
    found = [command for command in commands(number) if containing in command]
    assert len(found) == 1, f"exercise {number} prints {len(found)} commands with {containing!r}"
    return found[0]


def pushlab_argv(command: str) -> tuple[dict[str, str], list[str]]:
    """``VAR=value .venv/bin/pushlab ARGS &`` as (environment, argv for this interpreter)."""
    words = shlex.split(command.rstrip("&").strip())
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words and words[0] == PUSHLAB, f"not a pushlab command: {command!r}"
    return env, [sys.executable, "-m", "lab.cli", *words[1:]]


def make_recipe(target: str) -> list[str]:
    """What ``make TARGET`` runs (the Makefile's recipe, ``$(BIN)`` being ``.venv/bin``)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{target}:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert found, f"the Makefile has no {target} target"
    words = shlex.split(found.group(1).replace("$(BIN)/", ".venv/bin/"))
    if words[0] == PUSHLAB:
        return pushlab_argv(" ".join(shlex.quote(word) for word in words))[1]
    return [str(REPO / words[0]) if words[0].startswith(".venv/") else words[0], *words[1:]]


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced, or the option added."""
    if option in argv:
        at = argv.index(option)
        return [*argv[: at + 1], value, *argv[at + 2 :]]
    return [*argv, option, value]


def page_server_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """A student's shell: no REDIS_URL or DATABASE_URL (each server starts its own Redis and
    uses SQLite under ``var_dir``), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return {**env, "PUSHLAB_VAR_DIR": str(var_dir), **settings}


def metrics(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/api/metrics", timeout=10) as answer:
        return dict(json.load(answer))


Server = tuple[list[str], dict[str, str], Path]
"""A ``pushlab serve`` command line, its environment and its log file."""


@contextlib.contextmanager
def serving_all(*servers: Server) -> Iterator[list[str]]:
    """Run ``pushlab serve`` command lines side by side until the block ends; their URLs once
    each answers. Stopped with SIGTERM, which ``pushlab serve`` handles like Ctrl-C (its
    Redis goes too)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for argv, env, log in servers:
            with open(log, "ab") as output:
                processes.append(
                    subprocess.Popen(argv, env=env, cwd=REPO, stdout=output, stderr=output)
                )
        urls = [
            answering(process, argv, log)
            for process, (argv, _, log) in zip(processes, servers, strict=True)
        ]
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def answering(process: subprocess.Popen[bytes], argv: list[str], log: Path) -> str:
    """The server's URL, once it answers HTTP."""
    url = f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"{argv} exited: {log.read_text()[-2000:]}"
        try:
            metrics(url)
            return url
        except OSError:
            assert time.monotonic() < deadline, f"{argv} did not answer: {log.read_text()}"
            time.sleep(0.1)


@contextlib.contextmanager
def serving(argv: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """One ``pushlab serve`` command line (``serving_all``); its URL."""
    with serving_all((argv, env, log)) as (url,):
        yield url
