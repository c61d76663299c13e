"""Headless Chromium against a real server: the lecture's two Selenium tests, for every
strategy, one across strategies, and the lecture's own room.html against our socket.

The helpers are the lecture's ("Тестирование", chat/tests.py): keys go to the focused
input through ActionChains, and every wait is the lecture's 2 seconds.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from lab.serverproc import ServerProcess
from strategies import STRATEGIES

pytestmark = pytest.mark.browser

STRATEGY_PARAMS = [pytest.param(key, id=key) for key in STRATEGIES]


class ChatWindows:
    """The lecture's ChatTests utilities, bound to one driver and one live server."""

    def __init__(self, driver: WebDriver, live_server_url: str) -> None:
        self.driver = driver
        self.live_server_url = live_server_url

    def enter_chat_room(self, room_name: str, strategy: str) -> None:
        self.driver.get(self.live_server_url + "/chat/")
        self.driver.find_element(By.CSS_SELECTOR, f"input[value='{strategy}']").click()
        self.driver.find_element(By.CSS_SELECTOR, "#room-name-input").click()  # focus it again
        ActionChains(self.driver).send_keys(room_name, Keys.ENTER).perform()
        WebDriverWait(self.driver, 2).until(lambda _: room_name in self.driver.current_url)
        assert f"strategy={strategy}" in self.driver.current_url
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        """The page's transport has made its first contact (a socket open, a poll answered)."""
        WebDriverWait(self.driver, 2).until(
            lambda _: (
                self.text_of("#connection-state")
                in {strategy.healthy_state for strategy in STRATEGIES.values()}
            ),
            "the room page's transport did not start",
        )

    def open_new_window(self) -> None:
        self.driver.execute_script('window.open("about:blank", "_blank");')
        self.switch_to_window(-1)

    def close_all_new_windows(self) -> None:
        while len(self.driver.window_handles) > 1:
            self.switch_to_window(-1)
            self.driver.execute_script("window.close();")
        if len(self.driver.window_handles) == 1:
            self.switch_to_window(0)

    def switch_to_window(self, window_index: int) -> None:
        self.driver.switch_to.window(self.driver.window_handles[window_index])

    def post_message(self, message: str) -> None:
        ActionChains(self.driver).send_keys(message, Keys.ENTER).perform()

    def wait_for_message(self, message: str, failure: str) -> None:
        WebDriverWait(self.driver, 2).until(lambda _: message in self.chat_log_value, failure)

    @property
    def chat_log_value(self) -> str:
        return str(
            self.driver.find_element(by=By.CSS_SELECTOR, value="#chat-log").get_property("value")
        )

    def text_of(self, selector: str) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)


@pytest.fixture
def windows(browser: WebDriver, live_server_process: ServerProcess) -> Iterator[ChatWindows]:
    chat_windows = ChatWindows(browser, live_server_process.url)
    try:
        yield chat_windows
    finally:
        chat_windows.close_all_new_windows()


