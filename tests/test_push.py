"""The push seam's contract (``lab.push``, ``lab.wakeups``), run against every backend: a
published message reaches the mailbox of each request waiting in its room, in order; leaving
unsubscribes; a waiter registered before it reads the backlog misses nothing; the hub's check
finds a message that came without a wake-up; and the bound on held requests is exact."""

from __future__ import annotations

import asyncio
import runpy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import AsyncClient, AsyncRequestFactory, override_settings

from lab import chat, push
from lab.wakeups import WakeUpHub, current_hub
from tests.waiting import until, until_waiting

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = Path(__file__).resolve().parent.parent / "lab" / "settings.py"


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("redis", id="redis")])
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[WakeUpHub]:
    """This event loop's hub on the backend under test (the session's Redis, or memory);
    posts publish wake-ups only (long polling's publisher), no relay."""
    url = "memory://" if request.param == "memory" else settings.REDIS_URL
    with override_settings(PUSHLAB_PUSH_URL=url, PUSHLAB_PUBLISH_ONLY=("long-polling",)):
        found = current_hub()
        assert found.backend is push.backend_for(url)
        yield found


def message(room: str, number: int) -> dict[str, Any]:
    return {"id": number, "room": room, "author": "ann", "message": f"message {number}"}


async def published(*messages: dict[str, Any]) -> None:
    """Each message through ``push.publish``, from a thread as sync callers do."""
    for each in messages:
        await asyncio.to_thread(push.publish, each)


async def test_a_published_message_reaches_the_mailbox_of_its_rooms_waiter(hub: WakeUpHub) -> None:
    async with hub.subscribe("seam-one", 0) as mailbox, hub.subscribe("seam-other", 0) as other:
        await published(message("seam-one", 1))
        assert await asyncio.wait_for(mailbox.get(), 10) == message("seam-one", 1)
        assert other.items == []  # another room hears nothing


async def test_messages_arrive_in_the_order_they_were_published(hub: WakeUpHub) -> None:
    sent = [message("seam-order", n) for n in range(1, 21)]
    async with hub.subscribe("seam-order", 0) as mailbox:
        await published(*sent)
        assert [await asyncio.wait_for(mailbox.get(), 10) for _ in sent] == sent


async def test_leaving_the_block_unsubscribes(hub: WakeUpHub) -> None:
    async with hub.subscribe("seam-leave", 0) as mailbox:
        assert hub.waiting == 1 and mailbox in hub.waiters["seam-leave"]
    assert hub.waiting == 0 and "seam-leave" not in hub.waiters
    async with hub.subscribe("seam-leave", 0) as later:  # a later waiter hears the next one
        await published(message("seam-leave", 1))
        await asyncio.wait_for(later.get(), 10)
    assert mailbox.items == []  # the one that left heard nothing


async def test_a_waiter_registered_before_the_backlog_read_misses_nothing(hub: WakeUpHub) -> None:
    """Stored after the waiter joined and before it read: the read finds it and its wake-up is
    dropped as already had; stored after the read: the wake-up brings it. Each exactly once."""
    room = "seam-backlog"
    async with hub.subscribe(room, 0) as mailbox:
        first = await chat.apost_message(room=room, author="ann", text="before the read")
        assert await hub.backlog(room, 0) == [first]
        mailbox.cursor = first["id"]
        second = await chat.apost_message(room=room, author="ann", text="after the read")
        assert await hub.next_messages(mailbox, 10) == [second]
        mailbox.cursor = second["id"]
        assert await hub.next_messages(mailbox, 0.2) == []  # nothing else, nothing twice


async def test_a_held_long_poll_is_answered_by_a_post(hub: WakeUpHub) -> None:
    room = "seam-poll"
    poll = asyncio.create_task(
        AsyncClient().get(f"/api/rooms/{room}/messages/wait?after=0&timeout=20")
    )
    await until_waiting(room)
    posted = await chat.apost_message(room=room, author="ann", text="wakes the poll")
    answer = await asyncio.wait_for(poll, 10)
    assert answer.json() == {"messages": [posted], "last_id": posted["id"]}
    assert hub.waiting == 0


async def test_the_check_finds_a_message_stored_without_a_wake_up(hub: WakeUpHub) -> None:
    """``manage.py shell`` or another process stored it and published nothing: the waiter is
    woken at the hub's next check, on every backend."""
    room = "seam-unannounced"
    with override_settings(PUSHLAB_MISSED_WAKEUP_CHECK_S=0.2):
        async with hub.subscribe(room, 0) as mailbox:
            assert await hub.backlog(room, 0) == []
            stored = await database_sync_to_async(chat.store)(room=room, author="shell", text="x")
            assert await hub.next_messages(mailbox, 10) == [stored.message]
    assert hub.checks >= 1


async def test_the_bound_on_held_requests_is_exact(hub: WakeUpHub) -> None:
    """Ten requests arrive at once for three places: exactly three are held, seven refused;
    a place freed is taken by the next one."""
    with override_settings(PUSHLAB_MAX_LONG_POLLS=3):
        joins = await asyncio.gather(
            *(hub.join("seam-bound", 0) for _ in range(10)), return_exceptions=True
        )
        held = [j for j in joins if not isinstance(j, BaseException)]
        refused = [j for j in joins if isinstance(j, chat.ServerBusy)]
        assert (len(held), len(refused), hub.waiting) == (3, 7, 3)
        hub.release(held[0])
        hub.release(held[0])  # a second release changes nothing
        assert hub.waiting == 2
        held[0] = await hub.join("seam-bound", 0)
        with pytest.raises(chat.ServerBusy, match="3 waiting requests"):
            await hub.join("seam-bound", 0)
        for mailbox in held:
            hub.release(mailbox)
    assert hub.waiting == 0 and not hub.waiters


async def test_an_event_stream_that_never_starts_gives_its_place_back(hub: WakeUpHub) -> None:
    """The stream joins the hub in its view, before its body runs: a response dropped before
    its body started (the client left first) still frees the place."""
    from strategies.sse.views import event_stream

    response = await event_stream(AsyncRequestFactory().get("/"), "seam-dropped")
    assert response.status_code == 200 and hub.waiting == 1
    del response
    await until(lambda: hub.waiting == 0, "the dropped stream's place is free")


def test_an_unknown_push_url_scheme_stops_the_start() -> None:
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ValueError, match="memory://"):
        push.backend_for("carrier-pigeon://loft")
    config = apps.get_app_config("lab")
    pigeon = override_settings(PUSHLAB_PUSH_URL="carrier-pigeon://loft")
    with pigeon, pytest.raises(ImproperlyConfigured, match="redis://"):
        config.ready()


def test_the_push_url_defaults_to_the_sites_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHLAB_PUSH_URL", raising=False)
    assert runpy.run_path(str(SETTINGS))["PUSHLAB_PUSH_URL"] == settings.REDIS_URL
    monkeypatch.setenv("PUSHLAB_PUSH_URL", "memory://")
    assert runpy.run_path(str(SETTINGS))["PUSHLAB_PUSH_URL"] == "memory://"
