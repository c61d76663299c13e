"""Reconnect and resume: the server restarts in the middle of a chat (issue point 2).

For each strategy a real page in headless Chromium holds the room open while the
server process is stopped and started again on the same port. Messages posted
before, right after the restart (while the page is still backing off) and after
it has reconnected must each appear once, in order, in ``#chat-log``; the page
must show the outage in ``#connection-state``. This is the server-side guarantee
a ``chaos`` benchmark scenario would measure under load.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import ChatSession, chat_log_lines, wait_until, wait_until_following
from tests.services import own_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RECORD_STATES = """
window.seenStates = [];
const state = document.querySelector('#connection-state');
new MutationObserver(() => window.seenStates.push(state.textContent))
    .observe(state, {childList: true, characterData: true, subtree: true});
"""
"""Keeps every text #connection-state shows, so a short outage cannot be missed."""
OUTAGE_STATE = re.compile(r"retrying|reconnecting")


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own: restarting the session's shared one would disturb others."""
    with own_server(server_env, tmp_path) as process:
        yield process


def post_all(poster: ChatSession, texts: list[str]) -> None:
    for text in texts:
        answer = poster.post(text)
        assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_restart_loses_and_repeats_nothing(
    strategy: str, server: ServerProcess, fresh_browser: Any
) -> None:
    room = f"restart-{secrets.token_hex(3)}"
    fresh_browser.get(f"{server.url}/chat/{room}/?strategy={strategy}")
    fresh_browser.execute_script(RECORD_STATES)
    state = wait_until_following(fresh_browser, strategy)

    poster = ChatSession(server.url, room)
    before, during, after = ([f"{phase}-{n}" for n in range(3)] for phase in ("a", "b", "c"))
    post_all(poster, before)
    wait_until(lambda: chat_log_lines(fresh_browser) == before)

    # ServerProcess.restart() in its two halves, so the test can see the page notice the
    # outage: a fast restart could otherwise fall between two short polls.
    server.stop()
    wait_until(lambda: OUTAGE_STATE.search(state.text), timeout=15)
    server.start(migrate=False)
    post_all(poster, during)  # the page is still backing off: it must catch up on these
    wait_until(lambda: chat_log_lines(fresh_browser) == before + during, timeout=45)
    wait_until_following(fresh_browser, strategy)
    post_all(poster, after)
    wait_until(lambda: chat_log_lines(fresh_browser) == before + during + after)

    seen = fresh_browser.execute_script("return window.seenStates")
    assert [s for s in seen if OUTAGE_STATE.search(s)], seen
    assert fresh_browser.execute_script("return window.pushlab.chat.lastId()") == 9


BACKOFF_SAMPLES = """
const delays = [];
const backoff = window.pushlab.chat.backoff();
for (let i = 0; i < 8; i++) delays.push(backoff.next());
const firsts = [];
for (let i = 0; i < 20; i++) firsts.push(window.pushlab.chat.backoff().next());
return [delays, firsts];
"""


def test_clients_back_off_exponentially_with_jitter(
    live_server_process: ServerProcess, fresh_browser: Any
) -> None:
    """0.5 s, 1 s, 2 s, ... capped at 15 s, each ±50 %, so clients do not return in step."""
    fresh_browser.get(f"{live_server_process.url}/chat/backoff/?strategy=websocket")
    delays, firsts = fresh_browser.execute_script(BACKOFF_SAMPLES)
    for attempt, delay in enumerate(delays):
        base = min(15000, 500 * 2**attempt)
        assert base * 0.5 <= delay <= base * 1.5, (attempt, delay)
    assert len(set(firsts)) > 1, "no jitter: every client would reconnect at the same moment"
