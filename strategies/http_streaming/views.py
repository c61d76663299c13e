"""The HTTP-streaming endpoint: ``GET /api/rooms/<room>/stream?after=<id>``.

The body is newline-delimited JSON (``application/x-ndjson``) that never ends: each stored
message is one line, its JSON (``json.dumps`` writes no newline, so a line is a message),
and an empty line follows ``PUSHLAB_STREAM_KEEPALIVE_S`` quiet seconds. The client resumes
with ``?after=`` its newest id; there is no ``Last-Event-ID`` and no ``retry:``, the
client's own code reconnects. The stream joins the wake-up hub before its headers go out
(the bound on held requests, a JSON 503) and waits with the hub's helpers, as SSE does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from lab import chat
from lab.api import cursor_param, held_stream, json_errors
from lab.wakeups import Mailbox, WakeUpHub, current_hub

KEEPALIVE = b"\n"
"""An empty line: no message, read and skipped by the client (Centrifugo pings with an empty
JSON value instead; an empty line says the same in one byte)."""


def line(message: chat.ChatMessage) -> bytes:
    """One message as one line of JSON."""
    return json.dumps(message).encode() + b"\n"


async def lines(hub: WakeUpHub, mailbox: Mailbox) -> AsyncIterator[bytes]:
    """The stream's body, on a mailbox joined before the stream started: what the client
    missed, then each new message as it is stored, and an empty line after
    ``PUSHLAB_STREAM_KEEPALIVE_S`` without one."""
    keepalive_s = settings.PUSHLAB_STREAM_KEEPALIVE_S
    try:
        yield KEEPALIVE  # sends the headers through at once (Daphne holds them until a write)
        messages = await hub.backlog(mailbox.room, mailbox.cursor)
        while True:
            if messages:
                yield b"".join(line(message) for message in messages)
                mailbox.cursor = messages[-1]["id"]
            if len(messages) >= settings.PUSHLAB_PAGE_LIMIT:  # a long backlog: its next page
                messages = await hub.backlog(mailbox.room, mailbox.cursor)
            elif not (messages := await hub.next_messages(mailbox, keepalive_s)):
                yield KEEPALIVE
    finally:
        hub.release(mailbox)


@json_errors
async def line_stream(request: HttpRequest, room: str) -> HttpResponse:
    """Check everything that can be refused with a JSON 4xx/503, then start the stream.

    As for SSE, the stream joins the hub here, so the bound on held requests is exact; its
    body releases the place when it ends, or when it is dropped unstarted."""
    if request.method != "GET":
        return JsonResponse({"error": "only GET is allowed here"}, status=405)
    room = chat.validate_room_name(room)
    after = cursor_param(request, await chat.alast_message_id(room))
    hub = current_hub()
    mailbox = await hub.join(room, after)
    return held_stream(lines(hub, mailbox), "application/x-ndjson", hub, mailbox)
