"""Idempotent sends: a ``client_id`` beside ``"message"`` makes a retried send store nothing new.

In-process tests cover the core (``lab.chat.post``), the HTTP API and the WebSocket
consumer; the slow tests do it against a real server: concurrent repeats of one id,
and a client whose answer is lost re-sending after the server restarts.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from lab import chat
from lab.chat import ChatError
from lab.models import Message
from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import ChatSession, receive_json
from tests.services import own_server
from tests.test_consumer import connected
from tests.waiting import wait_until

ROOM = "lobby"
URL = f"/api/rooms/{ROOM}/messages"
BAD_CLIENT_IDS: list[Any] = ["", "x" * 65, 7, None, ["a"], {"a": 1}, True]


async def post_json(client: AsyncClient, body: Any) -> Any:
    return await client.post(URL, data=json.dumps(body), content_type="application/json")


# --- the core ---------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_repeated_client_id_is_stored_once_and_answered_with_the_stored_message() -> None:
    first = chat.post(room=ROOM, author="ann", text="hello", client_id="c-1")
    again = chat.post(room=ROOM, author="ann", text="hello", client_id="c-1")
    assert first.created and not again.created
    assert again.message == first.message and first.message["client_id"] == "c-1"
    assert Message.objects.count() == 1
    # the repeat took no id: the next message is 2
    assert chat.post_message(room=ROOM, author="ann", text="next", client_id="c-2")["id"] == 2


@pytest.mark.django_db(transaction=True)
def test_without_a_client_id_every_send_is_a_new_message() -> None:
    """The lecture's protocol, ``{"message": ...}``, keeps working as before."""
    ids = [chat.post_message(room=ROOM, author="ann", text="same")["id"] for _ in range(3)]
    assert ids == [1, 2, 3]
    assert "client_id" not in chat.messages_after(ROOM, 0)[0]


@pytest.mark.django_db(transaction=True)
def test_a_client_id_is_per_room() -> None:
    a = chat.post(room="a", author="ann", text="t", client_id="same")
    b = chat.post(room="b", author="ann", text="t", client_id="same")
    assert a.created and b.created and Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_client_id_is_per_author() -> None:
    """Another author's repeat of an id is a message of its own, and the first author's
    retry still answers with the first author's one message (issue 24, point 3)."""
    ann = chat.post(room=ROOM, author="ann", text="ann's", client_id="same")
    bob = chat.post(room=ROOM, author="bob", text="bob's", client_id="same")
    again = chat.post(room=ROOM, author="ann", text="ann's", client_id="same")
    assert ann.created and bob.created and not again.created
    assert (bob.message["id"], bob.message["message"], bob.message["author"]) == (2, "bob's", "bob")
    assert again.message == ann.message
    assert [m["message"] for m in chat.messages_after(ROOM, 0)] == ["ann's", "bob's"]


