"""Server-Sent Events: one held HTTP response per client; the server writes each message to it
as an event, and the browser's ``EventSource`` resumes with ``Last-Event-ID`` by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import URLPattern, path

from strategies.base import HotPath, Strategy

if TYPE_CHECKING:
    from lab.push import Publisher


class ServerSentEvents(Strategy):
    key = "sse"
    title = "Server-Sent Events"
    colour = "#9467bd"
    summary = "One held HTTP response per browser; the server writes each message as an event."
    client_script = "strategies/sse.js"
    locust_user = "strategies.sse.locust_user:ServerSentEventsUser"
    test_receiver = "tests.test_sse:EventStreamReceiver"
    healthy_state = "streaming"
    hot_path = HotPath(
        job="stream",
        load="stream",
        path="/api/rooms/{room}/events",
        delivery_line="data:",
        floor_twin="strategies.sse.floor:app",
    )
    capacity_reason = {
        "en": "pays per delivery, an event down a response already open, so deliveries per "
        "second set its limit, not the number of idle clients; memory per connection is what "
        "caps idle ones.",
        "ru": "платят за доставку — событие в уже открытый ответ, поэтому их предел задаёт "
        "число доставок в секунду, а не число молчащих клиентов; молчащих ограничивает память "
        "на соединение.",
    }
    settings = {"PUSHLAB_SSE_KEEPALIVE_S": 15.0}
    """Seconds without a message before the stream sends a ``: keepalive`` comment, so proxies
    and idle timeouts do not close it and a client that left is noticed on the next write."""

    def http_urls(self) -> list[URLPattern]:
        from strategies.sse.views import event_stream

        return [path("rooms/<str:room>/events", event_stream, name="messages-events")]

    def publisher(self) -> Publisher:
        """The hub's wake-ups, shared with long polling (published once a message)."""
        from lab.push import WAKE_UPS

        return WAKE_UPS

    def page_config(self) -> dict[str, Any]:
        return {"sseKeepaliveS": settings.PUSHLAB_SSE_KEEPALIVE_S}
