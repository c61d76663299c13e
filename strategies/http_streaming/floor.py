"""HTTP streaming's floor twin: the least work a bare ASGI app can do to serve its stream.

``benchmarks.run.floor`` mounts it on this strategy's hot path (its row's ``HotPath``) and
hands it the floor's store as ``scope["floor"]``, the room and the checked cursor: it only
says how a message is framed (one line of JSON), so it imports nothing of the benchmark.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

HEADERS = [(b"content-type", b"application/x-ndjson"), (b"cache-control", b"no-cache")]


def frame(number: int, encoded: bytes) -> bytes:
    """One message as one line (made once a message)."""
    return encoded + b"\n"


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """The room's messages after the cursor, a line each, then each new one, until the
    client leaves."""
    await scope["floor"].stream(scope, receive, send, headers=HEADERS, prelude=b"\n", frame=frame)
