"""The suite's two tiers, and the two checks that keep every test in the right one.

``make test`` runs the fast tier (``pytest -m "not slow and not browser"``): units and
in-process integration (Django's test client, channels' WebsocketCommunicator) plus the one
real server the session shares (``live_server_process``). A test that starts processes of
its own (a server, Locust, a bench run, a CLI, the docs build, a notebook kernel) is marked
``slow``, as are the in-process tests that draw a report's whole chart set (seconds each,
measured); one that drives Chromium is marked ``browser``. ``make test-all`` runs both tiers.

- At collection (``needed_tier``): a test that asks for a browser fixture needs ``browser``;
  one that starts a server of its own (it asks for ``server_env``, or calls
  ``ServerProcess``/``own_server``) needs ``slow``, and so does one that uses a fixture of
  wider than function scope that starts any process (the docs build, a bench run).
- While a fast test runs (``no_child_processes``): starting any child process but
  ``ALLOWED_PROGRAMS`` fails it, whatever helper does it. Function-scoped fixtures run
  under this check too; wider ones are set up before it, which is why collection looks at them.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SLOW = "slow"
BROWSER = "browser"
BROWSER_FIXTURES = frozenset({"browser", "fresh_browser"})
SHARED_SERVER_FIXTURES = frozenset({"live_server_process", "server_env"})
"""The fast tier's one real server, and the session environment it is started with."""
STARTS_A_SERVER = re.compile(r"\bServerProcess\(|\bown_server\(")
STARTS_A_PROCESS = re.compile(r"\bServerProcess\(|\bown_server\(|\bsubprocess\.\w+\(|\bPopen\(")
ALLOWED_PROGRAMS = frozenset({"redis-server", "git", "uname"})
"""Children a fast test may start: the embedded Redis (lab/embedded_redis.py) starts in
about 0.1 s and the Redis-failure units restart one; the runner records the commit and the
machine it measures (``git rev-parse``, ``platform.processor()``'s ``uname -p``: milliseconds)."""


DESCRIBED_ITEMS = pytest.StashKey[dict[str, dict[str, Any]]]()
"""nodeid -> ``describe(item)`` of every test the session collected (tests/conftest.py)."""


class TierError(AssertionError):
    """A fast test started a process: it belongs in the slow tier, or should run in-process."""


def tier_marks(item: pytest.Item) -> set[str]:
    return {mark.name for mark in item.iter_markers()} & {SLOW, BROWSER}


def fixture_functions(item: pytest.Item) -> list[tuple[str, str, Any]]:
    """(name, scope, function) of every fixture the item uses, the test's own closure."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    found = []
    for name in item.fixturenames:  # type: ignore[attr-defined]
        definitions = info.name2fixturedefs.get(name)
        if definitions:
            definition = definitions[-1]  # the one that applies to this item
            found.append((name, definition.scope, definition.func))
    return found


def starts(function: Any, what: re.Pattern[str]) -> bool:
    """Whether a test or fixture asks for ``server_env`` or its body matches ``what``."""
    if "server_env" in inspect.signature(function).parameters:
        return True
    try:
        return bool(what.search(inspect.getsource(function)))
    except (OSError, TypeError):  # no source to read
        return False


def needed_tier(item: pytest.Item) -> str | None:
    """``browser`` or ``slow`` when the test or its fixtures start a browser or a server of
    their own, else None. Function-scoped fixtures are left to ``no_child_processes``."""
    fixtures = fixture_functions(item)
    if any(name in BROWSER_FIXTURES for name, _, _ in fixtures):
        return BROWSER
    function = getattr(item, "function", None)
    if function is not None and starts(function, STARTS_A_SERVER):
        return SLOW
    for name, scope, fixture in fixtures:
        if name in SHARED_SERVER_FIXTURES or scope == "function":
            continue
        if Path(inspect.getfile(fixture)).parent.name == "tests" and starts(
            fixture, STARTS_A_PROCESS
        ):
            return SLOW
    return None


def describe(item: pytest.Item) -> dict[str, Any]:
    """What the tier check knows of an item: its markers and the tier its fixtures need."""
    return {"marks": sorted(tier_marks(item)), "needs": needed_tier(item)}


def misplaced(described: dict[str, dict[str, Any]]) -> dict[str, str]:
    """nodeid -> what is wrong, for every item whose fixtures need a marker it lacks."""
    wrong = {}
    for nodeid, facts in described.items():
        needs, marks = facts["needs"], set(facts["marks"])
        if needs == BROWSER and BROWSER not in marks:
            wrong[nodeid] = "drives a browser: mark it browser"
        elif needs == SLOW and not marks:
            wrong[nodeid] = "starts a server or process of its own: mark it slow"
    return wrong


def program(args: Any) -> str:
    """The program a Popen call would run (its first word)."""
    if isinstance(args, str | bytes | Path):
        words: Sequence[Any] = str(args).split() or [""]
    else:
        words = list(args) or [""]
    return Path(str(words[0])).name


@contextlib.contextmanager
def no_child_processes(nodeid: str) -> Iterator[None]:
    """Make any Popen (subprocess.run, asyncio's subprocesses, Selenium's driver, the bench
    runner, ServerProcess) fail while a fast test runs, except ``ALLOWED_PROGRAMS``."""
    original = subprocess.Popen.__init__

    def refusing(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        if program(args) not in ALLOWED_PROGRAMS:
            raise TierError(
                f"{nodeid} is in the fast tier (not marked slow or browser) but starts a "
                f"process: {args!r}. Mark it slow (browser if it drives Chromium), or test "
                "it in-process (Django's test client, channels' WebsocketCommunicator)."
            )
        original(self, args, *rest, **options)

    subprocess.Popen.__init__ = refusing  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]