def unique_room(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("strategy", STRATEGY_PARAMS)
def test_when_chat_message_posted_then_seen_by_everyone_in_same_room(
    windows: ChatWindows, strategy: str
) -> None:
    room = unique_room("room_1")
    windows.enter_chat_room(room, strategy)
    windows.open_new_window()
    windows.enter_chat_room(room, strategy)

    windows.switch_to_window(0)
    windows.post_message("hello")
    windows.wait_for_message("hello", "Message was not received by window 1 from window 1")
    windows.switch_to_window(1)
    windows.wait_for_message("hello", "Message was not received by window 2 from window 1")
    assert windows.chat_log_value == "hello\n", "the message was shown more than once"


@pytest.mark.parametrize("strategy", STRATEGY_PARAMS)
def test_when_chat_message_posted_then_not_seen_by_anyone_in_different_room(
    windows: ChatWindows, strategy: str
) -> None:
    windows.enter_chat_room(unique_room("room_1"), strategy)
    windows.open_new_window()
    windows.enter_chat_room(unique_room("room_2"), strategy)

    windows.switch_to_window(0)
    windows.post_message("hello")
    windows.wait_for_message("hello", "Message was not received by window 1 from window 1")

    windows.switch_to_window(1)
    windows.post_message("world")
    windows.wait_for_message("world", "Message was not received by window 2 from window 2")
    assert "hello" not in windows.chat_log_value, (
        "Message was improperly received by window 2 from window 1"
    )


def test_message_typed_under_short_polling_is_seen_in_a_websocket_window(
    windows: ChatWindows,
) -> None:
    room = unique_room("across")
    windows.enter_chat_room(room, "short-polling")
    windows.open_new_window()
    windows.enter_chat_room(room, "websocket")

    windows.switch_to_window(0)
    windows.post_message("polled over")
    windows.wait_for_message("polled over", "the short-polling window did not show its message")
    windows.switch_to_window(1)
    windows.wait_for_message("polled over", "the WebSocket window did not get the message")
    assert windows.text_of("#meter-messages") == "1"


def test_lecture_room_html_works_unchanged_against_our_socket(windows: ChatWindows) -> None:
    room = unique_room("lecture")
    windows.enter_chat_room(room, "websocket")  # window 0: pushlab's own WebSocket client

    windows.open_new_window()  # window 1: the lecture's page, as this site serves it
    windows.driver.get(f"{windows.live_server_url}/lecture/chat/{room}/")
    WebDriverWait(windows.driver, 2).until(
        lambda driver: driver.execute_script(
            "return typeof chatSocket !== 'undefined' && chatSocket.readyState === WebSocket.OPEN"
        ),
        "the lecture's chatSocket did not open",
    )
    assert windows.driver.title == "Chat Room"  # it is the lecture's page now
    room_name_script = "return document.getElementById('room-name').textContent"
    assert json.loads(windows.driver.execute_script(room_name_script)) == room

    windows.post_message("from the lecture's page")
    windows.wait_for_message(
        "from the lecture's page", "the lecture's page did not show its own message"
    )
    windows.switch_to_window(0)
    windows.wait_for_message(
        "from the lecture's page", "pushlab's WebSocket window did not get the lecture's message"
    )


@pytest.mark.parametrize("sender", STRATEGY_PARAMS)
def test_compare_page_panels_all_receive_what_one_panel_sends(
    windows: ChatWindows, sender: str
) -> None:
    """A first visit (no cookies yet): the panels load at once and each gets a CSRF token."""
    room = unique_room("compare")
    driver = windows.driver
    driver.get(windows.live_server_url + "/chat/")
    driver.delete_all_cookies()
    driver.get(f"{windows.live_server_url}/chat/{room}/compare/")
    panels = [f"panel-{key}" for key in STRATEGIES]
    for panel in panels:
        driver.switch_to.frame(panel)
        windows.wait_until_ready()
        driver.switch_to.default_content()

    driver.switch_to.frame(f"panel-{sender}")
    driver.find_element(By.CSS_SELECTOR, "#chat-message-input").click()
    windows.post_message("to every panel")
    driver.switch_to.default_content()
    for panel in panels:
        driver.switch_to.frame(panel)
        windows.wait_for_message("to every panel", f"{panel} did not get the message")
        assert windows.chat_log_value == "to every panel\n"
        driver.switch_to.default_content()


def test_compare_pages_server_panel_moves_when_a_message_is_sent(windows: ChatWindows) -> None:
    """The live panel reads /api/metrics every second: a send shows up in its route table."""
    room = unique_room("panel")
    driver = windows.driver
    driver.get(f"{windows.live_server_url}/chat/{room}/compare/")
    WebDriverWait(driver, 5).until(
        lambda _: (
            windows.text_of("#server-state") == "live"
            and re.fullmatch(r"-?\d+\.\d", windows.text_of("#server-requests"))
        ),
        "the server panel never showed a request rate",
    )
    first_update = windows.text_of("#server-updated")
    driver.switch_to.frame("panel-short-polling")
    windows.wait_until_ready()
    driver.find_element(By.CSS_SELECTOR, "#chat-message-input").click()
    windows.post_message("watched by the panel")
    driver.switch_to.default_content()

    def post_rate(_: object) -> bool:
        """Read the table in one script call: the panel rebuilds its rows every second."""
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#server-routes tr')]"
            ".map(row => [...row.cells].map(cell => cell.textContent));"
        )
        return any(name.startswith("POST messages") and float(value) > 0 for name, value in rows)

    WebDriverWait(driver, 5, poll_frequency=0.1).until(post_rate, "the send never showed up")
    assert windows.text_of("#server-updated") != first_update, "the panel did not refresh"
    assert windows.text_of("#server-cpu").endswith("%")


def test_compare_pages_timeline_draws_polling_holding_and_pushing(windows: ChatWindows) -> None:
    """One lane per panel from its own traffic: short polls, a held poll, pushed frames, and
    the message, sent from one panel, arriving in every lane."""
    room = unique_room("timeline")
    driver = windows.driver
    driver.get(f"{windows.live_server_url}/chat/{room}/compare/")
    for key in STRATEGIES:
        driver.switch_to.frame(f"panel-{key}")
        windows.wait_until_ready()
        driver.switch_to.default_content()
    driver.switch_to.frame("panel-websocket")
    driver.find_element(By.CSS_SELECTOR, "#chat-message-input").click()
    windows.post_message("on the timeline")
    driver.switch_to.default_content()

    def drawn(_: object) -> dict[str, Any] | None:
        raw = driver.execute_script("return document.getElementById('timeline').dataset.drawn")
        state: dict[str, Any] = json.loads(raw) if raw else {}
        lanes = state.get("lanes", {})
        ready = (
            state.get("sent", 0) >= 1
            and len(lanes) == len(STRATEGIES)
            and all(lane["messages"] >= 1 for lane in lanes.values())
            and lanes["short-polling"]["requests"] >= 2
            and lanes["long-polling"]["requests"] >= 1
            and lanes["websocket"]["frames"] >= 1
        )
        return state if ready else None

    WebDriverWait(driver, 5, poll_frequency=0.25).until(drawn, "the timeline did not draw it all")
