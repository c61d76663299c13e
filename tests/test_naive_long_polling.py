"""The ``naive-long-polling`` strategy: long polling's HTTP contract, waiting by asking the
database every ``PUSHLAB_NAIVE_POLL_MS`` (the lecture's loop). Also home of the test suite's
client for it (the registry row names ``NaiveLongPollingReceiver``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from django.test import AsyncClient, override_settings

from lab import chat
from lab.models import Message
from strategies.naive_long_polling.views import Waiting
from tests.clients import LongPollingReceiver
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


class NaiveLongPollingReceiver(LongPollingReceiver):
    """Long polling's receiver on the naive endpoint."""

    wait_path = "/naive-wait"


def naive_url(room: str, query: str) -> str:
    return f"/api/rooms/{room}/messages/naive-wait?{query}"


async def test_a_waiting_request_answers_once_a_query_finds_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    ask = chat.amessages_after

    async def counted(*args: Any) -> list[dict[str, Any]]:
        found = await ask(*args)
        asked.append(len(found))
        return found

    monkeypatch.setattr(chat, "amessages_after", counted)
    client = AsyncClient()
    waiting = asyncio.create_task(client.get(naive_url("naive", "after=0&timeout=10")))
    await until(lambda: len(asked) >= 2, "the loop asked twice and found nothing")
    assert not waiting.done() and set(asked) == {0}
    with override_settings(PUSHLAB_PUBLISH_ONLY=("naive-long-polling",)):  # nothing is pushed
        stored = await chat.apost_message(room="naive", author="ann", text="found by asking")
    # Well before the 10 s timeout, which would answer empty: a query found the message.
    response = await asyncio.wait_for(waiting, timeout=8)
    assert asked[-1] == 1
    assert response.status_code == 200
    assert response.json() == {"messages": [stored], "last_id": stored["id"]}
    assert Waiting.count == 0


async def test_a_backlog_is_answered_at_once_and_an_idle_wait_times_out_empty() -> None:
    first = await chat.apost_message(room="naive-idle", author="ann", text="old")
    client = AsyncClient()
    backlog = await client.get(naive_url("naive-idle", "after=0&timeout=10"))
    assert backlog.json()["messages"] == [first]
    started = time.monotonic()
    idle = await asyncio.wait_for(client.get(naive_url("naive-idle", "after=1&timeout=0.5")), 30)
    assert time.monotonic() - started >= 0.5  # held for its timeout, not answered at once
    assert idle.json() == {"messages": [], "last_id": 1}


@pytest.mark.parametrize(
    "query",
    ["after=abc", "after=7", "after=0&timeout=0", "after=0&timeout=61", "after=0&timeout=x"],
)
async def test_bad_queries_are_a_fast_json_400_and_store_nothing(query: str) -> None:
    await chat.apost_message(room="naive-bad", author="ann", text="the only one")
    # A deadline below the default 25 s timeout: a bad query is refused, never held first.
    response = await asyncio.wait_for(AsyncClient().get(naive_url("naive-bad", query)), 20)
    assert response.status_code == 400 and set(response.json()) == {"error"}
    assert await Message.objects.acount() == 1
    assert Waiting.count == 0


async def test_past_the_bound_a_wait_is_refused_with_503() -> None:
    client = AsyncClient()
    with override_settings(PUSHLAB_MAX_LONG_POLLS=1):
        held = asyncio.create_task(client.get(naive_url("naive-full", "after=0&timeout=5")))
        await until(lambda: Waiting.count == 1, "the first wait is held")
        refused = await client.get(naive_url("naive-full", "after=0&timeout=5"))
        assert refused.status_code == 503 and refused["Retry-After"] == "1"
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
    assert Waiting.count == 0
