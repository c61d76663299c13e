"""The SSE endpoint: ``GET /api/rooms/<room>/events`` (``?after=<id>``, or ``Last-Event-ID``).

Each stored message is one event: ``id:`` is its id, ``data:`` its JSON. The stream
joins the wake-up hub before it reads the backlog (no lost wake-up) and waits with the hub's
helpers, as a long poll does (``WakeUpHub.backlog``, ``next_messages``: gaps are filled from
the database, and the hub's periodic check wakes it for a message stored without a wake-up
reaching this process); it writes a ``: keepalive`` comment after
``PUSHLAB_SSE_KEEPALIVE_S`` without a message. When the client leaves, Django cancels the
response and the body's ``finally`` releases its place on the hub.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from lab import chat
from lab.api import cursor_param, held_stream, json_errors
from lab.chat import ChatError
from lab.inputs import whole_number
from lab.wakeups import Mailbox, WakeUpHub, current_hub

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
    else:
        after, name = whole_number(resumed, "Last-Event-ID"), "Last-Event-ID"
    if after > newest:
        raise ChatError(f"{name} {after} is beyond this room's newest message id ({newest})")
    return after


async def events(hub: WakeUpHub, mailbox: Mailbox) -> AsyncIterator[bytes]:
    """The stream's body, on a mailbox joined before the stream started: what the client
    missed, then each new message as it is stored, and a keepalive after
    ``PUSHLAB_SSE_KEEPALIVE_S`` without one."""
    keepalive_s = settings.PUSHLAB_SSE_KEEPALIVE_S
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode()  # also sends the headers through at once
        messages = await hub.backlog(mailbox.room, mailbox.cursor)
        while True:
            for message in messages:
                yield event(message)
                mailbox.cursor = message["id"]
            if len(messages) >= settings.PUSHLAB_PAGE_LIMIT:  # a long backlog: its next page
                messages = await hub.backlog(mailbox.room, mailbox.cursor)
            elif not (messages := await hub.next_messages(mailbox, keepalive_s)):
                yield b": keepalive\n\n"
    finally:
        hub.release(mailbox)


@json_errors
async def event_stream(request: HttpRequest, room: str) -> HttpResponse:
    """Check everything that can be refused with a JSON 4xx/503, then start the stream.

    The stream joins the hub here, before its headers go out, so the bound on held requests
    is checked exactly as for a long poll (``WakeUpHub.join``) and still answered with a JSON
    503. Its body releases the place when it ends; a body that never starts (the client left
    first) releases it when it is dropped (``lab.api.held_stream``)."""
    if request.method != "GET":
        return JsonResponse({"error": "only GET is allowed here"}, status=405)
    room = chat.validate_room_name(room)
    after = resume_cursor(request, await chat.alast_message_id(room))
    hub = current_hub()
    mailbox = await hub.join(room, after)
    return held_stream(events(hub, mailbox), "text/event-stream", hub, mailbox)
