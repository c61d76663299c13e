"""The chat core (lab/chat.py): validation, numbering, reading, and the gap-aware
``messages_following`` that push clients rely on when a publish is lost or late."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from lab import chat, push
from lab.asgi import application
from lab.chat import ChatError, RoomNotFound
from lab.models import message_json
from tests.waiting import until_waiting

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("name", ["a", "Room_1", "with-dash", "x" * 100])
def test_valid_room_names(name: str) -> None:
    assert chat.validate_room_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "ü", "x" * 101, "a\n", None, 7])
def test_invalid_room_names(name: object) -> None:
    with pytest.raises(RoomNotFound):
        chat.validate_room_name(name)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "x" * 2001, None, 3, ["a"]])
def test_invalid_message_texts(text: object) -> None:
    with pytest.raises(ChatError):
        chat.clean_message_text(text)


def test_ids_are_per_room_sequences() -> None:
    ids = [chat.post_message(room=room, author="a", text="t")["id"] for room in "abab"]
    assert ids == [1, 1, 2, 2]
    assert chat.last_message_id("a") == 2 and chat.last_message_id("nobody") == 0


def test_a_refused_message_stores_nothing_and_takes_no_id() -> None:
    with pytest.raises(ChatError):
        chat.post_message(room="r", author="a", text="  ")
    assert chat.last_message_id("r") == 0
    assert chat.post_message(room="r", author="a", text="ok")["id"] == 1


def test_messages_after_and_recent_messages() -> None:
    for n in range(1, 8):
        chat.post_message(room="r", author="a", text=f"m{n}")
    assert [m["id"] for m in chat.messages_after("r", 4)] == [5, 6, 7]
    assert [m["id"] for m in chat.messages_after("r", 0, limit=2)] == [1, 2]
    assert [m["id"] for m in chat.recent_messages("r", 3)] == [5, 6, 7]


def test_messages_following_passes_the_next_drops_old_and_fills_gaps() -> None:
    stored = [chat.post_message(room="r", author="a", text=f"m{n}") for n in range(1, 5)]
    assert chat.messages_following("r", 1, stored[1]) == [stored[1]]  # the next one
    assert chat.messages_following("r", 3, stored[1]) == []  # already had it
    assert chat.messages_following("r", 1, stored[3]) == stored[1:]  # a gap: from the database
    assert chat.messages_following("r", 2, None) == stored[2:]  # "re-read" wake-up


def post_without_publishing(monkeypatch: pytest.MonkeyPatch, room: str, text: str) -> None:
    """Store a message whose publish is lost (as when Redis drops it)."""
    with monkeypatch.context() as patched:
        patched.setattr(push, "publish", lambda message: None)
        chat.post_message(room=room, author="a", text=text)


async def test_a_socket_gets_a_message_whose_publish_was_lost_with_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    socket = WebsocketCommunicator(
        application,
        "/ws/chat/gappy/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )
    assert (await socket.connect())[0]
    try:
        # connect() returns at accept, before the consumer's catch-up read, which would send a
        # message stored now. The consumer handles frames in order: the answer to a bad frame
        # means the catch-up is over, so from here only a push can bring the message.
        await socket.send_json_to({"not": "a message"})
        assert "error" in await socket.receive_json_from(timeout=5)
        await asyncio.to_thread(post_without_publishing, monkeypatch, "gappy", "lost push")
        assert await socket.receive_nothing(timeout=0.3)
        await chat.apost_message(room="gappy", author="a", text="next")
        frames = [await socket.receive_json_from(timeout=5) for _ in range(2)]
        assert [(f["id"], f["message"]) for f in frames] == [(1, "lost push"), (2, "next")]
    finally:
        await socket.disconnect()


async def test_a_long_poll_gets_a_message_whose_publish_was_lost_with_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiting = asyncio.create_task(
        AsyncClient().get("/api/rooms/gappy/messages/wait?after=0&timeout=20")
    )
    await until_waiting("gappy")  # subscribed: only a wake-up can answer it before 20 s
    await asyncio.to_thread(post_without_publishing, monkeypatch, "gappy", "lost push")
    assert not waiting.done(), "woken without a wake-up"
    await chat.apost_message(room="gappy", author="a", text="next")
    body = json.loads((await asyncio.wait_for(waiting, 10)).content)
    assert [m["message"] for m in body["messages"]] == ["lost push", "next"]


def test_created_at_has_one_width_even_at_a_whole_second() -> None:
    """isoformat() drops the microseconds when they are 0; a stored message never does, so
    every created_at is the same width (the wire page's capture relies on it)."""
    whole = message_json("r", 1, "a", "t", datetime(2026, 12, 7, 15, 0, 0, tzinfo=UTC), None)
    assert whole["created_at"] == "2026-12-07T15:00:00.000000+00:00"
