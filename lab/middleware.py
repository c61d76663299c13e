"""Django's middleware, run in the event loop instead of a worker thread.

Under ASGI, Django runs each ``MiddlewareMixin`` hook of an async request through
``sync_to_async``: a hop to a worker thread per hook, per request. These hooks do
no I/O (sessions live in signed cookies, the user loads lazily), so calling them
inline is safe and saves every hop (docs/decisions.md, "Hot paths").

At the end, Channels' middleware stack for WebSockets, with a leaner session wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels import sessions as channels_sessions
from channels.auth import AuthMiddleware
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse
from django.middleware import clickjacking, common, csrf, security

API_PREFIX = "/api/"
INLINE_SESSION_ENGINES = ("django.contrib.sessions.backends.signed_cookies",)
"""Session engines that do no I/O: any other one keeps Django's thread hop."""


class InlineAsync:
    """``MiddlewareMixin``'s async path, with the hooks called in the event loop."""

    get_response: Callable[[HttpRequest], Any]

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineAsync, security.SecurityMiddleware):
    pass


class SessionMiddleware(InlineAsync, sessions.SessionMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_ENGINE in INLINE_SESSION_ENGINES:
            return await super().__acall__(request)
        return await sessions.SessionMiddleware.__acall__(self, request)


class CommonMiddleware(InlineAsync, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineAsync, csrf.CsrfViewMiddleware):
    """Its ``process_view`` is made a coroutine in async mode, so Django calls it inline too."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            check = super().process_view

            async def process_view(
                request: HttpRequest, callback: Any, args: Any, kwargs: Any
            ) -> HttpResponse | None:
                return check(request, callback, args, kwargs)

            self.process_view = process_view


class AuthenticationMiddleware(InlineAsync, auth.AuthenticationMiddleware):
    """Also undoes the reference cycles it makes: ``request.user`` (a lazy object calling
    ``get_user(request)``) and ``request.auser`` (a partial of the request) refer back to
    the request, so every request, with its headers, session and cookies, lived until
    Python's cyclic collector found it; held long polls then made those collections long
    (docs/decisions.md, "Garbage collection"). Nothing outside this middleware reads the user
    once the response is made."""

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            return await super().__acall__(request)
        finally:
            request.__dict__.pop("user", None)
            request.__dict__.pop("auser", None)


class MessageMiddleware(InlineAsync, messages.MessageMiddleware):
    """Django's one-time messages, for the admin's pages: the API never shows one, so its
    requests skip building the message storage (cookie and session backends, about 5 % of
    a long poll's CPU by py-spy)."""

    def process_request(self, request: HttpRequest) -> None:
        if not request.path.startswith(API_PREFIX):
            super().process_request(request)


class XFrameOptionsMiddleware(InlineAsync, clickjacking.XFrameOptionsMiddleware):
    pass


class FrameSessionWrapper(channels_sessions.InstanceSessionWrapper):
    """Channels' session wrapper, without its session checks on every frame it passes on.

    Its ``send`` reads the session's ``modified`` and ``is_empty()`` (a lazy object's
    attributes) for every message, and needs them only for the types it saves the session on
    (``http.response.start``; none on a WebSocket): 8 % of a WebSocket delivery's CPU, by an
    A/B of the broadcast job. Every other message goes straight on (docs/decisions.md,
    "Publishing from the event loop")."""

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] not in self.save_message_types:
            return await self.real_send(message)
        return await super().send(message)


class ChannelsSessionMiddleware(channels_sessions.SessionMiddleware):
    """Channels' ``SessionMiddleware`` with ``FrameSessionWrapper`` (channels 4.3's
    ``__call__``, the wrapper's class the one change)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        wrapper = FrameSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, wrapper.send)


def socket_middleware_stack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack`` (cookies, session, user), with the lean session
    middleware above."""
    return channels_sessions.CookieMiddleware(ChannelsSessionMiddleware(AuthMiddleware(inner)))
