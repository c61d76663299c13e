"""The ``http-streaming`` strategy: ``GET /api/rooms/<room>/stream``.

In process (through the real ASGI application): each message is one line of JSON, new ones
follow, ``?after=`` resumes with exactly the missed messages, a bad cursor is a JSON 400
before any streaming, an idle stream gets empty lines, a client that leaves gives its place
on the hub back, and past the bound a stream is refused with a JSON 503. The floor twin
frames a message as one line too. Against Daphne and uvicorn: a plain HTTP client streams,
resumes with ``?after=`` and frees its place when it leaves. Also home of the test suite's
client for it (the registry row names ``LineStreamReceiver``).
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
from strategies.http_streaming import floor
from tests.clients import ChatSession, Receiver, wait_until
from tests.clients import Message as ChatMessage
from tests.services import own_server


class LineStreamReceiver(Receiver):
    """One never-ending response read in a thread, like http-streaming.js: each non-empty
    line is one message's JSON, in order."""

    def connect(self) -> None:
        self.stream = self.session.http.get(
            f"{self.session.base_url}/api/rooms/{self.room}/stream",
            params={"after": 0},
            stream=True,
            timeout=(10, None),
        )
        assert self.stream.status_code == 200, (self.stream.status_code, self.stream.text)
        assert self.stream.headers["Content-Type"].startswith("application/x-ndjson")
        # The socket itself, so another thread can end a read blocked on it (see disconnect).
        self.socket = self.stream.raw.connection.sock

    def follow(self) -> None:
        for line in self.stream.iter_lines():
            if line.strip():
                self.messages.append(json.loads(line))

    def disconnect(self) -> None:
        # As for SSE's receiver: shutting the socket down ends a read blocked in another thread.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.stream.close()


# --- in process, through lab.asgi.application ------------------------------------------------


def stream_scope(room: str, query: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/api/rooms/{room}/stream",
        "raw_path": f"/api/rooms/{room}/stream".encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Stream:
    """One request to the stream endpoint, driven through the ASGI application by hand."""

    def __init__(self, room: str, query: str = "") -> None:
        self.app = ApplicationCommunicator(application, stream_scope(room, query))
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


def message_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.split(b"\n") if line.strip()]


async def post(room: str, text: str) -> chat.ChatMessage:
    return await chat.apost_message(room=room, author="ann", text=text)


async def until_waiting(count: int) -> None:
    """Until the hub counts ``count`` held requests (a stream joins before its body runs)."""
    deadline = time.monotonic() + 10
    while current_hub().waiting != count:
        assert time.monotonic() < deadline, f"the hub holds {current_hub().waiting}, not {count}"
        await asyncio.sleep(0.01)


@pytest.mark.django_db(transaction=True)
async def test_each_message_is_one_line_of_json_and_new_ones_follow() -> None:
    first = await post("ndjson-room", "before")
    stream = Stream("ndjson-room")
    start = await stream.open()
    assert start["status"] == 200
    assert dict(start["headers"])[b"Content-Type"] == b"application/x-ndjson"
    await stream.until(b'"before"')
    second = await post("ndjson-room", "after\nwith a newline")
    body = await stream.until(b"with a newline")
    assert json.dumps(first).encode() + b"\n" in body
    assert message_lines(body) == [first, second], "a newline in a message stays escaped"
    await stream.leave()


@pytest.mark.django_db(transaction=True)
async def test_a_resumed_stream_gets_exactly_the_missed_messages() -> None:
    for n in range(1, 5):
        await post("ndjson-resume", f"m{n}")
    stream = Stream("ndjson-resume", "after=2")
    await stream.open()
    body = await stream.until(b'"m4"')
    assert [m["id"] for m in message_lines(body)] == [3, 4]
    await stream.leave()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("room", "query", "status"),
    [
        pytest.param("ndjson-bad", "after=abc", 400, id="after-not-a-number"),
        pytest.param("ndjson-bad", "after=5", 400, id="after-beyond-newest"),
        pytest.param("bad%20room", "", 404, id="bad-room"),
    ],
)
async def test_a_bad_request_is_a_json_error_before_any_streaming(
    room: str, query: str, status: int
) -> None:
    await post("ndjson-bad", "the only one")
    stream = Stream(room, query)
    start = await stream.open()
    assert start["status"] == status
    assert dict(start["headers"])[b"Content-Type"] == b"application/json"
    body = await stream.app.receive_output(timeout=10)
    assert set(json.loads(body["body"])) == {"error"}
    assert await Message.objects.acount() == 1
    assert current_hub().waiting == 0


