"""Small, readable Python clients of a running pushlab server, one per strategy.

Each receiver follows one room the way that strategy's browser client does and
records every message in arrival order, doing no reordering and no de-duplication
of its own, so a test sees exactly what the server delivered. Each sender posts
the way that strategy's browser client does: HTTP POST with the CSRF token for
the polling strategies, a WebSocket frame for ``websocket``.

Only the standard library and websocket-client are used (no ``requests``: see
STACK-NOTES about importing it next to Locust).
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import websocket

Message = dict[str, Any]


class HttpSession:
    """A cookie-keeping HTTP client: GET the room page once, then POST with its CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 30.0
    ) -> tuple[int, Any]:
        """(status, decoded JSON body) for any status, so tests can check 4xx answers too."""
        headers = {"Content-Type": "application/json"}
        token = self.cookie("csrftoken")
        if token:
            headers["X-CSRFToken"] = token
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers
        )
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def open_room_page(self, room: str, strategy: str = "short-polling") -> None:
        """What a browser does first: the page sets the csrftoken and session cookies."""
        with self.opener.open(f"{self.base_url}/chat/{room}/?strategy={strategy}") as page:
            page.read()

    def post_message(self, room: str, text: str) -> Message:
        status, body = self.request(
            "POST", f"/api/rooms/{room}/messages", json.dumps({"message": text}).encode()
        )
        assert status == 201, (status, body)
        return dict(body)


def open_websocket(ws_url: str, room: str, query: str = "", timeout: float = 10.0) -> Any:
    """A websocket-client socket to the room, with the Origin the server accepts."""
    origin = ws_url.replace("ws://", "http://", 1)
    return websocket.create_connection(
        f"{ws_url}/ws/chat/{room}/{query}", origin=origin, timeout=timeout
    )


class Receiver:
    """Follows a room in a background thread; ``messages`` is what arrived, in order."""

    def __init__(self, server_url: str, ws_url: str, room: str) -> None:
        self.server_url = server_url
        self.ws_url = ws_url
        self.room = room
        self.messages: list[Message] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Receiver:
        self.connect()
        self._thread.start()
        return self

    def connect(self) -> None:
        """Called before the thread starts: once it returns, nothing sent later is missed."""

    def follow(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self.follow()
        except BaseException as exc:  # reported by wait_for / stop, not lost in the thread
            if not self._stop.is_set():
                self.errors.append(exc)

    @property
    def last_id(self) -> int:
        return self.messages[-1]["id"] if self.messages else 0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        """Block until ``count`` messages arrived (or fail with what did arrive)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and not self.errors:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert not self.errors, f"{type(self).__name__} failed: {self.errors!r}"
        assert len(self.messages) >= count, (
            f"{type(self).__name__} got {len(self.messages)} of {count} messages "
            f"in {timeout} s: {[m['message'] for m in self.messages]}"
        )
        return list(self.messages)

    def stop(self) -> list[Message]:
        self._stop.set()
        self.disconnect()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), f"{type(self).__name__} did not stop"
        return list(self.messages)

    def disconnect(self) -> None:
        """Unblock ``follow`` so the thread ends."""


class ShortPollingReceiver(Receiver):
    """``GET /api/rooms/<room>/messages?after=<last id>`` every ``interval`` seconds."""

    interval = 0.05

    def connect(self) -> None:
        self.http = HttpSession(self.server_url)

    def follow(self) -> None:
        while not self._stop.is_set():
            status, body = self.http.request(
                "GET", f"/api/rooms/{self.room}/messages?after={self.last_id}"
            )
            assert status == 200, (status, body)
            self.messages.extend(body["messages"])
            self._stop.wait(self.interval)


class LongPollingReceiver(Receiver):
    """``GET .../messages/wait?after=<last id>&timeout=<s>`` again as soon as each answers."""

    timeout_s = 1  # short, so a stopped receiver ends quickly; wake-ups come well before it

    def connect(self) -> None:
        self.http = HttpSession(self.server_url)

    def follow(self) -> None:
        while not self._stop.is_set():
            query = f"?after={self.last_id}&timeout={self.timeout_s}"
            status, body = self.http.request("GET", f"/api/rooms/{self.room}/messages/wait{query}")
            assert status == 200, (status, body)
            self.messages.extend(body["messages"])


class WebSocketReceiver(Receiver):
    """One WebSocket; a reader thread appends each frame (the lecture's client, in Python)."""

    def connect(self) -> None:
        self.socket = open_websocket(self.ws_url, self.room)
        self.socket.settimeout(None)

    def follow(self) -> None:
        while not self._stop.is_set():
            frame = json.loads(self.socket.recv())
            assert "error" not in frame, frame
            self.messages.append(frame)

    def disconnect(self) -> None:
        self.socket.close()


RECEIVERS: dict[str, type[Receiver]] = {
    "short-polling": ShortPollingReceiver,
    "long-polling": LongPollingReceiver,
    "websocket": WebSocketReceiver,
}


SENDS_OVER: dict[str, str] = {
    "short-polling": "http",
    "long-polling": "http",
    "websocket": "websocket",
}
"""How each strategy's browser client sends: the polling ones POST, ``websocket`` sends a frame."""


class Sender:
    """Sends messages into one room the way a strategy's browser client does."""

    def __init__(self, key: str, server_url: str, ws_url: str, room: str) -> None:
        self.room = room
        self.http: HttpSession | None = None
        self.socket: Any = None
        if SENDS_OVER[key] == "websocket":
            self.socket = open_websocket(ws_url, room)
        else:
            self.http = HttpSession(server_url)
            self.http.open_room_page(room, key)

    def send(self, text: str) -> None:
        if self.socket is not None:
            self.socket.send(json.dumps({"message": text}))
        else:
            assert self.http is not None
            self.http.post_message(self.room, text)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
