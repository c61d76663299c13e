"""The ASGI entry point: HTTP to Django, WebSockets to the strategies' consumers."""

import asyncio
import contextlib
import gc
import os
from typing import Any

import django
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

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

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Django 5.2's ``ASGIHandler.handle``, but for an async view the response is closed
        in the event loop, not by ``sync_to_async(response.close)``: a hop to the sync
        thread and back on every request, which queued the closes of a burst of long polls
        (docs/decisions.md, "A request without a thread hop at its end").

        Closing runs ``request_finished``, whose ``close_old_connections`` looks after the
        database connections of the thread it runs in. An async view's queries run in the
        sync thread through ``database_sync_to_async`` (``lab.chat``), which does the same
        around each call, as it does for Channels' consumers; a sync view (a page) is still
        closed in that thread, where its connection is.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request: HttpRequest, send: Any) -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left meanwhile
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass  # the client disconnected
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()  # views may handle cancellation
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if served_by_async_view(request):
                response.close()
            else:
                await sync_to_async(response.close)()
        body_file.close()

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


def served_by_async_view(request: HttpRequest) -> bool:
    """The request was routed to an async view (every API endpoint). False when it was not
    routed at all (a 404, a response from middleware): those close as Django closes them."""
    match = request.resolver_match
    return match is not None and iscoroutinefunction(match.func)


django_asgi_app = SharedThreadASGIHandler()

if not settings.DEBUG:
    # Django's request_started receivers are sync, so each request would hop to a thread just
    # to run them. request_finished (in response.close) still closes stale connections, and
    # reset_queries only matters when DEBUG keeps the query log.
    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from lab.middleware import socket_middleware_stack  # noqa: E402
from lab.origins import SameOriginValidator  # noqa: E402
from lab.traffic import TrafficMeter  # noqa: E402
from strategies import STRATEGIES  # noqa: E402

websocket_urlpatterns = [
    route for strategy in STRATEGIES.values() for route in strategy.websocket_urls()
]


def trusting_proxies(app: Any, proxies: tuple[str, ...]) -> Any:
    """``app`` reading ``X-Forwarded-For`` / ``X-Forwarded-Proto`` from the peers ``proxies``
    names (``PUSHLAB_TRUSTED_PROXIES``), with uvicorn's own middleware, on either server;
    ``app`` itself when none is named. The servers' own proxy handling stays off
    (``lab/cli.py``): uvicorn's would trust any client on 127.0.0.1 to say who it is."""
    if not proxies:
        return app
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return ProxyHeadersMiddleware(app, trusted_hosts=list(proxies))


application = trusting_proxies(
    TrafficMeter(
        ProtocolTypeRouter(
            {
                "http": ASGIStaticFilesHandler(django_asgi_app),
                "websocket": SameOriginValidator(
                    socket_middleware_stack(URLRouter(websocket_urlpatterns))
                ),
            }
        )
    ),
    settings.PUSHLAB_TRUSTED_PROXIES,
)

# The process holds thousands of requests and sockets, so each of Python's full garbage
# collections walks all of them (docs/decisions.md, "Garbage collection"). What the app loaded
# at start lives as long as the process: frozen, no collection walks it again. No request is
# left in a reference cycle (SharedThreadASGIHandler, lab.middleware), so young collections
# can be rarer and full ones much rarer (PUSHLAB_GC_THRESHOLDS).
gc.collect()
gc.freeze()
gc.set_threshold(*settings.PUSHLAB_GC_THRESHOLDS)
