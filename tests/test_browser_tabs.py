"""The browser's six connections (issue 26, point 3; exercise 11 of docs/exercises.md).

One Chromium, seven tabs on the same room page, one technique at a time, over HTTP/1.1 (the
lab serves plain HTTP, so no HTTP/2): Chromium opens at most six connections to one host
for the whole profile, shared by every tab, and a request that finds none free waits in
the browser; a WebSocket is a connection of its own, outside those six. The message is
posted from outside the browser (``requests``): a post from a tab would wait in the same
queue. What each tab shows is read from its page (``#chat-log``, ``#connection-state``);
the server's count of the held requests it received (``/api/metrics``) says how many left
the browser. docs/guarantees.md, "Seven tabs", explains what each technique shows.

The driver does not wait for pages to load (``pageLoadStrategy: none``): the seventh tab's
page may never load, and ``driver.get`` would block on it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from selenium.common.exceptions import TimeoutException

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import ChatSession, wait_until
from tests.conftest import headless_chromium
from tests.exercise_pages import metrics, section

pytestmark = pytest.mark.browser
T = TypeVar("T")

EXERCISE = 11
TABS = 7
"""Seven tabs: one more than the browser's connections to a host."""
DEADLINE_S = 3.0
"""How long every tab gets to show the message (a delivery takes milliseconds here)."""
PAGE_STATE = """
const state = document.querySelector('#connection-state');
const log = document.querySelector('#chat-log');
return state && log ? [state.textContent, log.value] : null;
"""
"""A tab's connection state and chat log, or null before its page has any."""
SCRIPT_TIMEOUT_S = 1
"""A tab whose page request waits for a connection has no document to run a script in:
Chromedriver waits for one and gives up after this long."""
HELD_ROUTES = {
    "sse": "GET /api/rooms/[room]/events",
    "long-polling": "GET /api/rooms/[room]/messages/wait",
    "websocket": "WS /ws/chat/[room]/",
}
"""The route of each technique's held request or socket (lab/traffic.py's names)."""


def exercise_strategies() -> list[str]:
    """The techniques exercise 11 tells a student to open, in the page's order."""
    found = re.findall(r"`\?strategy=([a-z-]+)`", section(EXERCISE))
    assert found, "exercise 11 no longer names the techniques it opens"
    return list(dict.fromkeys(found))


@pytest.fixture
def unwaiting_browser() -> Iterator[Any]:
    """A Chromium of this test's own whose ``get`` does not wait for the page to load."""
    with headless_chromium(capabilities={"pageLoadStrategy": "none"}) as driver:
        driver.set_script_timeout(SCRIPT_TIMEOUT_S)
        yield driver


def page_state(driver: Any, handle: str) -> tuple[str, list[str]] | None:
    """The tab's connection state and chat log lines; None while its page has not loaded."""
    driver.switch_to.window(handle)
    try:
        found = driver.execute_script(PAGE_STATE)
    except TimeoutException:  # the page's own request is still waiting
        return None
    if found is None:
        return None
    state, log = found
    return str(state), [line for line in str(log).split("\n") if line]


def held(url: str, strategy: str) -> int:
    """How many requests (sockets) of the technique's held route the server has received
    so far (a count since it started: the test takes differences)."""
    return int(metrics(url)["opened_by_route"].get(HELD_ROUTES[strategy], 0))


def open_tabs(driver: Any, url: str, strategy: str) -> list[str]:
    """Seven tabs on the room page, one after another; each of the first six followed the
    room (its healthy state) before the next opens. The seventh is only asked to load."""
    healthy = STRATEGIES[strategy].healthy_state
    handles = []
    for tab in range(TABS):
        driver.switch_to.new_window("tab")
        driver.get(url)
        handles.append(driver.current_window_handle)
        if tab < TABS - 1:
            wait_until(lambda: (page_state(driver, handles[-1]) or ("",))[0] == healthy, 15)
    return handles


def showing(driver: Any, handles: list[str], text: str) -> list[bool]:
    """Which tabs show ``text`` in their chat log."""
    return [text in (page_state(driver, handle) or ("", []))[1] for handle in handles]


def read_until(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Read ``read()`` every 0.1 s until ``done`` holds of it or ``DEADLINE_S`` passed; the
    last value read (a deadline, not a sleep: it returns as soon as ``done`` holds)."""
    deadline = time.monotonic() + DEADLINE_S
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def seven_tabs_then_a_message(driver: Any, url: str, strategy: str) -> dict[str, Any]:
    """Open the seven tabs, post one message from outside the browser, and record which tabs
    show it within ``DEADLINE_S``; if the seventh does not, close the first tab and record
    whether the seventh then does."""
    room = f"tabs_{strategy}_{uuid.uuid4().hex[:8]}"
    before = held(url, strategy)
    handles = open_tabs(driver, f"{url}/chat/{room}/?strategy={strategy}", strategy)
    healthy = STRATEGIES[strategy].healthy_state
    seventh = read_until(
        lambda: page_state(driver, handles[-1]), lambda s: bool(s and s[0] == healthy)
    )
    seen: dict[str, Any] = {
        "seventh_before_message": seventh,
        "held_before_message": held(url, strategy) - before,
    }
    text = f"to seven tabs over {strategy}"
    ChatSession(url, room).send(text)
    seen["received"] = read_until(lambda: showing(driver, handles, text), all)
    seen["held_after_message"] = held(url, strategy) - before
    if not seen["received"][-1]:
        driver.switch_to.window(handles[0])
        driver.close()
        seen["seventh_after_first_closed"] = read_until(
            lambda: page_state(driver, handles[-1]), lambda s: s == (healthy, [text])
        )
    return seen


@pytest.mark.parametrize("strategy", exercise_strategies())
def test_seven_tabs_of_one_browser(
    unwaiting_browser: Any, live_server_process: ServerProcess, strategy: str
) -> None:
    """SSE: six streams reach the server and the seventh tab's page never loads, so it misses
    the message, until a tab is closed. Long polling: one poll reaches the server, the
    other tabs' identical polls wait for its answer inside the browser (its HTTP cache lets
    one request per URL go at a time), so the seventh tab loads and all seven get the
    message. WebSocket: seven sockets, outside the six connections, and all seven get it."""
    seen = seven_tabs_then_a_message(unwaiting_browser, live_server_process.url, strategy)
    print("\nOBSERVED", strategy, seen)
    text = f"to seven tabs over {strategy}"
    healthy = STRATEGIES[strategy].healthy_state
    if strategy == "sse":
        assert seen["seventh_before_message"] is None, "the seventh page loaded"
        assert seen["held_before_message"] == seen["held_after_message"] == TABS - 1
        assert seen["received"] == [True] * (TABS - 1) + [False]
        assert seen["seventh_after_first_closed"] == (healthy, [text])
    elif strategy == "long-polling":
        assert seen["seventh_before_message"] == (healthy, [])
        assert seen["held_before_message"] == 1, "the tabs' polls did not wait for one another"
        assert seen["received"] == [True] * TABS
    elif strategy == "websocket":
        assert seen["seventh_before_message"] == (healthy, [])
        assert seen["held_before_message"] == TABS
        assert seen["received"] == [True] * TABS
    else:
        pytest.fail(f"exercise 11 opens {strategy}, which this test has no observation of")