@pytest.mark.django_db(transaction=True)
async def test_an_idle_stream_gets_empty_lines() -> None:
    with override_settings(PUSHLAB_STREAM_KEEPALIVE_S=0.2):
        stream = Stream("ndjson-idle")
        await stream.open()
        body = await stream.until(b"\n\n\n")  # the first line, then two keepalives
    assert message_lines(body) == [] and set(body) == {ord("\n")}
    await stream.leave()


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_leaves_gives_its_place_on_the_hub_back() -> None:
    stream = Stream("ndjson-leave")
    await stream.open()
    await stream.until(b"\n")
    await until_waiting(1)
    await stream.leave()
    assert current_hub().waiting == 0


@pytest.mark.django_db(transaction=True)
async def test_past_the_bound_a_stream_is_refused_with_503_and_retry_after() -> None:
    with override_settings(PUSHLAB_MAX_LONG_POLLS=1):
        held = Stream("ndjson-full")
        await held.open()
        await held.until(b"\n")
        await until_waiting(1)
        refused = Stream("ndjson-full")
        start = await refused.open()
        assert start["status"] == 503
        assert dict(start["headers"])[b"Retry-After"] == b"1"
        body = await refused.app.receive_output(timeout=10)
        assert "error" in json.loads(body["body"])
        await held.leave()


def test_the_floor_twin_frames_a_message_as_one_line() -> None:
    encoded = json.dumps({"id": 7, "message": "a\nb"}).encode()
    assert floor.frame(7, encoded) == encoded + b"\n"
    assert floor.frame(7, encoded).count(b"\n") == 1


# --- against real servers ----------------------------------------------------------------


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def one_stream_server(
    request: pytest.FixtureRequest,
    server_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """A server that holds one waiting request at most and writes a keepalive every 0.5 s."""
    var_dir = tmp_path_factory.mktemp(f"ndjson-{request.param}")
    settings = {"PUSHLAB_MAX_LONG_POLLS": "1", "PUSHLAB_STREAM_KEEPALIVE_S": "0.5"}
    with own_server(server_env, var_dir, server=request.param, **settings) as server:
        yield server


def open_stream(server: ServerProcess, room: str, after: int = 0) -> requests.Response:
    return requests.get(
        f"{server.url}/api/rooms/{room}/stream",
        params={"after": after},
        stream=True,
        timeout=(10, 10),
    )


def read_messages(lines: Iterator[bytes], count: int) -> list[ChatMessage]:
    """The next ``count`` messages of a stream's lines (one ``iter_lines()`` per stream)."""
    messages: list[ChatMessage] = []
    for line in lines:
        if line.strip():
            messages.append(json.loads(line))
            if len(messages) == count:
                return messages
    raise AssertionError(f"the stream ended after {messages}")


@pytest.mark.slow
def test_a_plain_http_client_streams_resumes_and_frees_its_place(
    one_stream_server: ServerProcess,
) -> None:
    room = f"ndjson-{secrets.token_hex(3)}"
    sender = ChatSession(one_stream_server.url, room)
    sent = [sender.send("one"), sender.send("two")]
    stream = open_stream(one_stream_server, room)
    assert stream.headers["Content-Type"] == "application/x-ndjson"
    lines = stream.iter_lines()
    assert read_messages(lines, 2) == sent
    sent.append(sender.send("three, while streaming"))
    assert read_messages(lines, 1) == sent[2:]

    busy = open_stream(one_stream_server, room)
    assert busy.status_code == 503 and "error" in busy.json()
    assert int(busy.headers["Retry-After"]) >= 1
    stream.close()  # the server notices (keepalive write or disconnect) and frees the place

    def resumed() -> requests.Response | None:
        answer = open_stream(one_stream_server, room, after=1)
        return answer if answer.status_code == 200 else None

    again = wait_until(resumed, timeout=15)
    assert read_messages(again.iter_lines(), 2) == sent[1:]
    again.close()
