"""HTTP streaming: one held HTTP response per client whose body never ends; the server writes
each message to it as one line of JSON (newline-delimited JSON), and the browser reads it with
``fetch`` and a ``ReadableStream``. Centrifugo's unidirectional HTTP stream is the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import URLPattern, path

from strategies.base import HotPath, Strategy

if TYPE_CHECKING:
    from lab.push import Publisher


class HttpStreaming(Strategy):
    key = "http-streaming"
    title = "HTTP streaming"
    colour = "#ff7f0e"
    summary = (
        "One never-ending HTTP response per browser; the server writes each message as a line."
    )
    client_script = "strategies/http-streaming.js"
    locust_user = "strategies.http_streaming.locust_user:HttpStreamingUser"
    test_receiver = "tests.test_http_streaming:LineStreamReceiver"
    healthy_state = "streaming"
    hot_path = HotPath(
        job="ndjson-stream",
        load="stream",
        path="/api/rooms/{room}/stream",
        delivery_line='{"id"',
        floor_twin="strategies.http_streaming.floor:app",
    )
    titles = {"ru": "HTTP-стриминг"}
    capacity_reason = {
        "en": "pays per delivery, a line down a response already open, like Server-Sent "
        "Events, so deliveries per second set its limit, not the number of idle clients; "
        "memory per connection is what caps idle ones.",
        "ru": "платит за доставку — строку в уже открытый ответ, как Server-Sent Events, "
        "поэтому его предел задаёт число доставок в секунду, а не число молчащих клиентов; "
        "молчащих ограничивает память на соединение.",
    }
    in_quick_profile = False  # like SSE in what it measures; make bench stays within its time
    settings = {"PUSHLAB_STREAM_KEEPALIVE_S": 15.0}
    """Seconds without a message before the stream writes an empty line, so proxies and idle
    timeouts do not close it and a client that left is noticed on the next write."""

    def http_urls(self) -> list[URLPattern]:
        from strategies.http_streaming.views import line_stream

        return [path("rooms/<str:room>/stream", line_stream, name="messages-stream")]

    def publisher(self) -> Publisher:
        """The hub's wake-ups, shared with long polling and SSE (published once a message)."""
        from lab.push import WAKE_UPS

        return WAKE_UPS

    def page_config(self) -> dict[str, Any]:
        return {"streamKeepaliveS": settings.PUSHLAB_STREAM_KEEPALIVE_S}
