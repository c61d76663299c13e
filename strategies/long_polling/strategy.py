"""Long polling: the client asks "anything after id N?" and the server holds the answer
until a message exists or the timeout passes; the client asks again at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import URLPattern, path

from strategies.base import HotPath, Strategy

if TYPE_CHECKING:
    from lab.push import Publisher


class LongPolling(Strategy):
    key = "long-polling"
    title = "Long polling"
    colour = "#1f77b4"
    summary = (
        "The server holds each request open until a message arrives, then the browser re-asks."
    )
    client_script = "strategies/long-polling.js"
    locust_user = "strategies.long_polling.locust_user:LongPollingUser"
    test_receiver = "tests.clients:LongPollingReceiver"
    healthy_state = "waiting"
    hot_path = HotPath(job="long-poll", load="wait", path="/api/rooms/{room}/messages/wait")
    capacity_driver = "requests per delivery"
    titles = {"ru": "Длинный опрос"}
    capacity_reason = {
        "en": "costs almost nothing while a room is quiet (one held request per client, "
        "renewed at the timeout), but in a busy room every delivery ends a held request and "
        "costs a new one: one HTTP request per delivery.",
        "ru": "в тихой комнате почти ничего не стоит (один удержанный запрос на клиента, "
        "который обновляется по тайм-ауту), но в оживлённой каждая доставка завершает "
        "удержанный запрос и стоит нового: один HTTP-запрос на доставку.",
    }

    def page_config(self) -> dict[str, Any]:
        return {"longPollTimeoutS": settings.PUSHLAB_LONG_POLL_TIMEOUT_S}

    def http_urls(self) -> list[URLPattern]:
        from strategies.long_polling.views import wait_for_messages

        return [path("rooms/<str:room>/messages/wait", wait_for_messages, name="messages-wait")]

    def publisher(self) -> Publisher:
        from lab.push import WAKE_UPS

        return WAKE_UPS
