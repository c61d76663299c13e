"""The long-poll endpoint: ``GET /api/rooms/<room>/messages/wait?after=<id>&timeout=<s>``."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from lab import chat
from lab.api import ServerBusy, cursor_param, json_errors, messages_body
from lab.chat import ChatError, ChatMessage
from lab.wakeups import WakeUpHub, current_hub


def timeout_param(request: HttpRequest) -> float:
    raw = request.GET.get("timeout") or str(settings.PUSHLAB_LONG_POLL_TIMEOUT_S)
    top = settings.PUSHLAB_LONG_POLL_MAX_TIMEOUT_S
    try:
        timeout = float(raw)
    except ValueError:
        raise ChatError(f"timeout must be a number of seconds, not {raw[:40]!r}") from None
    if not 0 < timeout <= top:  # also refuses nan and inf
        raise ChatError(f"timeout must be more than 0 and at most {top} seconds")
    return timeout


async def read_backlog(hub: WakeUpHub, room: str, after: int) -> list[ChatMessage]:
    """The room's messages after ``after``, read once the waiter is registered (and again as
    the last look of a poll that timed out).

    The common case of a long poll, the client holding the room's newest message, needs no
    query: the hub knows the newest id of a room it heard since it last read it (``[]``,
    without a hop to the database thread). Otherwise one query reads them, and when it finds
    nothing the hub learns that ``after`` is the newest id.
    """
    if hub.known_newest(room) == after:
        return []
    generation = hub.generation
    messages = await chat.aread_after(room, after)
    if not messages:
        hub.learned(room, after, generation)
    return messages


@json_errors
async def wait_for_messages(request: HttpRequest, room: str) -> JsonResponse:
    """Answer as soon as the room has a message after ``after``, else empty at the timeout.

    The order matters: subscribe, then read the backlog, then wait. A message
    stored between the read and the wait still wakes us, so none is missed; one stored without
    a wake-up reaching this process wakes us at the hub's next check (``check_newest``).
    """
    if request.method != "GET":
        return JsonResponse({"error": "only GET is allowed here"}, status=405)
    room = chat.validate_room_name(room)
    timeout = timeout_param(request)
    after = cursor_param(request)
    hub = current_hub()
    async with hub.subscribe(room, after) as wakeups:
        if hub.waiting > settings.PUSHLAB_MAX_LONG_POLLS:  # counted after joining: exact
            raise ServerBusy(
                f"this server holds {settings.PUSHLAB_MAX_LONG_POLLS} long polls already"
            )
        messages = await read_backlog(hub, room, after)
        try:
            async with asyncio.timeout(timeout):
                while not messages:
                    incoming = await wakeups.get()
                    messages = await chat.amessages_following(room, after, incoming)
        except TimeoutError:
            # A last look, for a message whose wake-up was lost: none is needed while the
            # hub knows the client holds the newest id (the common case: a quiet room; the
            # hub's periodic check keeps that knowledge true for unannounced messages).
            messages = await read_backlog(hub, room, after)
    return JsonResponse(messages_body(messages, after))
