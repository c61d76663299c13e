"""The SSE endpoint: ``GET /api/rooms/<room>/events`` (``?after=<id>``, or ``Last-Event-ID``).

Each stored message is one event: ``id:`` is its id, ``data:`` its JSON. The stream
subscribes to the wake-up hub before it reads the backlog (no lost wake-up), fills gaps with
``messages_following`` (the hub's periodic check wakes it for a message stored without a
wake-up reaching this process), and writes a ``: keepalive`` comment after
``PUSHLAB_SSE_KEEPALIVE_S`` without a message. When the client leaves, Django cancels the
response and the ``async with`` releases the subscription.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from lab import chat
from lab.api import ServerBusy, cursor_param, json_errors
from lab.chat import ChatError
from lab.wakeups import current_hub

RECONNECT_MS = 1000
"""Sent as ``retry:``: how long ``EventSource`` waits before it reconnects by itself."""


def event(message: chat.ChatMessage) -> bytes:
    """One SSE event; ``json.dumps`` never writes a newline, so ``data:`` is one line."""
    return f"id: {message['id']}\ndata: {json.dumps(message)}\n\n".encode()


def resume_cursor(request: HttpRequest, newest: int) -> int:
    """``Last-Event-ID`` (``EventSource`` reconnecting) if sent, else ``?after=``; either way a
    message id of the room, from 0 to its newest, as for every cursor of the API. Checked
    before the stream starts, so a bad one is still a JSON 400."""
    resumed = request.headers.get("Last-Event-ID")
    if resumed is None:
        after, name = cursor_param(request), "after"
    elif resumed.isascii() and resumed.isdigit():
        after, name = int(resumed), "Last-Event-ID"
    else:
        raise ChatError(f"Last-Event-ID must be a message id, not {resumed[:40]!r}")
    if after > newest:
        raise ChatError(f"{name} {after} is beyond this room's newest message id ({newest})")
    return after


async def events(room: str, after: int) -> AsyncIterator[bytes]:
    """The stream's body: what the client missed, then each new message as it is stored."""
    cursor = after
    yield f"retry: {RECONNECT_MS}\n\n".encode()  # also sends the headers through at once
    async with current_hub().subscribe(room, cursor) as wakeups:
        messages = await chat.amessages_after(room, cursor)
        while True:
            for message in messages:
                yield event(message)
                cursor = wakeups.cursor = message["id"]
            if len(messages) >= settings.PUSHLAB_PAGE_LIMIT:  # a long backlog: its next page
                messages = await chat.amessages_after(room, cursor)
                continue
            try:
                async with asyncio.timeout(settings.PUSHLAB_SSE_KEEPALIVE_S):
                    incoming = await wakeups.get()
            except TimeoutError:
                yield b": keepalive\n\n"
                messages = []
                continue
            messages = await chat.amessages_following(room, cursor, incoming)


@json_errors
async def event_stream(request: HttpRequest, room: str) -> HttpResponse:
    """Check everything that can be refused with a JSON 4xx/503, then start the stream.

    The bound is checked as the request arrives, before the stream subscribes: streams
    starting in the same instant may pass it together, by a few."""
    if request.method != "GET":
        return JsonResponse({"error": "only GET is allowed here"}, status=405)
    room = chat.validate_room_name(room)
    after = resume_cursor(request, await chat.alast_message_id(room))
    if current_hub().waiting >= settings.PUSHLAB_MAX_LONG_POLLS:
        raise ServerBusy(
            f"this server holds {settings.PUSHLAB_MAX_LONG_POLLS} waiting requests already"
        )
    response = StreamingHttpResponse(events(room, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
