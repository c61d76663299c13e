"""The long-poll endpoint: ``GET /api/rooms/<room>/messages/wait?after=<id>&timeout=<s>``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from lab import chat
from lab.api import cursor_param, json_errors, messages_body
from lab.chat import ChatError
from lab.wakeups import current_hub


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
    # Past the bound on held requests, subscribe raises ServerBusy: a JSON 503.
    async with hub.subscribe(room, after) as wakeups:
        messages = await hub.backlog(room, after)
        if not messages:
            # Nothing yet: wait. Timed out: a last look, for a message whose wake-up was lost;
            # it asks nothing while the hub knows the client holds the newest id (the common
            # case: a quiet room; the hub's periodic check keeps that knowledge true).
            messages = await hub.next_messages(wakeups, timeout) or await hub.backlog(room, after)
    return JsonResponse(messages_body(messages, after))
