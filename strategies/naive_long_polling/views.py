"""``GET /api/rooms/<room>/messages/naive-wait?after=<id>&timeout=<s>``: long polling's
contract, waiting the lecture's naive way — a loop that asks the database every
``PUSHLAB_NAIVE_POLL_MS`` until a message exists or the timeout passes. No Redis."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from lab import chat
from lab.api import cursor_param, json_errors, messages_body
from strategies.long_polling.views import timeout_param  # the same contract, the same rule


class Waiting:
    """Requests this process holds in the loop: not on the hub, so counted apart, and bounded
    by the same rule (``chat.admit_held``)."""

    count = 0


@json_errors
async def wait_by_asking(request: HttpRequest, room: str) -> JsonResponse:
    """Answer as soon as a query finds a message after ``after``, else empty at the timeout."""
    if request.method != "GET":
        return JsonResponse({"error": "only GET is allowed here"}, status=405)
    room = chat.validate_room_name(room)
    timeout = timeout_param(request)
    after = cursor_param(request)
    chat.admit_held(Waiting.count)
    Waiting.count += 1
    try:
        messages = await chat.aread_after(room, after)  # also refuses a cursor past the newest
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll_s = settings.PUSHLAB_NAIVE_POLL_MS / 1000
        while not messages and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(poll_s, left))
            messages = await chat.amessages_after(room, after)  # the empty storage request
    finally:
        Waiting.count -= 1
    return JsonResponse(messages_body(messages, after))
