"""The floor: a bare ASGI app (no Django, no Channels, no Redis) doing pushlab's jobs.

``pushlab bench`` serves it with the same ASGI server as the site and drives it with
the same load (``benchmarks.run.hotpaths``), so each strategy's CPU per request or
delivery can be read as a multiple of the least any Python server could spend:
the framework tax. It answers on pushlab's own paths, from memory:

- ``GET /api/rooms/<room>/messages?after=N``: the messages after N (a short poll);
- every ``wait`` hot path of the registry (``.../messages/wait?after=N&timeout=S``,
  ``.../naive-wait``): held until a message after N exists (the least work for a held
  request is the same wake-up, however the strategy waits);
- every hot path whose row names a floor twin (``HotPath.floor_twin``, e.g. SSE's
  ``.../events?after=N``): served by that twin on this floor's store, which streams the
  messages after N, then each new one, framed once per message (``Floor.stream``);
- ``POST /api/rooms/<room>/messages`` ``{"message": "..."}``: store, wake, stream, broadcast;
- ``ws /ws/chat/<room>/``: every stored message of the room, serialised once per message;
  a ``{"message": "..."}`` frame posts;
- ``GET /chat/<room>/``: an empty page (so clients can join the same way);
- ``GET /api/metrics``: this process's CPU seconds, as ``lab.traffic.snapshot`` names it, and
  ``long_polls_waiting`` (held now), so a test can see a poll held rather than sleep on it.

Run it by hand with ``uvicorn benchmarks.run.floor:app`` or ``daphne benchmarks.run.floor:app``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import resource
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from strategies import STRATEGIES

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Frame = Callable[[int, bytes], bytes]
"""How a stream writes one message: its number and JSON → the bytes on the wire."""
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
STARTED_AT = time.time()


class Floor:
    """The whole state: each room's messages (serialised once), its waiters, sockets and
    streams (by the frame their twin writes, so each frame is made once per message)."""

    def __init__(self) -> None:
        self.messages: defaultdict[str, list[bytes]] = defaultdict(list)
        self.waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self.sockets: defaultdict[str, set[Send]] = defaultdict(set)
        self.streams: defaultdict[str, dict[Frame, set[asyncio.Queue[bytes]]]] = defaultdict(dict)
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

    def to_streams(self, room: str, encoded: bytes) -> None:
        """Each kind of frame made once, queued for every stream of the room that writes it."""
        for frame, queues in self.streams.get(room, {}).items():
            framed = frame(len(self.messages[room]), encoded)
            for queue in queues:
                queue.put_nowait(framed)

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

    async def stream(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        *,
        headers: list[tuple[bytes, bytes]],
        prelude: bytes,
        frame: Frame,
    ) -> None:
        """A floor twin's response: ``prelude`` and the room's messages after the cursor,
        then each new one as ``frame`` writes it, until the client leaves
        (``http.disconnect``). Called by the twin with the scope the floor gave it."""
        room, after = scope["room"], scope["after"]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        queues = self.streams[room].setdefault(frame, set())
        queues.add(queue)  # before the backlog: a post meanwhile is queued, not missed
        gone = asyncio.ensure_future(receive())  # the only event left to come: http.disconnect
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            backlog = self.messages.get(room, [])[after:]
            first = b"".join(frame(after + i + 1, m) for i, m in enumerate(backlog))
            await send({"type": "http.response.body", "body": prelude + first, "more_body": True})
            await self.follow(queue, gone, send)
        finally:
            queues.discard(queue)
            gone.cancel()

    @staticmethod
    async def follow(queue: asyncio.Queue[bytes], gone: asyncio.Future[Any], send: Send) -> None:
        """Send what ``queue`` gets until ``gone`` (the client left)."""
        while True:
            next_frame = asyncio.ensure_future(queue.get())
            await asyncio.wait({next_frame, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                next_frame.cancel()
                return
            await send(
                {"type": "http.response.body", "body": next_frame.result(), "more_body": True}
            )


FLOOR = Floor()


def path_pattern(template: str) -> re.Pattern[str]:
    """A hot path's ``/api/rooms/{room}/events`` as a pattern that captures the room."""
    return re.compile(re.escape(template).replace(re.escape("{room}"), "(?P<room>[^/]+)") + "$")