@pytest.mark.django_db(transaction=True)
def test_a_repeat_is_refused_by_the_constraint_and_takes_no_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No look-up before the insert (a new message costs no extra query): the unique
    constraint refuses a repeat's insert, which rolls back with its bumped id, and the
    stored message is read only then. Concurrent repeats take the same path."""
    winner = chat.post(room=ROOM, author="ann", text="hello", client_id="raced")
    real_lookup = chat.stored_with_client_id
    lookups: list[str] = []

    def counted(room: str, author: str, client_id: str) -> chat.ChatMessage | None:
        lookups.append(client_id)
        return real_lookup(room, author, client_id)

    monkeypatch.setattr(chat, "stored_with_client_id", counted)
    fresh = chat.post(room=ROOM, author="ann", text="other", client_id="fresh")
    assert fresh.created and lookups == []  # a new message: no look-up at all
    loser = chat.post(room=ROOM, author="ann", text="hello", client_id="raced")
    assert lookups == ["raced"]  # read once, after the constraint refused the insert
    assert not loser.created and loser.message == winner.message
    assert chat.last_message_id(ROOM) == 2 and Message.objects.count() == 2
    assert chat.post(room=ROOM, author="ann", text="next").message["id"] == 3  # no gap


@pytest.mark.parametrize("client_id", BAD_CLIENT_IDS)
def test_bad_client_ids_are_refused(client_id: Any) -> None:
    with pytest.raises(ChatError, match="client_id"):
        chat.client_id_of({"message": "m", "client_id": client_id})


def test_the_longest_client_id_is_accepted() -> None:
    assert chat.client_id_of({"client_id": "x" * 64}) == "x" * 64
    assert chat.client_id_of({"message": "no id"}) is None


# --- HTTP -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_http_repeat_answers_200_with_the_same_message() -> None:
    client = AsyncClient()
    first = await post_json(client, {"message": "hi", "client_id": "abc"})
    again = await post_json(client, {"message": "hi", "client_id": "abc"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json() and first.json()["id"] == 1
    assert await Message.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_http_another_sessions_client_id_stores_its_own_message() -> None:
    ann, bob = AsyncClient(), AsyncClient()
    first = await post_json(ann, {"message": "ann's", "client_id": "abc"})
    other = await post_json(bob, {"message": "bob's", "client_id": "abc"})
    retry = await post_json(ann, {"message": "ann's", "client_id": "abc"})
    assert (first.status_code, other.status_code, retry.status_code) == (201, 201, 200)
    assert other.json()["message"] == "bob's" and other.json()["author"] != first.json()["author"]
    assert retry.json() == first.json()
    assert [m.text async for m in Message.objects.all()] == ["ann's", "bob's"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("client_id", BAD_CLIENT_IDS)
async def test_http_bad_client_id_is_a_json_400_and_nothing_is_stored(client_id: Any) -> None:
    response = await post_json(AsyncClient(), {"message": "hi", "client_id": client_id})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "client_id" in response.json()["error"]
    assert await Message.objects.acount() == 0


# --- WebSocket --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_websocket_repeat_stores_and_pushes_nothing_new() -> None:
    async with connected() as ws:
        await ws.send_json_to({"message": "once", "client_id": "w-1"})
        first = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"message": "once", "client_id": "w-1"})  # a re-send
        await ws.send_json_to({"message": "then this", "client_id": "w-2"})
        following = await ws.receive_json_from(timeout=5)
    assert (first["id"], first["client_id"]) == (1, "w-1")
    assert (following["id"], following["message"]) == (2, "then this")  # no repeat between
    assert await Message.objects.acount() == 2


@pytest.mark.django_db(transaction=True)
async def test_websocket_another_authors_client_id_stores_and_pushes_its_own_message() -> None:
    """Sockets without a session get an author each (lab.authors.scope_author)."""
    async with connected() as ann, connected() as bob:
        await ann.send_json_to({"message": "ann's", "client_id": "w-1"})
        first = await ann.receive_json_from(timeout=5)
        assert await bob.receive_json_from(timeout=5) == first
        await bob.send_json_to({"message": "bob's", "client_id": "w-1"})
        other = await bob.receive_json_from(timeout=5)
        assert await ann.receive_json_from(timeout=5) == other
        await ann.send_json_to({"message": "ann's", "client_id": "w-1"})  # ann's re-send
        await ann.send_json_to({"message": "then this", "client_id": "w-2"})
        assert (await ann.receive_json_from(timeout=5))["id"] == 3  # no repeat between
    assert (first["id"], first["message"]) == (1, "ann's")
    assert (other["id"], other["message"]) == (2, "bob's") and other["author"] != first["author"]
    assert [m.text async for m in Message.objects.all()] == ["ann's", "bob's", "then this"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("client_id", BAD_CLIENT_IDS)
async def test_websocket_bad_client_id_is_an_error_frame_and_nothing_is_stored(
    client_id: Any,
) -> None:
    async with connected() as ws:
        await ws.send_json_to({"message": "hi", "client_id": client_id})
        frame = await ws.receive_json_from(timeout=5)
        assert set(frame) == {"error"} and "client_id" in frame["error"]
        await ws.send_json_to({"message": "still open"})  # the socket stays usable
        assert (await ws.receive_json_from(timeout=5))["id"] == 1
    assert await Message.objects.acount() == 1


# --- a real server ----------------------------------------------------------------------
def post_unread(base_url: str, session: ChatSession, body: dict[str, Any]) -> socket.socket:
    """Send a POST on a raw connection, read nothing: closing it later loses the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    cookies = "; ".join(f"{k}={v}" for k, v in session.http.cookies.items())
    request = (
        f"POST /api/rooms/{session.room}/messages HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"X-CSRFToken: {session.http.cookies.get('csrftoken', '')}\r\nCookie: {cookies}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode()
    raw = socket.create_connection((host, int(port)), timeout=5)
    raw.sendall(request + payload)
    return raw


@pytest.mark.slow
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_a_client_whose_answer_was_lost_resends_after_a_restart_and_is_stored_once(
    server: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    with own_server(server_env, tmp_path, server=server) as process:
        sender = ChatSession(process.url, "lost-answer")
        unread = post_unread(process.url, sender, {"message": "m", "client_id": "r-1"})
        wait_until(lambda: len(sender.read_all()) == 1, "the first send is stored")
        unread.close()  # the answer is lost
        process.restart()
        again = sender.post("m", client_id="r-1")  # the client retries, as chat.js does
        assert again.status_code == 200, again.text
        assert [m["id"] for m in sender.read_all()] == [again.json()["id"]] == [1]

        # Over a WebSocket: the frame's answer (the push) is lost with the socket; the
        # client reconnects with ?after= (the catch-up brings it) and re-sends anyway.
        ws = sender.websocket(after=1)
        ws.send(json.dumps({"message": "w", "client_id": "w-1"}))
        wait_until(lambda: len(sender.read_all()) == 2, "the frame is stored")
        ws.close()  # its push is lost with the socket
        ws = sender.websocket(after=1)
        try:
            assert receive_json(ws)["client_id"] == "w-1"  # the catch-up brings it
            ws.send(json.dumps({"message": "w", "client_id": "w-1"}))  # re-sent anyway
            ws.send(json.dumps({"message": "new", "client_id": "w-2"}))
            assert receive_json(ws)["id"] == 3  # nothing stored or pushed for the repeat
        finally:
            ws.close()
        assert [m["message"] for m in sender.read_all()] == ["m", "w", "new"]


@pytest.mark.slow
def test_concurrent_repeats_of_one_client_id_store_one_message(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with own_server(server_env, tmp_path, PUSHLAB_RATE_LIMIT_BURST="0") as process:
        sender = ChatSession(process.url, "race")
        answers: list[tuple[int, int]] = []
        go = threading.Barrier(8)

        def send() -> None:
            go.wait()
            answer = sender.post("once", client_id="same")
            answers.append((answer.status_code, answer.json().get("id", -1)))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers) == [(200, 1)] * 7 + [(201, 1)]
        assert [m["id"] for m in sender.read_all()] == [1]


@pytest.mark.browser
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategys_page_sends_a_client_id(
    strategy: str, browser: WebDriver, live_server_process: ServerProcess
) -> None:
    """chat.js gives each typed message an id; every strategy's page sends it."""
    room = f"ids-{strategy}-{uuid.uuid4().hex[:8]}"
    browser.get(f"{live_server_process.url}/chat/{room}/?strategy={strategy}")
    WebDriverWait(browser, 10).until(
        lambda _: (
            browser.find_element(By.ID, "connection-state").text
            == STRATEGIES[strategy].healthy_state
        )
    )
    reader = ChatSession(live_server_process.url, room, open_page=False)
    for text in ("first", "second"):
        browser.find_element(By.ID, "chat-message-input").send_keys(text, Keys.ENTER)
        wait_until(lambda text=text: text in [m["message"] for m in reader.read_all()], text)
    client_ids = [m["client_id"] for m in reader.read_all()]
    assert len(set(client_ids)) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", client_id) for client_id in client_ids)
