"""Message text is inert on every page (issue point 5), checked in a real browser.

A payload whose ``onerror`` sets a window flag is sent through each strategy's own
page; it must show literally in ``#chat-log`` — live, from the history rendered
into a reloaded page, and on the compare page — and the flag must stay unset.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import chat_log_lines, wait_until, wait_until_following

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOADS = (
    '<img src=x onerror="window.pwned = true">',
    '</textarea><img src=x onerror="window.pwned = true">',
    "<script>window.pwned = true</script>",
)


def assert_inert(fresh_browser: Any) -> None:
    wait_until(lambda: chat_log_lines(fresh_browser) == list(PAYLOADS))
    assert fresh_browser.execute_script("return window.pwned === undefined")
    assert fresh_browser.find_elements(By.CSS_SELECTOR, "img[src=x]") == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_markup_in_messages_shows_as_text_and_never_runs(
    strategy: str, live_server_process: ServerProcess, fresh_browser: Any
) -> None:
    room = f"xss-{secrets.token_hex(3)}"
    page = f"{live_server_process.url}/chat/{room}/?strategy={strategy}"
    fresh_browser.get(page)
    wait_until_following(fresh_browser, strategy)
    field = fresh_browser.find_element(By.ID, "chat-message-input")
    for payload in PAYLOADS:
        field.send_keys(payload)
        fresh_browser.find_element(By.ID, "chat-message-submit").click()
        wait_until(lambda payload=payload: payload in chat_log_lines(fresh_browser))
    assert_inert(fresh_browser)  # delivered live

    fresh_browser.get(page)
    assert_inert(fresh_browser)  # rendered into the page as history

    fresh_browser.get(f"{live_server_process.url}/chat/{room}/compare/")
    frames = fresh_browser.find_elements(By.TAG_NAME, "iframe")
    assert len(frames) == len(STRATEGIES)
    for frame in frames:
        fresh_browser.switch_to.frame(frame)
        assert_inert(fresh_browser)
        fresh_browser.switch_to.default_content()
    assert fresh_browser.execute_script("return window.pwned === undefined")
