"""Naive long polling, the lecture's first idea: the same HTTP contract as long polling, but
the held request waits by asking the database "anything after N?" every
``PUSHLAB_NAIVE_POLL_MS`` instead of being woken up. It is here to be measured, not used:
the empty HTTP requests of short polling become empty database queries on the server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import URLPattern, path
from django.utils.html import format_html

from strategies.base import HotPath, Prediction, Strategy, measured


class NaiveLongPolling(Strategy):
    key = "naive-long-polling"
    title = "Naive long polling"
    colour = "#8c564b"
    summary = (
        "The lecture's loop: the server asks the database every 100 ms until a message exists. "
        "Here to be measured, not used."
    )
    client_script = "strategies/naive-long-polling.js"
    locust_user = "strategies.naive_long_polling.locust_user:NaiveLongPollingUser"
    test_receiver = "tests.test_naive_long_polling:NaiveLongPollingReceiver"
    healthy_state = "waiting"
    hot_path = HotPath(
        job="naive-long-poll", load="wait", path="/api/rooms/{room}/messages/naive-wait"
    )
    """The floor's least work for this job is the same held request as long polling's."""
    capacity_driver = "checks"
    titles = {"ru": "Наивный длинный опрос"}
    capacity_reason = {
        "en": "asks the database every `PUSHLAB_NAIVE_POLL_MS` for every waiting client, so "
        "its clients cost the server even when nobody writes.",
        "ru": "спрашивает базу каждые `PUSHLAB_NAIVE_POLL_MS` за каждого ждущего клиента, так "
        "что его клиенты нагружают сервер, даже когда никто не пишет.",
    }
    in_quick_profile = False  # five strategies took ~4.3 min on 2 cores; measured in full
    settings = {"PUSHLAB_NAIVE_POLL_MS": 100}
    """How often a waiting request asks the database for messages after its cursor."""

    def http_urls(self) -> list[URLPattern]:
        from strategies.naive_long_polling.views import wait_by_asking

        return [path("rooms/<str:room>/messages/naive-wait", wait_by_asking, name="messages-naive")]

    def page_config(self) -> dict[str, Any]:
        return {"longPollTimeoutS": settings.PUSHLAB_LONG_POLL_TIMEOUT_S}

    def page_hint(self) -> str:
        return format_html(
            "<strong>Here to be measured, not used:</strong> while this page waits, the server "
            'asks the database for new messages every <strong id="naive-poll">{}</strong> ms.',
            settings.PUSHLAB_NAIVE_POLL_MS,
        )

    def predictions(self, config: Mapping[str, Any], result: Mapping[str, Any]) -> list[Prediction]:
        """A waiting request asks the database once per poll interval, messages or not."""
        poll_ms = measured(config, "naive_poll_ms") or settings.PUSHLAB_NAIVE_POLL_MS
        per_minute = 60_000 / poll_ms
        return [
            Prediction(
                figure="db_queries_per_client_per_min",
                value=per_minute,
                tolerance=0.3 * per_minute,
                because=f"one database query every {poll_ms:g} ms while a request waits "
                f"({per_minute:.3g} a minute)",
                label=f"{self.title}: one query every {poll_ms:g} ms",
            )
        ]
