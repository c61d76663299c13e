"""The HTTP API through Django's AsyncClient: reading, posting, long-poll wake-up and
timeout, and bad input answered with a JSON 4xx while nothing is stored.

Transactional tests: publishing happens in ``transaction.on_commit``, which an
ordinary (rolled-back) test transaction would never run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import AsyncClient

from lab import chat
from lab.models import Message
from tests.waiting import until_waiting

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "lobby"


def messages_url(room: str = ROOM, query: str = "") -> str:
    return f"/api/rooms/{room}/messages{query}"


def wait_url(room: str = ROOM, query: str = "") -> str:
    return f"/api/rooms/{room}/messages/wait{query}"


async def post_json(client: AsyncClient, url: str, body: Any) -> Any:
    return await client.post(url, data=json.dumps(body), content_type="application/json")


async def stored_count() -> int:
    return await Message.objects.acount()


def assert_json_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"], body


async def test_empty_room_has_no_messages() -> None:
    response = await AsyncClient().get(messages_url())
    assert response.status_code == 200
    assert response.json() == {"messages": [], "last_id": 0}


async def test_post_stores_and_returns_the_message() -> None:
    client = AsyncClient()
    response = await post_json(client, messages_url(), {"message": "  hi there  "})
    assert response.status_code == 201
    stored = response.json()
    assert stored["id"] == 1 and stored["room"] == ROOM and stored["message"] == "hi there"
    assert stored["author"].startswith("guest-") and stored["created_at"]
    listed = (await client.get(messages_url())).json()
    assert listed == {"messages": [stored], "last_id": 1}


async def test_after_and_limit_page_through_the_room() -> None:
    for n in range(1, 6):
        await chat.apost_message(room=ROOM, author="ann", text=f"m{n}")
    client = AsyncClient()
    page = (await client.get(messages_url(query="?after=1&limit=2"))).json()
    assert [m["message"] for m in page["messages"]] == ["m2", "m3"]
    assert page["last_id"] == 3
    rest = (await client.get(messages_url(query=f"?after={page['last_id']}"))).json()
    assert [m["id"] for m in rest["messages"]] == [4, 5]
    assert (await client.get(messages_url(query="?after=5"))).json() == {
        "messages": [],
        "last_id": 5,
    }


async def test_author_is_kept_per_session_and_not_taken_from_the_client() -> None:
    client = AsyncClient()
    first = (await post_json(client, messages_url(), {"message": "a", "author": "mallory"})).json()
    second = (await post_json(client, messages_url(), {"message": "b"})).json()
    assert first["author"] != "mallory"
    assert first["author"] == second["author"]
    other = (await post_json(AsyncClient(), messages_url(), {"message": "c"})).json()
    assert other["author"] != first["author"]


async def test_post_without_csrf_token_is_refused_with_json() -> None:
    response = await post_json(
        AsyncClient(enforce_csrf_checks=True), messages_url(), {"message": "x"}
    )
    assert_json_error(response, 403)
    assert await stored_count() == 0


async def test_post_with_the_pages_csrf_token_is_accepted() -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    page = await client.get(f"/chat/{ROOM}/")
    assert page.status_code == 200
    token = client.cookies["csrftoken"].value
    response = await client.post(
        messages_url(),
        data=json.dumps({"message": "with token"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content


# --- long polling ---


async def test_long_poll_wakes_up_when_a_message_is_posted() -> None:
    client = AsyncClient()
    started = time.monotonic()
    waiting = asyncio.create_task(client.get(wait_url(query="?after=0&timeout=20")))
    await until_waiting(ROOM)  # subscribed: the post below must be what wakes it
    assert not waiting.done(), "the long poll answered before any message existed"
    stored = await chat.apost_message(room=ROOM, author="ann", text="wake up")
    response = await asyncio.wait_for(waiting, timeout=10)
    assert time.monotonic() - started < 10, "it answered at the timeout, not at the message"
    assert response.status_code == 200
    assert response.json() == {"messages": [stored], "last_id": 1}


async def test_long_poll_answers_at_once_when_messages_are_waiting() -> None:
    await chat.apost_message(room=ROOM, author="ann", text="already here")
    started = time.monotonic()
    response = await AsyncClient().get(wait_url(query="?after=0&timeout=20"))
    assert time.monotonic() - started < 10
    assert [m["message"] for m in response.json()["messages"]] == ["already here"]


async def test_long_poll_times_out_with_an_empty_list() -> None:
    await chat.apost_message(room=ROOM, author="ann", text="old")
    started = time.monotonic()
    response = await AsyncClient().get(wait_url(query="?after=1&timeout=0.5"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {"messages": [], "last_id": 1}
    assert elapsed >= 0.5, "it answered before its timeout with nothing to say"


async def test_long_poll_in_another_room_is_not_woken() -> None:
    waiting = asyncio.create_task(AsyncClient().get(wait_url("quiet", "?after=0&timeout=1")))
    await until_waiting("quiet")  # subscribed before the post, so a wrong wake-up would show
    await chat.apost_message(room=ROOM, author="ann", text="not for quiet")
    response = await waiting
    assert response.json() == {"messages": [], "last_id": 0}


# --- bad input: a JSON 4xx and nothing stored ---

BAD_ROOMS = [
    pytest.param("bad%20room", id="space"),
    pytest.param("a.b", id="dot"),
    pytest.param("%C3%BCber", id="non-ascii"),
    pytest.param("x" * 101, id="101-chars"),
    pytest.param("%3Cscript%3E", id="markup"),
]


@pytest.mark.parametrize("room", BAD_ROOMS)
async def test_bad_room_name_is_a_json_404_everywhere(room: str) -> None:
    client = AsyncClient()
    assert_json_error(await client.get(messages_url(room)), 404)
    assert_json_error(await client.get(wait_url(room, "?timeout=1")), 404)
    assert_json_error(await post_json(client, messages_url(room), {"message": "hi"}), 404)
    assert (await client.get(f"/chat/{room}/")).status_code == 404
    assert await stored_count() == 0


async def test_longest_room_name_is_accepted() -> None:
    room = "r" * 100
    response = await post_json(AsyncClient(), messages_url(room), {"message": "hi"})
    assert response.status_code == 201
    assert response.json()["room"] == room


BAD_BODIES = [
    pytest.param(b"", id="empty-body"),
    pytest.param(b"{not json", id="malformed-json"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param(b'["message"]', id="json-array"),
    pytest.param(b'"hello"', id="json-string"),
    pytest.param(b"{}", id="no-message-key"),
    pytest.param(b'{"text": "hi"}', id="wrong-key"),
    pytest.param(b'{"message": null}', id="null-message"),
    pytest.param(b'{"message": 42}', id="number-message"),
    pytest.param(b'{"message": ["hi"]}', id="list-message"),
    pytest.param(b'{"message": ""}', id="empty-message"),
    pytest.param(b'{"message": "   \\n\\t  "}', id="blank-message"),
    pytest.param(json.dumps({"message": "x" * 2001}).encode(), id="2001-chars"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_post_body_is_a_json_400_and_nothing_is_stored(body: bytes) -> None:
    response = await AsyncClient().post(messages_url(), data=body, content_type="application/json")
    assert_json_error(response, 400)
    assert await stored_count() == 0


async def test_message_of_exactly_2000_characters_is_stored() -> None:
    text = "y" * 2000
    response = await post_json(AsyncClient(), messages_url(), {"message": f"  {text}  "})
    assert response.status_code == 201
    assert response.json()["message"] == text


async def test_oversized_body_is_a_json_413_and_nothing_is_stored() -> None:
    body = json.dumps({"message": "z" * (3 * 1024 * 1024)})
    response = await AsyncClient().post(messages_url(), data=body, content_type="application/json")
    assert_json_error(response, 413)
    assert await stored_count() == 0


BAD_QUERIES = [
    pytest.param(messages_url, "?after=-1", id="negative-cursor"),
    pytest.param(messages_url, "?after=abc", id="word-cursor"),
    pytest.param(messages_url, "?after=1.5", id="fraction-cursor"),
    pytest.param(messages_url, "?after=%D9%A3", id="non-ascii-digit-cursor"),
    pytest.param(messages_url, "?after=99999999999999999999999", id="huge-cursor"),
    pytest.param(messages_url, "?after=2", id="cursor-beyond-newest"),
    pytest.param(messages_url, "?limit=0", id="zero-limit"),
    pytest.param(messages_url, "?limit=100000", id="huge-limit"),
    pytest.param(messages_url, "?limit=ten", id="word-limit"),
    pytest.param(wait_url, "?after=5&timeout=1", id="wait-cursor-beyond-newest"),
    pytest.param(wait_url, "?after=x&timeout=1", id="wait-word-cursor"),
    pytest.param(wait_url, "?timeout=0", id="wait-zero-timeout"),
    pytest.param(wait_url, "?timeout=-3", id="wait-negative-timeout"),
    pytest.param(wait_url, "?timeout=61", id="wait-timeout-over-60"),
    pytest.param(wait_url, "?timeout=nan", id="wait-nan-timeout"),
    pytest.param(wait_url, "?timeout=inf", id="wait-inf-timeout"),
    pytest.param(wait_url, "?timeout=soon", id="wait-word-timeout"),
]
"""(read or long-poll URL, bad query): the room holds one message, so ``after=2`` is past it."""


@pytest.mark.parametrize(("url", "query"), BAD_QUERIES)
async def test_bad_cursor_limit_or_timeout_is_a_json_400_at_once(
    url: Callable[..., str], query: str
) -> None:
    await chat.apost_message(room=ROOM, author="ann", text="the only one")
    started = time.monotonic()
    assert_json_error(await AsyncClient().get(url(query=query)), 400)
    assert time.monotonic() - started < 5, "a bad query should not be held"
    assert await stored_count() == 1


async def test_wrong_methods_and_unknown_endpoints_answer_json() -> None:
    client = AsyncClient()
    assert_json_error(await client.delete(messages_url()), 405)
    assert_json_error(await client.post(wait_url(), data=b"{}", content_type="x/y"), 405)
    assert_json_error(await client.get("/api/no-such-thing"), 404)


async def test_a_long_poll_that_ends_releases_its_wait() -> None:
    """Answered, timed out or cancelled (the client left): no waiter is left behind."""
    from lab.wakeups import current_hub

    hub = current_hub()
    client = AsyncClient()
    waiting = asyncio.create_task(client.get(wait_url(query="?after=0&timeout=20")))
    await until_waiting(ROOM)
    assert hub.waiting == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert hub.waiting == 0
    await client.get(wait_url(query="?after=0&timeout=0.2"))
    assert hub.waiting == 0
