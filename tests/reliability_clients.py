"""Small clients for the reliability and security tests: one per strategy, plus a browser.

Each speaks to a real ``pushlab serve`` the way the strategy's browser client does.
The general suite's tests/clients.py will replace these when the branches merge.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import websocket

STRATEGY_KEYS = ("short-polling", "long-polling", "websocket")


class ChatSession:
    """One browser-like client: opening the room page gives it a session and a CSRF cookie."""

    def __init__(self, base_url: str, room: str, *, open_page: bool = True) -> None:
        self.base_url = base_url
        self.room = room
        self.http = requests.Session()
        if open_page:
            self.http.get(f"{base_url}/chat/{room}/", timeout=10).raise_for_status()

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/api/rooms/{self.room}/messages"

    def post(self, text: Any, **extra: Any) -> requests.Response:
        """POST ``{"message": text, **extra}`` with the CSRF header, as the pages do."""
        return self.post_raw(json.dumps({"message": text, **extra}))

    def post_raw(self, body: str | bytes, *, csrf: bool = True) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if csrf:
            headers["X-CSRFToken"] = self.http.cookies.get("csrftoken", "")
        return self.http.post(self.messages_url, data=body, headers=headers, timeout=10)

    def read(self, after: int = 0) -> requests.Response:
        return self.http.get(self.messages_url, params={"after": after}, timeout=10)

    def wait(self, after: int, timeout: float = 5) -> requests.Response:
        return self.http.get(
            self.messages_url + "/wait", params={"after": after, "timeout": timeout}, timeout=90
        )

    def read_all(self) -> list[dict[str, Any]]:
        """Every stored message of the room, page by page."""
        messages: list[dict[str, Any]] = []
        while True:
            answer = self.read(after=messages[-1]["id"] if messages else 0)
            answer.raise_for_status()
            page = answer.json()["messages"]
            if not page:
                return messages
            messages.extend(page)

    def last_id(self) -> int:
        answer = self.read()
        answer.raise_for_status()
        messages = answer.json()["messages"]
        return int(messages[-1]["id"]) if messages else 0

    def websocket(self, after: int | None = None, **options: Any) -> websocket.WebSocket:
        """A socket to the room with this session's cookies; ``after=None`` is the lecture's URL."""
        ws_base = self.base_url.replace("http://", "ws://", 1)
        query = "" if after is None else f"?after={after}"
        cookies = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        options.setdefault("origin", self.base_url)
        return websocket.create_connection(
            f"{ws_base}/ws/chat/{self.room}/{query}", cookie=cookies, timeout=10, **options
        )


def receive_json(socket: websocket.WebSocket, timeout: float = 10) -> dict[str, Any]:
    socket.settimeout(timeout)
    return dict(json.loads(socket.recv()))


def close_code(socket: websocket.WebSocket) -> int:
    """Read frames until the server's close frame; return its status code."""
    while True:
        opcode, frame = socket.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int(struct.unpack("!H", frame.data[:2])[0])


class Receiver(threading.Thread):
    """Collects every message a client of one strategy gets until it has ``expected`` of them.

    ``received`` keeps everything as it came, repeats included: the tests check it.
    ``kind``: short-polling, long-polling, websocket (resumes with ?after=0) or
    lecture-websocket (the lecture's URL, no cursor, no reordering of its own).
    """

    def __init__(self, kind: str, session: ChatSession, expected: int, deadline_s: float) -> None:
        super().__init__(daemon=True, name=f"receiver-{kind}")
        self.kind = kind
        self.session = session
        self.expected = expected
        self.deadline = time.monotonic() + deadline_s
        self.received: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.socket: websocket.WebSocket | None = None
        if kind in ("websocket", "lecture-websocket"):  # connected before anyone sends
            self.socket = session.websocket(after=0 if kind == "websocket" else None)

    def done(self) -> bool:
        return len(self.received) >= self.expected or time.monotonic() > self.deadline

    def run(self) -> None:
        try:
            self.ready.set()
            if self.socket is not None:
                self.read_socket(self.socket)
            else:
                self.poll()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def read_socket(self, socket: websocket.WebSocket) -> None:
        with contextlib.closing(socket):
            while not self.done():
                try:
                    self.received.append(receive_json(socket, timeout=1))
                except websocket.WebSocketTimeoutException:
                    continue

    def poll(self) -> None:
        after = 0
        while not self.done():
            if self.kind == "short-polling":
                answer = self.session.read(after)
                time.sleep(0.2)
            else:
                answer = self.session.wait(after, timeout=2)
            answer.raise_for_status()
            body = answer.json()
            self.received.extend(body["messages"])
            after = body["last_id"]


def send_burst(base_url: str, room: str, transport: str, texts: list[str]) -> None:
    """Post ``texts`` as one client over ``transport`` (http or websocket), as fast as it can.

    Run in its own process by the load tests. A WebSocket sender waits until its
    own messages come back before closing, so each one is known to be stored.
    """
    session = ChatSession(base_url, room)
    if transport == "http":
        for text in texts:
            session.post(text).raise_for_status()
        return
    with contextlib.closing(session.websocket()) as socket:
        for text in texts:
            socket.send(json.dumps({"message": text}))
        waiting = set(texts)
        while waiting:
            frame = receive_json(socket, timeout=30)
            assert "error" not in frame, frame
            waiting.discard(frame["message"])


CHROMIUM_OPTIONS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium through Selenium (STACK-NOTES); skips the test if it is not installed."""
    import pytest

    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        pytest.skip("browser tests need chromium and chromium-driver (apt-get install ...)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for option in CHROMIUM_OPTIONS:
        options.add_argument(option)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def chat_log_lines(driver: Any) -> list[str]:
    """The lines of ``#chat-log`` as the page shows them."""
    value = driver.execute_script("return document.querySelector('#chat-log').value")
    return [line for line in str(value).split("\n") if line]


def wait_until(condition: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    """Poll ``condition()`` until it is truthy; return its value, or fail with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s (last value {value!r})")
        time.sleep(interval)
