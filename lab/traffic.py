"""Counts what this server process puts on the wire, for the benchmark's per-delivery costs.

An ASGI middleware around the whole site. It counts HTTP requests and WebSocket
connections and the bytes the server sends: the status line, headers and body of
every HTTP response, and every WebSocket frame (payload plus frame header).
``GET /api/metrics`` reads the counters; the benchmark diffs them around a run.
``db_queries`` counts every SQL statement this process sends to the database (an execute
wrapper on every connection, installed when the connection opens), so "empty storage
requests" are a measured figure like empty HTTP requests.
"""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope

ASGIApp = Any

COUNTERS: Counter[str] = Counter()
ROUTES: Counter[str] = Counter()
"""Requests and sockets opened per route (``GET /api/rooms/[room]/messages/wait``): the live
server panel tells the techniques apart by their routes, without the core knowing them."""
STARTED_AT = time.time()


def route_of(scope: Scope) -> str | None:
    """``METHOD /api/rooms/[room]/rest`` for the API and ``WS /ws/chat/[room]/`` for sockets;
    None for pages and static files (not a technique's traffic)."""
    path = str(scope.get("path", ""))
    parts = path.split("/")
    if not path.startswith(("/api/rooms/", "/ws/chat/")) or len(parts) <= 3:
        return None
    parts[3] = "[room]"
    method = str(scope.get("method", "GET")) if scope["type"] == "http" else "WS"
    return f"{method} {'/'.join(parts)}"


def websocket_frame_header_bytes(payload_length: int) -> int:
    """RFC 6455: 2 bytes, plus 2 or 8 for longer payloads (server frames are not masked)."""
    if payload_length < 126:
        return 2
    return 4 if payload_length < 65536 else 10


class TrafficMeter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        COUNTERS[f"{kind}_opened"] += 1
        COUNTERS[f"{kind}_open"] += 1
        if (route := route_of(scope)) is not None:
            ROUTES[route] += 1

        async def counting_send(event: Any) -> None:
            COUNTERS[f"{kind}_bytes_sent"] += event_bytes(event)
            await send(event)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            COUNTERS[f"{kind}_open"] -= 1


def count_db_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """A ``connection.execute_wrapper``: count one statement, then run it."""
    COUNTERS["db_queries"] += 1
    return execute(sql, params, many, context)


def install_query_counter(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: count this connection's statements (once, however
    often the same connection object reconnects)."""
    if count_db_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_db_query)


def event_bytes(event: dict[str, Any]) -> int:
    kind = event["type"]
    if kind == "http.response.start":
        headers = sum(len(k) + len(v) + 4 for k, v in event.get("headers", ()))
        return len("HTTP/1.1 200 OK\r\n\r\n") + headers
    if kind == "http.response.body":
        return len(event.get("body", b""))
    if kind == "websocket.send":
        payload = event.get("bytes") or (event.get("text") or "").encode()
        return len(payload) + websocket_frame_header_bytes(len(payload))
    return 0


def snapshot() -> dict[str, Any]:
    """The counters plus this process's CPU time and peak memory."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        **COUNTERS,
        "pid": os.getpid(),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "uptime_s": time.time() - STARTED_AT,
        "opened_by_route": dict(ROUTES),
    }
