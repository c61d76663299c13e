"""Message text is inert on every page (issue point 5), checked in a real browser.

A payload whose ``onerror`` sets a window flag is sent through each strategy's own
page; it must show literally in ``#chat-log`` — live, from the history rendered
into a reloaded page, and on the compare page — and the flag must stay unset.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from lab.serverproc import ServerProcess
from tests.reliability_clients import STRATEGY_KEYS, chat_log_lines, chromium, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOADS = (
    '<img src=x onerror="window.pwned = true">',
    '</textarea><img src=x onerror="window.pwned = true">',
    "<script>window.pwned = true</script>",
)
READY_STATES = {"short-polling": "polling", "long-polling": "waiting", "websocket": "connected"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def assert_inert(browser: Any) -> None:
    wait_until(lambda: chat_log_lines(browser) == list(PAYLOADS))
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, "img[src=x]") == []


@pytest.mark.parametrize("strategy", STRATEGY_KEYS)
def test_markup_in_messages_shows_as_text_and_never_runs(
    strategy: str, live_server_process: ServerProcess, browser: Any
) -> None:
    room = f"xss-{secrets.token_hex(3)}"
    page = f"{live_server_process.url}/chat/{room}/?strategy={strategy}"
    browser.get(page)
    state = browser.find_element(By.ID, "connection-state")
    wait_until(lambda: state.text == READY_STATES[strategy], timeout=15)
    field = browser.find_element(By.ID, "chat-message-input")
    for payload in PAYLOADS:
        field.send_keys(payload)
        browser.find_element(By.ID, "chat-message-submit").click()
        wait_until(lambda payload=payload: payload in chat_log_lines(browser))
    assert_inert(browser)  # delivered live

    browser.get(page)
    assert_inert(browser)  # rendered into the page as history

    browser.get(f"{live_server_process.url}/chat/{room}/compare/")
    frames = browser.find_elements(By.TAG_NAME, "iframe")
    assert len(frames) == len(STRATEGY_KEYS)
    for frame in frames:
        browser.switch_to.frame(frame)
        assert_inert(browser)
        browser.switch_to.default_content()
    assert browser.execute_script("return window.pwned === undefined")
