"""The floor: a bare ASGI app (no Django, no Channels, no Redis) doing pushlab's jobs.

``pushlab bench`` serves it with the same ASGI server as the site and drives it with
the same load (``benchmarks.run.hotpaths``), so each strategy's CPU per request or
delivery can be read as a multiple of the least any Python server could spend:
the framework tax. It answers on pushlab's own paths, from memory:

- ``GET /api/rooms/<room>/messages?after=N``: the messages after N (a short poll);
- ``GET /api/rooms/<room>/messages/wait?after=N&timeout=S``: held until one exists (also at
  ``.../naive-wait``: the least work for that job is the same wake-up, not a loop);
- ``GET /api/rooms/<room>/events?after=N``: a Server-Sent Events stream of the messages after
  N, then of each new one as it is posted (an event made once per message);
- ``POST /api/rooms/<room>/messages`` ``{"message": "..."}``: store, wake, broadcast;
- ``ws /ws/chat/<room>/``: every stored message of the room, serialised once per message;
  a ``{"message": "..."}`` frame posts;
- ``GET /chat/<room>/``: an empty page (so clients can join the same way);
- ``GET /api/metrics``: this process's CPU seconds, as ``lab.traffic.snapshot`` names it, and
  ``long_polls_waiting`` (held now), so a test can see a poll held rather than sleep on it.

Run it by hand with ``uvicorn benchmarks.run.floor:app`` or ``daphne benchmarks.run.floor:app``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
STARTED_AT = time.time()


class Floor:
    """The whole state: each room's messages (serialised once), its waiters and sockets."""

    def __init__(self) -> None:
        self.messages: defaultdict[str, list[bytes]] = defaultdict(list)
        self.waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self.sockets: defaultdict[str, set[Send]] = defaultdict(set)
        self.streams: defaultdict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)
        self.counters: defaultdict[str, int] = defaultdict(int)

    def post(self, room: str, text: str) -> bytes:
        """Store a message, wake the room's long polls, return it serialised."""
        stored = self.messages[room]
        message = {
            "id": len(stored) + 1,
            "room": room,
            "author": "floor",
            "message": text,
            "created_at": datetime.now(UTC).isoformat(),
        }
        encoded = json.dumps(message).encode()
        stored.append(encoded)
        for waiter in self.waiters.pop(room, ()):
            if not waiter.done():
                waiter.set_result(None)
        return encoded

    def stream(self, room: str, encoded: bytes) -> None:
        """One SSE event, made once, queued for every stream of the room."""
        if streams := self.streams.get(room):
            event = sse_event(len(self.messages[room]), encoded)
            for queue in streams:
                queue.put_nowait(event)

    async def broadcast(self, room: str, encoded: bytes) -> None:
        """One frame, made once, sent to every socket of the room."""
        frame = {"type": "websocket.send", "text": encoded.decode()}
        for send in list(self.sockets.get(room, ())):
            try:
                await send(frame)
            except Exception:  # a socket closing under us: the others still get it
                self.sockets[room].discard(send)

    def body_after(self, room: str, after: int) -> bytes:
        stored = self.messages.get(room, [])
        last_id = len(stored) if after < len(stored) else after
        return b'{"messages":[%s],"last_id":%d}' % (b",".join(stored[after:]), last_id)


FLOOR = Floor()


async def respond(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*(headers or JSON_HEADERS), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def sse_event(number: int, encoded: bytes) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (number, encoded)


async def event_stream(room: str, after: int, receive: Receive, send: Send) -> None:
    """The room's messages after ``after`` as events, then each new one, until the client
    leaves (``http.disconnect``)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    backlog = FLOOR.messages.get(room, [])[after:]
    first = b"".join(sse_event(after + i + 1, m) for i, m in enumerate(backlog))
    await send(
        {"type": "http.response.body", "body": b"retry: 1000\n\n" + first, "more_body": True}
    )
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    FLOOR.streams[room].add(queue)
    await read_body(receive)  # the request's (empty) body comes first
    gone = asyncio.ensure_future(receive())  # the only event left to come: http.disconnect
    try:
        while True:
            next_event = asyncio.ensure_future(queue.get())
            await asyncio.wait({next_event, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                next_event.cancel()
                return
            await send(
                {"type": "http.response.body", "body": next_event.result(), "more_body": True}
            )
    finally:
        FLOOR.streams[room].discard(queue)
        gone.cancel()


def error(text: str) -> bytes:
    return json.dumps({"error": text}).encode()


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


def cursor(query: dict[str, list[str]], room: str) -> int | None:
    """``after`` if it is a whole number not beyond the room's newest id, else None."""
    raw = query.get("after", ["0"])[0]
    if not raw.isdigit() or int(raw) > len(FLOOR.messages.get(room, ())):
        return None
    return int(raw)


async def http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    FLOOR.counters["http_opened"] += 1
    parts = scope["path"].strip("/").split("/")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if parts == ["api", "metrics"]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        snapshot = {
            **FLOOR.counters,
            "pid": os.getpid(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
            "uptime_s": time.time() - STARTED_AT,
            "long_polls_waiting": sum(len(waiters) for waiters in FLOOR.waiters.values()),
        }
        await respond(send, 200, json.dumps(snapshot).encode())
        return
    if len(parts) == 2 and parts[0] == "chat":
        await respond(send, 200, b"<!doctype html><title>floor</title>", [])
        return
    if len(parts) == 4 and parts[:2] == ["api", "rooms"] and parts[3] == "events":
        after = cursor(query, parts[2])
        if after is None:
            await respond(send, 400, error("after must be a message id of the room"))
            return
        await event_stream(parts[2], after, receive, send)
        return
    if len(parts) not in (4, 5) or parts[:2] != ["api", "rooms"] or parts[3] != "messages":
        await respond(send, 404, error("no such path"))
        return
    room = parts[2]
    if len(parts) == 4 and scope["method"] == "POST":
        try:
            text = json.loads(await read_body(receive))["message"]
        except (ValueError, KeyError, TypeError):
            await respond(send, 400, error('the body must be {"message": "..."}'))
            return
        encoded = FLOOR.post(room, str(text))
        FLOOR.stream(room, encoded)
        await FLOOR.broadcast(room, encoded)
        await respond(send, 201, encoded)
        return
    after = cursor(query, room)
    if after is None:
        await respond(send, 400, error("after must be a message id of the room"))
        return
    nothing_new = after >= len(FLOOR.messages.get(room, ()))
    if len(parts) == 5 and parts[4] in ("wait", "naive-wait") and nothing_new:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        FLOOR.waiters[room].add(woken)
        try:
            await asyncio.wait_for(woken, float(query.get("timeout", ["25"])[0]))
        except TimeoutError:
            FLOOR.waiters[room].discard(woken)
    await respond(send, 200, FLOOR.body_after(room, after))


async def websocket(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    parts = scope["path"].strip("/").split("/")
    if len(parts) != 3 or parts[:2] != ["ws", "chat"]:
        await send({"type": "websocket.close", "code": 1008})
        return
    room = parts[2]
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            FLOOR.sockets[room].add(send)
        elif event["type"] == "websocket.receive":
            try:
                text = json.loads(event.get("text") or "")["message"]
            except (ValueError, KeyError, TypeError):
                await send({"type": "websocket.send", "text": error("bad frame").decode()})
                continue
            encoded = FLOOR.post(room, str(text))
            FLOOR.stream(room, encoded)
            await FLOOR.broadcast(room, encoded)
        else:  # websocket.disconnect
            FLOOR.sockets[room].discard(send)
            return


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "websocket":
        await websocket(scope, receive, send)
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
