"""Bad input, each case against a real server (issue point 4).

Every case is answered with a JSON 4xx (HTTP) or a ``{"error": ...}`` frame on a
socket that stays open (WebSocket); nothing is stored, and the server keeps serving.
The per-client rate limit is here too: a flooding session meets 429 / an error
frame, over HTTP and WebSocket alike, while other sessions are not affected.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator

import pytest
import requests
import websocket

from lab.serverproc import ServerProcess
from strategies.websocket.consumers import BAD_CURSOR_CLOSE_CODE, MAX_FRAME_CHARS
from tests.clients import ChatSession, close_code, receive_json
from tests.services import own_server

pytestmark = pytest.mark.slow

BAD_ROOM_PATHS = {
    "empty": "",
    "too long": "a" * 101,
    "unicode": "%D0%BA%D0%BE%D0%BC%D0%BD%D0%B0%D1%82%D0%B0",
    "encoded slash": "a%2Fb",
    "slash": "a/b",
    "dot": "a.b",
    "dots": "...",
    "html": "%3Cscript%3E",
}
BAD_BODIES = {
    "empty message": json.dumps({"message": ""}),
    "white space only": json.dumps({"message": " \n\t  "}),
    "oversized message": json.dumps({"message": "x" * 2001}),
    "not JSON": "message=hello",
    "not UTF-8": b"\xff\xfe\x00",
    "JSON list": json.dumps(["hello"]),
    "number": json.dumps({"message": 5}),
    "null": json.dumps({"message": None}),
    "list message": json.dumps({"message": ["hello"]}),
    "no message key": json.dumps({"text": "hello"}),
    "empty body": "",
}
BAD_CURSORS = {
    "negative": "-1",
    "fraction": "1.5",
    "word": "abc",
    "huge": str(2**70),
    "non-ASCII digit": "\uff11",
    "beyond newest": "1000",
}
BAD_TIMEOUTS = {"zero": "0", "negative": "-1", "too long": "61", "nan": "nan", "inf": "inf"}
BAD_FRAMES = {
    "not JSON": "hello",
    "JSON list": json.dumps(["hello"]),
    "no message key": json.dumps({"text": "hello"}),
    "empty message": json.dumps({"message": ""}),
    "white space only": json.dumps({"message": "   "}),
    "oversized message": json.dumps({"message": "x" * 2001}),
    "number": json.dumps({"message": 5}),
    "frame over the size limit": json.dumps({"message": "x" * MAX_FRAME_CHARS}),
    "one megabyte frame": "x" * 1_000_000,
}


@pytest.fixture
def session(live_server_process: ServerProcess) -> Iterator[ChatSession]:
    """A client in a fresh room holding one message, so "nothing stored" is visible."""
    client = ChatSession(live_server_process.url, f"bad-{secrets.token_hex(3)}")
    assert client.post("the only message").status_code == 201
    yield client
    assert client.last_id() == 1, "a refused input was stored"
    assert live_server_process.metrics()["pid"] == live_server_process.pid


def assert_json_error(answer: requests.Response, status: int | None = None) -> None:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    if status is not None:
        assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("application/json")
    assert isinstance(answer.json()["error"], str)


@pytest.mark.parametrize("room", BAD_ROOM_PATHS.values(), ids=BAD_ROOM_PATHS.keys())
def test_bad_room_names_are_refused(session: ChatSession, room: str) -> None:
    url = f"{session.base_url}/api/rooms/{room}/messages"
    assert_json_error(session.http.get(url, timeout=10))
    assert_json_error(session.http.get(url + "/wait?timeout=1", timeout=10))
    token = session.http.cookies["csrftoken"]
    posted = session.http.post(
        url, data=json.dumps({"message": "hi"}), headers={"X-CSRFToken": token}, timeout=10
    )
    assert_json_error(posted)
    page = session.http.get(f"{session.base_url}/chat/{room}/", timeout=10)
    assert page.status_code == 404


@pytest.mark.parametrize("room", ["a" * 101, "комната", "a.b", "<b>"])
def test_bad_room_names_refuse_the_websocket_handshake(session: ChatSession, room: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException):
        ChatSession(session.base_url, room, open_page=False).websocket()


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_post_bodies_are_refused(session: ChatSession, body: str | bytes) -> None:
    assert_json_error(session.post_raw(body), status=400)


def test_an_oversized_body_gets_413_json(session: ChatSession) -> None:
    body = json.dumps({"message": "x" * 3_000_000})  # past DATA_UPLOAD_MAX_MEMORY_SIZE
    assert_json_error(session.post_raw(body), status=413)


@pytest.mark.parametrize("after", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
def test_bad_cursors_are_refused(session: ChatSession, after: str) -> None:
    assert_json_error(session.http.get(session.messages_url, params={"after": after}), 400)
    wait_url = session.messages_url + "/wait"
    assert_json_error(session.http.get(wait_url, params={"after": after, "timeout": 1}), 400)


def test_bad_cursor_gets_a_websocket_error_frame_and_close_code(session: ChatSession) -> None:
    for after in ("-1", "abc", "1000"):
        socket = websocket.create_connection(
            f"{session.base_url.replace('http', 'ws')}/ws/chat/{session.room}/?after={after}",
            origin=session.base_url,
            timeout=10,
        )
        assert "after" in receive_json(socket)["error"]
        assert close_code(socket) == BAD_CURSOR_CLOSE_CODE


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS.values(), ids=BAD_TIMEOUTS.keys())
def test_bad_long_poll_timeouts_are_refused(session: ChatSession, timeout: str) -> None:
    params = {"after": 1, "timeout": timeout}
    assert_json_error(session.http.get(session.messages_url + "/wait", params=params), 400)


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    session: ChatSession, frame: str
) -> None:
    socket = session.websocket()
    try:
        socket.send(frame)
        assert "error" in receive_json(socket)
        socket.send_binary(b'{"message": "binary"}')
        assert "binary" in receive_json(socket)["error"]
        socket.ping()
        assert socket.connected
    finally:
        socket.close()


def test_frames_over_the_servers_message_size_limit_close_the_socket(
    session: ChatSession,
) -> None:
    """Past Daphne's 1 MiB the frame is never parsed: the server closes with 1009 (the
    client may see the reset before the close frame, as the rest of its frame is unread)."""
    socket = session.websocket()
    try:
        try:  # the reset can come while the client is still sending the frame, too
            socket.send("x" * (2 * 1024 * 1024))
            code: int | None = close_code(socket)
        except (ConnectionError, websocket.WebSocketConnectionClosedException):
            code = None
        assert code in (1009, None)
    finally:
        socket.close()
    with contextlib.closing(session.websocket()) as again:
        again.send_binary(b"still here?")
        assert "error" in receive_json(again)


@pytest.fixture(scope="module")
def limited_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with the default limit spelled out, whatever the session's server uses."""
    limits = {"PUSHLAB_RATE_LIMIT_BURST": "10", "PUSHLAB_RATE_LIMIT_PER_S": "2"}
    with own_server(server_env, tmp_path_factory.mktemp("limited"), **limits) as server:
        yield server


def test_a_flooding_session_is_limited_over_http_and_websocket_alike(
    limited_server: ServerProcess,
) -> None:
    """The bucket (10 at once, 2/s) is per session: HTTP and WS spend from the same one."""
    flooder = ChatSession(limited_server.url, f"flood-{secrets.token_hex(3)}")
    answers = [flooder.post(f"flood {n}") for n in range(25)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:10] == [201] * 10
    assert 429 in statuses
    refused = answers[statuses.index(429)]
    assert_json_error(refused, 429)
    assert "too many messages" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) >= 1

    # The same session over WebSocket spends from the same, still nearly empty, bucket.
    with contextlib.closing(flooder.websocket()) as socket:
        for n in range(5):
            socket.send(json.dumps({"message": f"flood over ws {n}"}))
        frames = [receive_json(socket) for _ in range(5)]
    errors = [frame["error"] for frame in frames if "error" in frame]
    assert errors and all("too many messages" in error for error in errors)
    stored = flooder.read().json()["messages"]
    assert len(stored) == statuses.count(201) + len(frames) - len(errors)

    bystander = ChatSession(limited_server.url, flooder.room)
    assert bystander.post("I am not flooding").status_code == 201
