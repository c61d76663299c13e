"""The WebSocket handshake's origin check: scheme, host AND port, as Django's CSRF check.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host with
``ALLOWED_HOSTS``, so a page on another port of the same host (``http://localhost:3000``)
opened a socket that carries the user's cookies (browsers send cookies across ports).
Django's CSRF check accepts an Origin when it equals ``<scheme>://<Host header>`` or is in
``CSRF_TRUSTED_ORIGINS``; this is that rule for a handshake, run once per connection.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http import HttpResponse
from django.http.request import is_same_domain, split_domain_port, validate_host
from django.middleware.csrf import CsrfViewMiddleware


@cache
def trusted_origins() -> CsrfViewMiddleware:
    """Django's own parsing of ``CSRF_TRUSTED_ORIGINS`` (exact origins and ``*.`` ones)."""
    return CsrfViewMiddleware(lambda request: HttpResponse())


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def same_origin(scope: dict[str, Any]) -> bool:
    """The handshake's Origin is this site as the browser reached it (the Host header, which
    must be in ``ALLOWED_HOSTS``, and the scheme), or a trusted origin. No Origin: refused,
    as Channels' validator does."""
    origin, host = header(scope, b"origin"), header(scope, b"host")
    if origin is None or host is None:
        return False
    origin = origin.lower()
    domain, _port = split_domain_port(host)
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    own = f"{scheme}://{host.lower()}"
    if origin == own and domain and validate_host(domain, settings.ALLOWED_HOSTS):
        return True
    csrf = trusted_origins()
    if origin in csrf.allowed_origins_exact:
        return True
    parsed = urlsplit(origin)
    return any(
        is_same_domain(parsed.netloc, allowed)
        for allowed in csrf.allowed_origin_subdomains.get(parsed.scheme, ())
    )


class SameOriginValidator:
    """Refuses (HTTP 403) a WebSocket handshake from another origin; passes the rest on."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not same_origin(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
