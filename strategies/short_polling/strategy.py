"""Short polling: the client asks "anything after id N?" every ``poll_interval_ms``.

There is no server side of its own: it uses the shared ``GET /api/rooms/<room>/messages``,
and nothing is pushed, so ``publisher`` keeps the base class's ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.html import format_html

from strategies.base import HotPath, Prediction, Strategy, measured, sends_per_client_per_min


class ShortPolling(Strategy):
    key = "short-polling"
    title = "Short polling"
    colour = "#d62728"
    summary = "The browser asks for new messages every poll interval, whether or not any exist."
    client_script = "strategies/short-polling.js"
    locust_user = "strategies.short_polling.locust_user:ShortPollingUser"
    test_receiver = "tests.clients:ShortPollingReceiver"
    healthy_state = "polling"
    hot_path = HotPath(job="poll", load="poll", path="/api/rooms/{room}/messages", unit="request")
    capacity_driver = "polls"
    settings = {"PUSHLAB_POLL_INTERVAL_MS": 1000}
    """How often the browser client asks for new messages."""
    titles = {"ru": "Короткий опрос"}
    capacity_reason = {
        "en": "pays for every client every interval whether or not anyone writes: requests per "
        "second = clients / interval, so its limit is one core divided by the CPU of one poll. "
        "In busy rooms every client also posts about every 5 s, and a post costs the server "
        "several polls, so the same core holds fewer clients there.",
        "ru": "платит за каждого клиента каждый интервал, пишет кто-нибудь или нет: запросов в "
        "секунду = клиентов / интервал, поэтому его предел — ядро, делённое на CPU одного "
        "опроса. В оживлённых комнатах каждый клиент ещё и пишет примерно раз в 5 с, а одна "
        "отправка стоит серверу нескольких опросов, поэтому там то же ядро держит меньше "
        "клиентов.",
    }

    def page_config(self) -> dict[str, Any]:
        return {"pollIntervalMs": settings.PUSHLAB_POLL_INTERVAL_MS}

    def page_hint(self) -> str:
        return format_html(
            'Polling every <strong id="poll-interval">{}</strong> ms.',
            settings.PUSHLAB_POLL_INTERVAL_MS,
        )

    def latency_allowance_ms(self, config: Mapping[str, Any]) -> float:
        """A message may wait a whole poll interval for the next poll."""
        return measured(config, "poll_interval_ms") or 0.0

    def predictions(self, config: Mapping[str, Any], result: Mapping[str, Any]) -> list[Prediction]:
        """One request per poll interval whether or not anyone writes (plus the client's own
        sends), and a message waits half an interval on average for the next poll."""
        interval = measured(config, "poll_interval_ms")
        if not interval:
            return []
        polls = 60_000 / interval
        sends = sends_per_client_per_min(result)
        rate = polls + sends
        own_sends = f" plus the client's own {sends:.3g} sends" if sends else ""
        return [
            Prediction(
                figure="http_requests_per_client_per_min",
                value=rate,
                tolerance=0.2 * rate,
                because=f"one poll every {interval:g} ms ({polls:.3g}){own_sends}",
                label=f"{self.title}: one poll every {interval:g} ms{own_sends}",
            ),
            Prediction(
                figure="delivery_ms.p50",
                value=interval / 2,
                tolerance=interval / 4,
                because="a message waits on average half a poll interval for the next poll "
                f"({interval:g} / 2)",
                label=f"{self.title}: half a poll interval, {interval / 2:g} ms",
            ),
        ]
