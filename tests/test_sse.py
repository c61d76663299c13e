"""The ``sse`` strategy: ``GET /api/rooms/<room>/events``.

In process (through the real ASGI application): events carry the message id and its JSON,
``Last-Event-ID`` and ``?after=`` resume with exactly the missed messages, bad cursors are a
JSON 400 before any streaming, idle streams get a ``: keepalive`` comment, and a client that
leaves releases its hub subscription. Against Daphne and uvicorn: a message posted while a
plain HTTP client streams arrives, and a stream's bound frees up when its client leaves.
Also home of the test suite's SSE client (the registry row names ``EventStreamReceiver``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings

from lab import chat
from lab.asgi import application
from lab.models import Message
from lab.serverproc import ServerProcess
from lab.wakeups import current_hub
from tests.clients import ChatSession, Receiver, wait_until
from tests.clients import Message as ChatMessage
from tests.services import own_server


class EventStreamReceiver(Receiver):
    """One event stream read in a thread, like ``EventSource`` (``data:`` lines, in order)."""

    def connect(self) -> None:
        self.stream = self.session.http.get(
            f"{self.session.base_url}/api/rooms/{self.room}/events",
            params={"after": 0},
            stream=True,
            timeout=(10, None),
        )
        assert self.stream.status_code == 200, (self.stream.status_code, self.stream.text)
        assert self.stream.headers["Content-Type"].startswith("text/event-stream")
        # The socket itself, so another thread can end a read blocked on it (see disconnect).
        self.socket = self.stream.raw.connection.sock

    def follow(self) -> None:
        for line in self.stream.iter_lines():
            if line.startswith(b"data: "):
                self.messages.append(json.loads(line[len(b"data: ") :]))

    def disconnect(self) -> None:
        # Response.close() from another thread does not end a blocked read (the test hung in
        # it for minutes); shutting the socket down does: the reader sees end of stream.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.stream.close()


# --- in process, through lab.asgi.application ------------------------------------------------


def events_scope(room: str, query: str = "", headers: list[tuple[bytes, bytes]] = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/api/rooms/{room}/events",
        "raw_path": f"/api/rooms/{room}/events".encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Stream:
    """One request to the events endpoint, driven through the ASGI application by hand."""

    def __init__(self, room: str, query: str = "", last_event_id: str | None = None) -> None:
        headers = [] if last_event_id is None else [(b"last-event-id", last_event_id.encode())]
        self.app = ApplicationCommunicator(application, events_scope(room, query, headers))
        self.buffer = b""

    async def open(self) -> dict[str, Any]:
        await self.app.send_input({"type": "http.request", "body": b"", "more_body": False})
        return dict(await self.app.receive_output(timeout=10))

    async def until(self, text: bytes, timeout: float = 10) -> bytes:
        """Read body chunks until ``text`` has arrived; everything read so far."""
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} did not arrive; got {self.buffer!r}"
            chunk = await self.app.receive_output(timeout=left)
            self.buffer += chunk.get("body", b"")
        return self.buffer

    async def leave(self) -> None:
        await self.app.send_input({"type": "http.disconnect"})
        await self.app.wait(timeout=10)


def data_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: ")]


async def post(room: str, text: str) -> chat.ChatMessage:
    return await chat.apost_message(room=room, author="ann", text=text)


@pytest.mark.django_db(transaction=True)
async def test_each_message_is_one_event_with_its_id_and_json_and_new_ones_follow() -> None:
    first = await post("sse-room", "before")
    stream = Stream("sse-room")
    start = await stream.open()
    assert start["status"] == 200
    assert dict(start["headers"])[b"Content-Type"] == b"text/event-stream"
    await stream.until(b"id: 1\n")
    second = await post("sse-room", "after")
    body = await stream.until(b"id: 2\n")
    assert f"id: 1\ndata: {json.dumps(first)}\n\n".encode() in body
    assert data_lines(body) == [first, second]
    await stream.leave()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("query", "last_event_id"),
    [
        pytest.param("after=2", None, id="after"),
        pytest.param("", "2", id="last-event-id"),
        pytest.param("after=0", "2", id="last-event-id-wins-over-after"),
    ],
)
async def test_a_resumed_stream_gets_exactly_the_missed_messages(
    query: str, last_event_id: str | None
) -> None:
    for n in range(1, 5):
        await post("sse-resume", f"m{n}")
    stream = Stream("sse-resume", query, last_event_id)
    await stream.open()
    body = await stream.until(b"id: 4\n")
    assert [m["id"] for m in data_lines(body)] == [3, 4]
    await stream.leave()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("room", "query", "last_event_id", "status"),
    [
        pytest.param("sse-bad", "after=abc", None, 400, id="after-not-a-number"),
        pytest.param("sse-bad", "after=5", None, 400, id="after-beyond-newest"),
        pytest.param("sse-bad", "", "x1", 400, id="last-event-id-not-a-number"),
        pytest.param("sse-bad", "", "9", 400, id="last-event-id-beyond-newest"),
        pytest.param("bad%20room", "", None, 404, id="bad-room"),
    ],
)
async def test_a_bad_request_is_a_json_error_before_any_streaming(
    room: str, query: str, last_event_id: str | None, status: int
) -> None:
    await post("sse-bad", "the only one")
    stream = Stream(room, query, last_event_id)
    start = await stream.open()
    assert start["status"] == status
    assert dict(start["headers"])[b"Content-Type"] == b"application/json"
    body = await stream.app.receive_output(timeout=10)
    assert set(json.loads(body["body"])) == {"error"}
    assert await Message.objects.acount() == 1
    assert current_hub().waiting == 0


@pytest.mark.django_db(transaction=True)
async def test_an_idle_stream_gets_keepalive_comments() -> None:
    with override_settings(PUSHLAB_SSE_KEEPALIVE_S=0.2):
        stream = Stream("sse-idle")
        await stream.open()
        body = await stream.until(b": keepalive\n\n: keepalive\n\n")
    assert data_lines(body) == []
    await stream.leave()


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_leaves_releases_its_hub_subscription() -> None:
    hub = current_hub()
    stream = Stream("sse-leave")
    await stream.open()
    await stream.until(b"retry:")
    for _ in range(500):
        if hub.waiting == 1:
            break
        await asyncio.sleep(0.01)
    assert hub.waiting == 1
    await stream.leave()
    assert hub.waiting == 0


@pytest.mark.django_db(transaction=True)
async def test_past_the_bound_a_stream_is_refused_with_503_and_retry_after() -> None:
    with override_settings(PUSHLAB_MAX_LONG_POLLS=1):
        held = Stream("sse-full")
        await held.open()
        await held.until(b"retry:")
        for _ in range(500):
            if current_hub().waiting == 1:
                break
            await asyncio.sleep(0.01)
        refused = Stream("sse-full")
        start = await refused.open()
        assert start["status"] == 503
        assert dict(start["headers"])[b"Retry-After"] == b"1"
        body = await refused.app.receive_output(timeout=10)
        assert "error" in json.loads(body["body"])
        await held.leave()


# --- against real servers ----------------------------------------------------------------


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def one_stream_server(
    request: pytest.FixtureRequest,
    server_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """A server that holds one waiting request at most and sends keepalives every 0.5 s."""
    var_dir = tmp_path_factory.mktemp(f"sse-{request.param}")
    settings = {"PUSHLAB_MAX_LONG_POLLS": "1", "PUSHLAB_SSE_KEEPALIVE_S": "0.5"}
    with own_server(server_env, var_dir, server=request.param, **settings) as server:
        yield server


def open_stream(server: ServerProcess, room: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{server.url}/api/rooms/{room}/events", headers=headers, stream=True, timeout=(10, 10)
    )


def read_events(lines: Iterator[bytes], count: int) -> list[ChatMessage]:
    """The next ``count`` events of a stream's lines (one ``iter_lines()`` per stream: a second
    one would lose what the first has buffered)."""
    messages: list[ChatMessage] = []
    for line in lines:
        if line.startswith(b"data: "):
            messages.append(json.loads(line[6:]))
            if len(messages) == count:
                return messages
    raise AssertionError(f"the stream ended after {messages}")


@pytest.mark.slow
def test_a_plain_http_client_streams_resumes_and_frees_its_place(
    one_stream_server: ServerProcess,
) -> None:
    room = f"sse-{secrets.token_hex(3)}"
    sender = ChatSession(one_stream_server.url, room)
    sent = [sender.send("one"), sender.send("two")]
    stream = open_stream(one_stream_server, room)
    lines = stream.iter_lines()
    assert read_events(lines, 2) == sent
    sent.append(sender.send("three, while streaming"))
    assert read_events(lines, 1) == sent[2:]

    busy = open_stream(one_stream_server, room)
    assert busy.status_code == 503 and "error" in busy.json()
    assert int(busy.headers["Retry-After"]) >= 1
    stream.close()  # the server notices (keepalive write or disconnect) and frees the place

    def resumed() -> requests.Response | None:
        answer = open_stream(one_stream_server, room, **{"Last-Event-ID": "1"})
        return answer if answer.status_code == 200 else None

    again = wait_until(resumed, timeout=15)
    assert read_events(again.iter_lines(), 2) == sent[1:]
    again.close()
