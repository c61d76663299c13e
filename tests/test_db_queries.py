"""Database work as a measured figure: the server counts every SQL statement it runs
(``lab.traffic``'s ``db_queries``, on ``/api/metrics``), so the benchmark can put naive long
polling's empty storage requests beside long polling's idle silence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import AsyncClient, override_settings
from django.test.utils import CaptureQueriesContext

from lab import chat, traffic
from lab.models import Room

pytestmark = pytest.mark.django_db(transaction=True)


def queries_so_far() -> int:
    return int(traffic.COUNTERS["db_queries"])


def test_every_statement_is_counted_and_shown_on_the_metrics_page(client) -> None:
    before = queries_so_far()
    Room.objects.filter(name="nobody").exists()
    Room.objects.filter(name="nobody").exists()
    assert queries_so_far() - before == 2
    assert "db_queries" in client.get("/api/metrics").json()


def data_statements(run: Callable[[], object]) -> list[str]:
    """The SQL ``run`` sends, less the transaction's own (BEGIN, SAVEPOINT, ROLLBACK ...)."""
    with CaptureQueriesContext(connection) as captured:
        run()
    transactional = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(transactional)]


def test_a_new_message_costs_two_statements_and_a_repeat_stores_nothing() -> None:
    """The post path's database work: the room's counter bumped (its id returned in the same
    statement) and the insert. A repeat of a client_id adds only the read of the stored one."""
    chat.post_message(room="post-db", author="ann", text="first")  # creates the room
    new = data_statements(lambda: chat.post(room="post-db", author="a", text="2", client_id="c2"))
    assert [sql.split()[0] for sql in new] == ["UPDATE", "INSERT"]
    repeat = data_statements(
        lambda: chat.post(room="post-db", author="a", text="2", client_id="c2")
    )
    assert [sql.split()[0] for sql in repeat] == ["UPDATE", "INSERT", "SELECT"]
    assert chat.last_message_id("post-db") == 2  # the repeat's bump was rolled back


async def idle_wait_queries(path: str) -> int:
    """Queries the server ran while one request waited 1 s in an idle room."""
    await chat.apost_message(room="idle-db", author="ann", text="already read")
    before = queries_so_far()
    answer = await AsyncClient().get(f"/api/rooms/idle-db/messages/{path}?after=1&timeout=1")
    assert answer.status_code == 200 and answer.json()["messages"] == []
    return queries_so_far() - before


async def test_a_naive_long_poll_asks_the_database_once_per_poll_interval_while_idle() -> None:
    with override_settings(PUSHLAB_NAIVE_POLL_MS=100):
        asked = await idle_wait_queries("naive-wait")
    assert 7 <= asked <= 14, asked  # 1 s / 100 ms, plus the first read


async def test_a_long_poll_waits_without_asking_the_database() -> None:
    assert await idle_wait_queries("wait") == 1  # the first read; the hub knows the rest


async def test_a_long_poll_by_a_client_holding_the_newest_id_reads_nothing() -> None:
    """The first poll reads the backlog; once it found nothing, the process's hub knows the
    room's newest id, and the next poll skips the read, and the last look at its timeout too."""
    assert await idle_wait_queries("wait") == 1
    before = queries_so_far()
    answer = await AsyncClient().get("/api/rooms/idle-db/messages/wait?after=1&timeout=1")
    assert answer.status_code == 200 and answer.json()["messages"] == []
    assert queries_so_far() - before == 0
    await chat.apost_message(room="idle-db", author="bob", text="new")  # heard by the hub
    answer = await AsyncClient().get("/api/rooms/idle-db/messages/wait?after=1&timeout=5")
    assert [m["message"] for m in answer.json()["messages"]] == ["new"]  # read, not skipped


async def test_a_long_poll_reads_at_its_timeout_while_posts_publish_no_wakeups() -> None:
    """A benchmark of WebSockets alone publishes no wake-ups: the hub hears nothing, so it
    knows nothing, and a long poll's last look finds the message its wake-up never brought."""
    with override_settings(PUSHLAB_PUBLISH_ONLY=("websocket",)):
        assert await idle_wait_queries("wait") == 2  # the first read and the last look
        await chat.apost_message(room="idle-db", author="bob", text="unannounced")
        answer = await AsyncClient().get("/api/rooms/idle-db/messages/wait?after=1&timeout=1")
    assert [m["message"] for m in answer.json()["messages"]] == ["unannounced"]


def test_the_hub_forgets_what_it_knew_when_its_subscription_breaks_or_returns() -> None:
    from lab.push import backend_for
    from lab.wakeups import WakeUpHub

    hub = WakeUpHub(backend_for("redis://unused"))
    hub._subscribed.set()
    hub.learned("room", 5, hub.generation)
    assert hub.known_newest("room") == 5 and hub.known_newest("other") is None
    stale = hub.generation
    hub.forget()
    assert hub.known_newest("room") is None
    hub.learned("room", 5, stale)  # read before the break: not trusted
    assert hub.known_newest("room") is None
    hub._subscribed.clear()
    hub.learned("room", 5, hub.generation)  # no live subscription: nothing is heard
    assert hub.known_newest("room") is None
