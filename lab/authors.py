"""Who wrote a message: decided by the server, never taken from the client."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest

SESSION_KEY = "pushlab_author"


def generated_name() -> str:
    return f"guest-{secrets.token_hex(3)}"


def request_author(request: HttpRequest) -> str:
    """A signed-in user's username; otherwise a generated name kept in the session."""
    if request.user.is_authenticated:
        return request.user.get_username()
    return session_author(request)


async def arequest_author(request: HttpRequest) -> str:
    """``request_author`` for async views: the user is loaded without blocking the loop."""
    user = await request.auser()
    if user.is_authenticated:
        return str(user.get_username())
    return session_author(request)


def session_author(request: HttpRequest) -> str:
    name = request.session.get(SESSION_KEY)
    if not isinstance(name, str):
        name = request.session[SESSION_KEY] = generated_name()
    return name


def scope_author(scope: dict[str, Any]) -> str:
    """The same rule for a WebSocket: the page's session name, or one for this connection."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return str(user.get_username())
    session = scope.get("session")
    name = session.get(SESSION_KEY) if session is not None else None
    return name if isinstance(name, str) else generated_name()
