"""Inputs that Python's own parsers choke on, over HTTP and WebSocket (issue 24, point 4).

A lone surrogate (JSON's ``"\\ud800"``), JSON nested 5000 deep, a 5000-digit integer (past
Python's 4300-digit bound for ``int()`` and ``json.loads``) and a ``multipart/form-data``
post each once answered 500 with a traceback, or dropped the socket: twelve inputs over HTTP,
and the WebSocket handshake's ``?after=`` the thirteenth. A NUL (``"\\u0000"``) in the text
is refused too: SQLite stores it, PostgreSQL refuses it (a 500 there). Each is a JSON 4xx
(or an error frame on a socket that stays open), nothing is stored and nothing is logged with
a traceback: lab/inputs.py reads them all, and ``lab.chat``'s ``clean_*`` refuse the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.test import AsyncClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lab import chat
from lab.models import Message
from lab.serverproc import ServerProcess
from strategies.websocket.consumers import BAD_CURSOR_CLOSE_CODE
from tests.clients import ChatSession
from tests.test_consumer import communicator, connected
from tests.waiting import wait_until

ROOM = "hostile"
HUGE = "9" * 5000
DEEP = "[" * 5000 + "]" * 5000
BAD_JSON = {
    "lone surrogate in message": '{"message": "hi \\ud800", "client_id": "c-1"}',
    "lone surrogate in client_id": '{"message": "hi", "client_id": "c-\\udc00"}',
    "NUL in message": '{"message": "hi \\u0000", "client_id": "c-1"}',
    "NUL in client_id": '{"message": "hi", "client_id": "c-\\u0000"}',
    "nested 5000 deep": '{"message": "hi", "client_id": "c-1", "x": ' + DEEP + "}",
    "5000-digit integer": '{"message": "hi", "client_id": "c-1", "n": ' + HUGE + "}",
}
NAMED = ("lone surrogate in message", "NUL in message")
"""Frames whose ``client_id`` is valid: their error frame names it."""
Request = Callable[[AsyncClient, str], Awaitable[Any]]


def post_body(body: str) -> Request:
    async def send(client: AsyncClient, token: str) -> Any:
        return await client.post(
            f"/api/rooms/{ROOM}/messages",
            data=body,
            content_type="application/json",
            headers={"X-CSRFToken": token},
        )

    return send


def get(path: str, **headers: str) -> Request:
    async def send(client: AsyncClient, token: str) -> Any:
        return await client.get(f"/api/rooms/{ROOM}/{path}", headers=headers)

    return send


async def multipart(client: AsyncClient, token: str) -> Any:
    """The test client's default encoding; the CSRF check reads the form before the view."""
    return await client.post(
        f"/api/rooms/{ROOM}/messages", data={"message": "hi"}, headers={"X-CSRFToken": token}
    )


HTTP_INPUTS: dict[str, tuple[Request, int]] = {
    **{name: (post_body(body), 400) for name, body in BAD_JSON.items()},
    "multipart/form-data post": (multipart, 415),
    "after= of messages": (get(f"messages?after={HUGE}"), 400),
    "after= of the long poll": (get(f"messages/wait?after={HUGE}&timeout=1"), 400),
    "after= of the naive long poll": (get(f"messages/naive-wait?after={HUGE}&timeout=1"), 400),
    "after= of SSE": (get(f"events?after={HUGE}"), 400),
    "after= of HTTP streaming": (get(f"stream?after={HUGE}"), 400),
    "limit=": (get(f"messages?limit={HUGE}"), 400),
    "Last-Event-ID": (get("events", **{"Last-Event-ID": HUGE}), 400),
}


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info], caplog.text


