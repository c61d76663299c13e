"""``PUSHLAB_REQUIRE_LOGIN``: every strategy refuses anonymous users the same way.

Pages redirect to ``LOGIN_URL``; the API (long poll included) answers 401 JSON;
a WebSocket is accepted and closed at once with code 4401, so the browser client
can tell "sign in" from "server down" (a refused handshake looks like a network
error to the browser, and the page would keep reconnecting).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

LOGIN_REQUIRED_CLOSE_CODE = 4401
GUARDED_PREFIXES = ("/chat/", "/lecture/", "/api/rooms/")
"""The chat itself; ``/api/metrics``, ``/admin/`` and static files stay open."""


def refuses(user: Any) -> bool:
    """True if login is required and ``user`` (a request's or a scope's) is not signed in."""
    return bool(settings.PUSHLAB_REQUIRE_LOGIN) and not (user is not None and user.is_authenticated)


def guarded(request: HttpRequest) -> bool:
    """Login is required and the request is for the chat (checked before loading the user)."""
    return bool(settings.PUSHLAB_REQUIRE_LOGIN) and request.path.startswith(GUARDED_PREFIXES)


def refusal(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"sign in first: {settings.LOGIN_URL}"}, status=401)
    return redirect_to_login(request.get_full_path())


@sync_and_async_middleware
def login_required_middleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """Turn anonymous requests for the chat away when ``PUSHLAB_REQUIRE_LOGIN`` is on."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            if guarded(request) and refuses(await request.auser()):
                return refusal(request)
            response: Awaitable[HttpResponse] = get_response(request)
            return await response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        if guarded(request) and refuses(request.user):
            return refusal(request)
        response: HttpResponse = get_response(request)
        return response

    return middleware
