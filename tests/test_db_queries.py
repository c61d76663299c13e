"""Database work as a measured figure: the server counts every SQL statement it runs
(``lab.traffic``'s ``db_queries``, on ``/api/metrics``), so the benchmark can put naive long
polling's empty storage requests beside long polling's idle silence."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, override_settings

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
    assert await idle_wait_queries("wait") <= 3  # the first read and the last look
