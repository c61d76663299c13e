"""A message stored without a wake-up reaching this process (another process on another Redis,
``manage.py shell``, a lost PUBLISH) still reaches held long polls and open event streams: the
hub's periodic check (``WakeUpHub.check_newest``), one query a ``PUSHLAB_MISSED_WAKEUP_CHECK_S``
for every room with waiters, however many wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient, override_settings

from lab import chat, traffic
from lab.wakeups import WakeUpHub, current_hub
from tests.test_sse import Stream, data_lines
from tests.waiting import until, until_waiting

pytestmark = pytest.mark.django_db(transaction=True)

CHECK_S = 0.3
"""The check's interval here; the long polls are held far longer (``HELD_S``)."""
HELD_S = 20


@pytest.fixture(autouse=True)
async def quick_checks() -> AsyncIterator[None]:
    with override_settings(PUSHLAB_MISSED_WAKEUP_CHECK_S=CHECK_S, PUSHLAB_SSE_KEEPALIVE_S=60):
        yield


store_unannounced = database_sync_to_async(chat.store)
"""What ``manage.py shell`` or another server process does here: store, publish nothing."""


def held_poll(room: str, after: int) -> asyncio.Task[Any]:
    url = f"/api/rooms/{room}/messages/wait?after={after}&timeout={HELD_S}"
    return asyncio.create_task(AsyncClient().get(url))


async def a_room_the_hub_knows(room: str) -> WakeUpHub:
    """One message announced, then a poll that found nothing after it: from then on the hub
    knows the room's newest id, so a timed-out poll would not even look at the database (the
    situation in which a message without a wake-up was never delivered)."""
    await chat.apost_message(room=room, author="ann", text="announced")
    answer = await AsyncClient().get(f"/api/rooms/{room}/messages/wait?after=1&timeout=0.1")
    assert answer.json()["messages"] == []
    hub = current_hub()
    assert hub.known_newest(room) == 1
    return hub


async def test_an_unannounced_message_ends_a_held_long_poll_at_the_next_check() -> None:
    room = "missed-poll"
    hub = await a_room_the_hub_knows(room)
    poll = held_poll(room, after=1)
    await until_waiting(room)
    started = time.monotonic()
    stored = (await store_unannounced(room=room, author="shell", text="unannounced")).message
    answer = await asyncio.wait_for(poll, timeout=HELD_S / 2)
    assert answer.json()["messages"] == [stored]
    assert time.monotonic() - started < HELD_S / 2, "answered at its timeout, not at a check"
    assert hub.known_newest(room) == 2  # and the hub learned the room's newest id


async def test_a_message_stored_without_a_wake_up_reaches_an_open_event_stream() -> None:
    room = "missed-stream"
    await chat.apost_message(room=room, author="ann", text="announced")
    stream = Stream(room, "after=1")
    assert (await stream.open())["status"] == 200
    await stream.until(b"retry:")
    await until_waiting(room)
    stored = (await store_unannounced(room=room, author="shell", text="unannounced")).message
    body = await stream.until(b"unannounced", timeout=HELD_S / 2)
    assert data_lines(body) == [stored]
    await stream.leave()


async def test_the_check_asks_once_per_interval_for_all_waiters_and_wakes_nobody() -> None:
    """Six long polls in three quiet rooms: one query per check, not one per poll."""
    rooms = [f"quiet-check-{n}" for n in range(3)]
    for room in rooms:
        hub = await a_room_the_hub_knows(room)
    polls = [held_poll(room, after=1) for room in rooms for _ in range(2)]
    for room in rooms:
        await until_waiting(room, count=2)
    first = hub.checks
    await until(lambda: hub.checks > first, "the first check with every poll waiting")
    queries, checks = traffic.COUNTERS["db_queries"], hub.checks
    await until(lambda: hub.checks >= checks + 3, "three more checks")
    assert traffic.COUNTERS["db_queries"] - queries == hub.checks - checks == 3
    assert not any(poll.done() for poll in polls), "a check woke a poll with nothing new"
    assert all(hub.known_newest(room) == 1 for room in rooms)
    for poll in polls:
        poll.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def test_the_checks_stop_with_the_last_waiter_and_the_hub_forgets_the_unchecked() -> None:
    room = "check-stops"
    hub = await a_room_the_hub_knows(room)
    assert hub._checker is not None
    await until(hub._checker.done, "the check ends with no one waiting", timeout=HELD_S / 2)
    assert hub.known_newest(room) is None  # nobody checks it now: the next poll reads


async def test_a_waiter_is_behind_only_if_no_wake_up_in_its_mailbox_brings_the_newest() -> None:
    from lab.wakeups import Mailbox

    mailbox = Mailbox(cursor=4)
    assert not mailbox.behind(4) and mailbox.behind(5)
    mailbox.put_nowait({"id": 5})  # on its way: the waiter reads up to it
    assert not mailbox.behind(5) and mailbox.behind(6)
    mailbox.put_nowait(None)  # it will re-read the database anyway
    assert not mailbox.behind(6)
