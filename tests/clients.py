"""Small, readable Python clients of a running pushlab server: one session, one receiver
per strategy, one sender.

Each receiver follows one room the way that strategy's browser client does and
records every message in arrival order, doing no reordering and no de-duplication
of its own, so a test sees exactly what the server delivered. The sender posts the
way a strategy's browser client does: HTTP POST with the CSRF token for the polling
strategies, a WebSocket frame for ``websocket``. Each strategy's registry row names its
receiver (``test_receiver``), how its page sends (``sends_over``) and its healthy page state;
``receiver_for``, ``Sender.like`` and ``wait_until_following`` read them from there.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests
import websocket

Message = dict[str, Any]


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

    def send(self, text: str, client_id: str | None = None) -> Message:
        """Post one message that must be stored (201), with a fresh ``client_id`` as the
        pages send; the stored message."""
        answer = self.post(text, client_id=client_id or uuid.uuid4().hex)
        assert answer.status_code == 201, (answer.status_code, answer.text)
        return dict(answer.json())

    def read(self, after: int = 0) -> requests.Response:
        return self.http.get(self.messages_url, params={"after": after}, timeout=10)

    def wait(self, after: int, timeout: float = 5, path: str = "/wait") -> requests.Response:
        return self.http.get(
            self.messages_url + path, params={"after": after, "timeout": timeout}, timeout=90
        )

    def read_all(self) -> list[Message]:
        """Every stored message of the room, page by page."""
        messages: list[Message] = []
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


def receive_json(socket: websocket.WebSocket, timeout: float = 10) -> Message:
    socket.settimeout(timeout)
    return dict(json.loads(socket.recv()))


def close_code(socket: websocket.WebSocket) -> int:
    """Read frames until the server's close frame; return its status code."""
    while True:
        opcode, frame = socket.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int(struct.unpack("!H", frame.data[:2])[0])


class Receiver:
    """Follows a room in a background thread; ``messages`` is what arrived, in order,
    repeats included."""

    def __init__(self, base_url: str, room: str) -> None:
        self.room = room
        self.session = ChatSession(base_url, room)
        self.messages: list[Message] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.session.base_url}, {self.room!r})"

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
        assert not self.errors, f"{self!r} failed: {self.errors!r}"
        assert len(self.messages) >= count, (
            f"{self!r} got {len(self.messages)} of {count} messages "
            f"in {timeout} s: {[m['message'] for m in self.messages]}"
        )
        return list(self.messages)

    def stop(self) -> list[Message]:
        """End the thread; everything that arrived, late repeats included."""
        self._stop.set()
        self.disconnect()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), f"{self!r} did not stop"
        self.session.http.close()
        return list(self.messages)

    def disconnect(self) -> None:
        """Unblock ``follow`` so the thread ends."""


class ShortPollingReceiver(Receiver):
    """``GET /api/rooms/<room>/messages?after=<last id>`` every ``interval`` seconds."""

    interval = 0.05

    def follow(self) -> None:
        while not self._stop.is_set():
            answer = self.session.read(after=self.last_id)
            assert answer.status_code == 200, (answer.status_code, answer.text)
            self.messages.extend(answer.json()["messages"])
            self._stop.wait(self.interval)


class LongPollingReceiver(Receiver):
    """``GET .../messages/wait?after=<last id>&timeout=<s>`` again as soon as each answers."""

    timeout_s = 0.25  # short, so a stopped receiver ends quickly (stop() waits out a held poll)
    wait_path = "/wait"

    def follow(self) -> None:
        while not self._stop.is_set():
            answer = self.session.wait(self.last_id, self.timeout_s, self.wait_path)
            assert answer.status_code == 200, (answer.status_code, answer.text)
            self.messages.extend(answer.json()["messages"])


