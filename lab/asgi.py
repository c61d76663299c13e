"""The ASGI entry point: HTTP to Django, WebSockets to the strategies' consumers."""

import gc
import os
from typing import Any

import django
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections, reset_queries

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
# Initialise Django before importing code that may import models (as in the lecture).
django.setup(set_prefix=False)


class SharedThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler without a fresh thread per request.

    Django wraps each request in a ``ThreadSensitiveContext``, so the request's sync
    parts (signal receivers, ``response.close``, sync views) run in a NEW thread with a
    NEW database connection. Without it they share asgiref's one sync thread and its
    kept connection; async views (every API endpoint) run in the event loop.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}")
        await self.handle(scope, receive, send)

    async def listen_for_disconnect(self, receive: Any) -> None:
        """Return when the client is gone, instead of raising ``RequestAborted``.

        ``handle`` runs this beside the view and only ignores the exception, but the
        exception, kept by its task, holds a traceback through ``handle``'s frame, which
        holds the task: a reference cycle with the request and response in it, on every
        request (uvicorn reports the disconnect as soon as a response is complete). Those
        cycles were most of the garbage Python's full collections walked (docs/decisions.md,
        "Garbage collection"). Returning ends the task the same way for ``handle``.
        """
        message = await receive()
        if message["type"] != "http.disconnect":
            raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")


django_asgi_app = SharedThreadASGIHandler()

if not settings.DEBUG:
    # Django's request_started receivers are sync, so each request would hop to a thread just
    # to run them. request_finished (in response.close) still closes stale connections, and
    # reset_queries only matters when DEBUG keeps the query log.
    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from lab.traffic import TrafficMeter  # noqa: E402
from strategies import STRATEGIES  # noqa: E402

websocket_urlpatterns = [
    route for strategy in STRATEGIES.values() for route in strategy.websocket_urls()
]

application = TrafficMeter(
    ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

# The process holds thousands of requests and sockets, so each of Python's full garbage
# collections walks all of them (docs/decisions.md, "Garbage collection"). What the app loaded
# at start lives as long as the process: frozen, no collection walks it again. No request is
# left in a reference cycle (SharedThreadASGIHandler, lab.middleware), so young collections
# can be rarer and full ones much rarer (PUSHLAB_GC_THRESHOLDS).
gc.collect()
gc.freeze()
gc.set_threshold(*settings.PUSHLAB_GC_THRESHOLDS)
