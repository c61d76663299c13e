"""SSE's floor twin: the least work a bare ASGI app can do to serve an event stream.

``benchmarks.run.floor`` mounts it on this strategy's hot path (its row's ``HotPath``) and
hands it the floor's store as ``scope["floor"]``, the room and the checked cursor: it only
says how a message is framed, so it imports nothing of the benchmark.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
PRELUDE = b"retry: 1000\n\n"


def frame(number: int, encoded: bytes) -> bytes:
    """One event: ``id:`` the message's number, ``data:`` its JSON (made once a message)."""
    return b"id: %d\ndata: %s\n\n" % (number, encoded)


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """The room's messages after the cursor as events, then each new one, until the client
    leaves."""
    await scope["floor"].stream(scope, receive, send, headers=HEADERS, prelude=PRELUDE, frame=frame)