class WebSocketReceiver(Receiver):
    """One WebSocket; the thread appends each frame (the lecture's client, in Python).

    ``after=None`` is the lecture's URL (no cursor); ``after=0`` resumes from the start."""

    def __init__(self, base_url: str, room: str, after: int | None = None) -> None:
        super().__init__(base_url, room)
        self.after = after

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, after={self.after})"

    def connect(self) -> None:
        self.socket = self.session.websocket(after=self.after)
        self.socket.settimeout(None)

    def follow(self) -> None:
        while not self._stop.is_set():
            frame = json.loads(self.socket.recv())
            assert "error" not in frame, frame
            self.messages.append(frame)

    def disconnect(self) -> None:
        self.socket.close()


def receiver_for(key: str) -> type[Receiver]:
    """The receiver class strategy ``key``'s registry row names (``test_receiver``)."""
    from strategies import STRATEGIES  # here, so send_burst's bare child processes skip Django

    module_name, _, class_name = STRATEGIES[key].test_receiver.partition(":")
    receiver = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(receiver, type) and issubclass(receiver, Receiver), receiver
    return receiver


@contextlib.contextmanager
def started(receivers: Iterable[Receiver]) -> Iterator[list[Receiver]]:
    """Start each receiver; stop every started one on the way out (also when a start fails)."""
    with contextlib.ExitStack() as stack:
        running = []
        for receiver in receivers:
            running.append(receiver.start())
            stack.callback(receiver.stop)
        yield running


def one_receiver_of_each_kind(base_url: str, room: str) -> list[Receiver]:
    """Unstarted: one receiver per strategy (the lecture's WebSocket URL among them) plus a
    WebSocket that resumes with ``?after=0``, the clients every delivery promise covers."""
    from strategies import STRATEGIES

    receivers = [receiver_for(key)(base_url, room) for key in STRATEGIES]
    return [*receivers, WebSocketReceiver(base_url, room, after=0)]


class Sender:
    """Sends messages into one room over ``transport`` (``http`` or ``websocket``)."""

    def __init__(self, transport: str, base_url: str, room: str) -> None:
        assert transport in ("http", "websocket"), transport
        self.session = ChatSession(base_url, room)
        self.socket: websocket.WebSocket | None = None
        if transport == "websocket":
            self.socket = self.session.websocket()

    @classmethod
    def like(cls, key: str, base_url: str, room: str) -> Sender:
        """A sender that sends the way strategy ``key``'s browser client does."""
        from strategies import STRATEGIES

        return cls(STRATEGIES[key].sends_over, base_url, room)

    def send(self, text: str) -> None:
        if self.socket is not None:
            self.socket.send(json.dumps({"message": text, "client_id": uuid.uuid4().hex}))
        else:
            self.session.send(text)

    def wait_until_echoed(self, texts: list[str]) -> None:
        """WebSocket only: read frames until each of ``texts`` came back, so each is stored."""
        assert self.socket is not None
        waiting = set(texts)
        while waiting:
            frame = receive_json(self.socket, timeout=30)
            assert "error" not in frame, frame
            waiting.discard(frame["message"])

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
        self.session.http.close()


def send_burst(base_url: str, room: str, transport: str, texts: list[str]) -> None:
    """Post ``texts`` as one client over ``transport`` (http or websocket), as fast as it can.

    Run in its own process by the load tests. A WebSocket sender waits until its
    own messages come back before closing, so each one is known to be stored.
    """
    sender = Sender(transport, base_url, room)
    with contextlib.closing(sender):
        for text in texts:
            sender.send(text)
        if transport == "websocket":
            sender.wait_until_echoed(texts)


def wait_until_following(driver: Any, strategy: str, timeout: float = 15) -> Any:
    """Wait until the open chat page of ``strategy`` follows its room (its registry row's
    ``healthy_state``); its state element."""
    from strategies import STRATEGIES

    state = driver.find_element("id", "connection-state")
    healthy = STRATEGIES[strategy].healthy_state
    wait_until(lambda: state.text == healthy, timeout=timeout)
    return state


def chat_log_lines(driver: Any) -> list[str]:
    """The lines of ``#chat-log`` as the page shows them."""
    value = driver.execute_script("return document.querySelector('#chat-log').value")
    return [line for line in str(value).split("\n") if line]


def wait_until(condition: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    """Poll ``condition()`` until it is truthy; return its value, or fail with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s (last value {value!r})")
        time.sleep(interval)