@pytest.mark.parametrize(("send", "status"), HTTP_INPUTS.values(), ids=list(HTTP_INPUTS.keys()))
@pytest.mark.django_db(transaction=True)
async def test_each_input_is_a_json_4xx_over_http_and_nothing_is_stored(
    send: Request, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    await chat.apost_message(room=ROOM, author="ann", text="the only message")
    client = AsyncClient(enforce_csrf_checks=True)
    assert (await client.get(f"/chat/{ROOM}/")).status_code == 200  # session and CSRF cookie
    answer = await send(client, client.cookies["csrftoken"].value)
    assert answer.status_code == status, answer.content[:300]
    assert answer["Content-Type"] == "application/json"
    assert isinstance(answer.json()["error"], str)
    assert await Message.objects.acount() == 1
    assert_no_traceback(caplog)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame", BAD_JSON.values(), ids=list(BAD_JSON.keys()))
async def test_each_frame_is_an_error_frame_and_the_socket_stays_open(
    frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with connected(ROOM) as ws:
        await ws.send_to(text_data=frame)
        refused = await ws.receive_json_from(timeout=5)
        assert isinstance(refused["error"], str)
        # A frame that parses with a valid client_id is named in its error frame, so the page
        # drops it from its re-sends (websocket.js); the page sends no frame of the others.
        named = frame in (BAD_JSON[name] for name in NAMED)
        assert refused.get("client_id") == ("c-1" if named else None)
        await ws.send_json_to({"message": "still open", "client_id": "c-1"})
        assert (await ws.receive_json_from(timeout=5))["message"] == "still open"
    assert [m.text async for m in Message.objects.all()] == ["still open"]
    assert_no_traceback(caplog)


@pytest.mark.django_db(transaction=True)
async def test_a_5000_digit_handshake_cursor_gets_an_error_frame_and_4400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws = communicator(ROOM, f"?after={HUGE}")
    accepted, _ = await ws.connect()
    assert accepted  # accepted, so the page sees why before the close
    assert "after" in (await ws.receive_json_from(timeout=5))["error"]
    assert (await ws.receive_output(timeout=5))["code"] == BAD_CURSOR_CLOSE_CODE
    await ws.disconnect()
    assert await Message.objects.acount() == 0
    assert_no_traceback(caplog)


RECORD_SOCKETS = """
const Real = window.WebSocket;
window.sockets = [];
window.WebSocket = function (url) {
    const socket = new Real(url);
    socket.sent = [];
    const send = socket.send.bind(socket);
    socket.send = function (data) { socket.sent.push(data); send(data); };
    window.sockets.push(socket);
    return socket;
};
Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
"""
"""Run before the page's scripts: every socket the page opens, with the frames it sent."""


@pytest.mark.browser
def test_the_page_drops_a_frame_the_server_refused_instead_of_resending_it(
    fresh_browser: WebDriver, live_server_process: ServerProcess
) -> None:
    """A lone surrogate typed into the page is refused with an error frame naming its
    client_id: the page shows the error, puts the text back, and its next socket sends
    nothing (before, it re-sent the frame on every reconnect)."""
    room = f"refused-{uuid.uuid4().hex[:8]}"
    browser = fresh_browser
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SOCKETS})
    browser.get(f"{live_server_process.url}/chat/{room}/?strategy=websocket")

    def state() -> str:
        return str(browser.find_element(By.ID, "connection-state").text)

    wait_until(lambda: state() == "connected", "the page is connected")
    browser.execute_script(
        "const input = document.querySelector('#chat-message-input');"
        "input.value = 'bad \\ud800'; document.querySelector('#chat-message-submit').click();"
    )
    wait_until(lambda: "surrogate" in browser.find_element(By.ID, "chat-error").text, "the error")
    assert browser.execute_script(
        "return document.querySelector('#chat-message-input').value === 'bad \\ud800'"
    ), "the refused text is back in the input"
    browser.execute_script("document.querySelector('#chat-message-input').value = ''")
    browser.execute_script("window.sockets[0].close()")  # as a dropped connection would
    wait_until(
        lambda: (
            browser.execute_script("return window.sockets.length") == 2 and state() == "connected"
        ),
        "the page reconnected",
    )
    assert browser.execute_script("return window.sockets[0].sent.length") == 1
    assert browser.execute_script("return window.sockets[1].sent.length") == 0, "re-sent"
    assert ChatSession(live_server_process.url, room, open_page=False).read_all() == []
