"""The registry: the one table of strategies that URLs, pages, benchmarks, charts and docs use.

Adding a strategy means one new package and one row here.
"""

from __future__ import annotations

from strategies.base import Strategy
from strategies.http_streaming.strategy import HttpStreaming
from strategies.long_polling.strategy import LongPolling
from strategies.naive_long_polling.strategy import NaiveLongPolling
from strategies.short_polling.strategy import ShortPolling
from strategies.sse.strategy import ServerSentEvents
from strategies.websocket.strategy import WebSocket

STRATEGIES: dict[str, Strategy] = {
    strategy.key: strategy
    for strategy in (
        ShortPolling(),
        LongPolling(),
        WebSocket(),
        ServerSentEvents(),
        NaiveLongPolling(),
        HttpStreaming(),
    )
}
DEFAULT_STRATEGY = "websocket"  # the lecture's

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "Strategy"]