def load_twin(spec: str) -> App:
    module, _, name = spec.partition(":")
    app: App = getattr(importlib.import_module(module), name)
    return app


WAIT_PATHS = [
    path_pattern(s.hot_path.path)
    for s in STRATEGIES.values()
    if s.hot_path is not None and s.hot_path.load == "wait"
]
"""Every held-request hot path of the registry: the floor holds each the same way."""
TWINS = [
    (path_pattern(s.hot_path.path), load_twin(s.hot_path.floor_twin))
    for s in STRATEGIES.values()
    if s.hot_path is not None and s.hot_path.floor_twin
]
"""Every hot path whose row names a floor twin, and the twin that serves it."""


async def respond(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*(headers or JSON_HEADERS), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


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


async def metrics(send: Send) -> None:
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


async def to_twin(
    twin: App, room: str, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """Hand a twin's hot path to it once the cursor is checked and the (empty) request body
    read, with the floor's store in its scope."""
    after = cursor(parse_qs(scope.get("query_string", b"").decode("latin-1")), room)
    if after is None:
        await respond(send, 400, error("after must be a message id of the room"))
        return
    await read_body(receive)  # the request's body comes first; the twin waits for the rest
    await twin({**scope, "floor": FLOOR, "room": room, "after": after}, receive, send)


async def post(room: str, receive: Receive, send: Send) -> None:
    try:
        text = json.loads(await read_body(receive))["message"]
    except (ValueError, KeyError, TypeError):
        await respond(send, 400, error('the body must be {"message": "..."}'))
        return
    encoded = FLOOR.post(room, str(text))
    FLOOR.to_streams(room, encoded)
    await FLOOR.broadcast(room, encoded)
    await respond(send, 201, encoded)


async def held(room: str, query: dict[str, list[str]], after: int) -> None:
    """Hold a wait until a message after ``after`` exists or its timeout passes."""
    if after < len(FLOOR.messages.get(room, ())):
        return
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    FLOOR.waiters[room].add(woken)
    try:
        await asyncio.wait_for(woken, float(query.get("timeout", ["25"])[0]))
    except TimeoutError:
        FLOOR.waiters[room].discard(woken)


async def messages(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """``/api/rooms/<room>/messages``: a post, a poll, or (on a wait path) a held poll."""
    path, parts = scope["path"], scope["path"].strip("/").split("/")
    if len(parts) == 4 and scope["method"] == "POST":
        await post(parts[2], receive, send)
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    after = cursor(query, parts[2])
    if after is None:
        await respond(send, 400, error("after must be a message id of the room"))
        return
    if any(pattern.match(path) for pattern in WAIT_PATHS):
        await held(parts[2], query, after)
    await respond(send, 200, FLOOR.body_after(parts[2], after))


async def http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    FLOOR.counters["http_opened"] += 1
    parts = scope["path"].strip("/").split("/")
    if parts == ["api", "metrics"]:
        await metrics(send)
        return
    if len(parts) == 2 and parts[0] == "chat":
        await respond(send, 200, b"<!doctype html><title>floor</title>", [])
        return
    for pattern, twin in TWINS:
        if found := pattern.match(scope["path"]):
            await to_twin(twin, found["room"], scope, receive, send)
            return
    if len(parts) not in (4, 5) or parts[:2] != ["api", "rooms"] or parts[3] != "messages":
        await respond(send, 404, error("no such path"))
        return
    if len(parts) == 5 and not any(pattern.match(scope["path"]) for pattern in WAIT_PATHS):
        await respond(send, 404, error("no such path"))
        return
    await messages(scope, receive, send)


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
            FLOOR.to_streams(room, encoded)
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
