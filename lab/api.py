"""The HTTP API shared by the polling strategies, tests and tools: a room's messages after a
cursor, and posting one (the routes are in ``lab/urls.py``).

Every answer is JSON; every client error is ``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from lab import chat
from lab.authors import arequest_author
from lab.chat import ChatError, Posted
from lab.inputs import LARGEST_WHOLE_NUMBER, message_object, whole_number
from lab.ratelimit import apost_client_message

if TYPE_CHECKING:
    from lab.wakeups import Mailbox, WakeUpHub

View = Callable[..., Any]


class UnsupportedBody(ChatError):
    status = 415


def error_response(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def chat_error_response(exc: ChatError) -> JsonResponse:
    """The JSON answer to a ``ChatError``, with ``Retry-After`` when it says when to retry."""
    response = error_response(str(exc), exc.status)
    if exc.retry_after_s is not None:
        response["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return response


def json_errors(view: View) -> View:
    """Answer ``ChatError`` (and an oversized body) with a JSON 4xx, for sync and async views."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return await view(request, *args, **kwargs)
            except ChatError as exc:
                return chat_error_response(exc)
            except RequestDataTooBig:
                return error_response("the request body is too large", 413)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ChatError as exc:
            return chat_error_response(exc)
        except RequestDataTooBig:
            return error_response("the request body is too large", 413)

    return wrapper


def int_param(request: HttpRequest, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    return whole_number(raw, name, low=low, high=high)


def cursor_param(request: HttpRequest, last_id: int | None = None) -> int:
    """``after``: a message id the client already has, from 0 to the room's newest id.

    A cursor past the newest id is refused, not waited on: it means the client holds ids
    from another database, and would otherwise never see a message. Without ``last_id``
    the caller checks that itself (``chat.read_after`` does, in the same query as the read).
    """
    after = int_param(request, "after", 0, low=0, high=LARGEST_WHOLE_NUMBER)
    if last_id is not None and after > last_id:
        raise ChatError(f"after={after} is beyond this room's newest message id ({last_id})")
    return after


def messages_body(messages: list[dict[str, Any]], after: int) -> dict[str, Any]:
    """The list answer; ``last_id`` is the cursor for the next call."""
    return {"messages": messages, "last_id": messages[-1]["id"] if messages else after}


@json_errors
async def room_messages(request: HttpRequest, room: str) -> HttpResponse:
    """GET: messages after a cursor (short polling). POST: send a message (every HTTP client).

    Async, so the request never waits for a thread of its own: the read (or the post) is
    one hop to the shared sync thread and its kept database connection.
    """
    if request.method not in ("GET", "POST"):
        refused = error_response(f"{request.method} is not allowed here; use GET or POST", 405)
        refused["Allow"] = "GET, POST"
        return refused
    room = chat.validate_room_name(room)
    if request.method == "POST":
        posted = await post_from_request(request, room)
        # 201 for a new message; 200 for a repeat of a client_id: the stored one, same id.
        return JsonResponse(posted.message, status=201 if posted.created else 200)
    after = cursor_param(request)
    limit = int_param(request, "limit", 100, low=1, high=settings.PUSHLAB_PAGE_LIMIT)
    return JsonResponse(messages_body(await chat.aread_after(room, after, limit), after))


async def post_from_request(request: HttpRequest, room: str) -> Posted:
    if request.content_type == "multipart/form-data":
        # The CSRF check has read the form already, so the body cannot be read again.
        raise UnsupportedBody('the body must be JSON: {"message": "..."}, not a form upload')
    body = message_object(request.body, "the body")
    client_id = chat.client_id_of(body)
    # Only "message" and "client_id" are read: an "author" key cannot spoof the sender.
    author = await arequest_author(request)
    return await apost_client_message(
        room=room,
        author=author,
        text=body["message"],
        client_id=client_id,
        address=request.META.get("REMOTE_ADDR"),
    )


def held_stream(
    body: AsyncIterator[bytes], content_type: str, hub: WakeUpHub, mailbox: Mailbox
) -> StreamingHttpResponse:
    """The response of a stream that holds a place on the hub (SSE, HTTP streaming): the body
    gives the place back when it ends, and a body that never starts (the client left before
    the first byte) gives it back when it is dropped; proxies are told not to buffer it."""
    weakref.finalize(body, hub.release, mailbox)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
