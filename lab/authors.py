"""Who wrote a message: decided by the server, never taken from the client."""

from __future__ import annotations

import secrets
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from lab.ratelimit import anonymous_bucket, spend_mint_allowance

SESSION_KEY = "pushlab_author"
GUEST_NAME_BYTES = 8
"""64 random bits: among a million guests the chance that two share a name is about 3e-8."""


def generated_name() -> str:
    return f"guest-{secrets.token_hex(GUEST_NAME_BYTES)}"


def request_author(request: HttpRequest) -> str:
    """A signed-in user's username; otherwise a generated name kept in the session."""
    if request.user.is_authenticated:
        return request.user.get_username()
    return session_author(request)


async def arequest_author(request: HttpRequest) -> str:
    """``request_author`` for async views: the user is loaded, and a new session's mint
    allowance spent, without blocking the loop."""
    user = await request.auser()
    if user.is_authenticated:
        return str(user.get_username())
    name = saved_name(request)
    if name is not None:
        return name
    await sync_to_async(spend_mint_allowance)(request.META.get("REMOTE_ADDR"))
    return mint(request)


def session_author(request: HttpRequest) -> str:
    """The session's guest name; minting one first spends the address's mint allowance
    (``RateLimited`` past it: the session is left as it was, so no cookie is set)."""
    name = saved_name(request)
    if name is not None:
        return name
    spend_mint_allowance(request.META.get("REMOTE_ADDR"))
    return mint(request)


def saved_name(request: HttpRequest) -> str | None:
    """The guest name this request's session already holds, if any."""
    name = request.session.get(SESSION_KEY)
    return name if isinstance(name, str) else None


def mint(request: HttpRequest) -> str:
    name: str = generated_name()
    request.session[SESSION_KEY] = name
    return name


def scope_author(scope: dict[str, Any]) -> tuple[str, str | None]:
    """The same rule for a WebSocket: the page's session name, or one for this connection.

    Also the key of the session bucket the socket's frames spend from (``lab.ratelimit``):
    ``None`` (the author's own) with a session or a user; without one, the bucket every
    session-less socket of the client's address shares."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return str(user.get_username()), None
    session = scope.get("session")
    name = session.get(SESSION_KEY) if session is not None else None
    if isinstance(name, str):
        return name, None
    address = (scope.get("client") or [None])[0]
    return generated_name(), anonymous_bucket(address) if address else None
