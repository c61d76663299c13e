"""The pages: index, room (one template for every strategy), compare, and the lecture's room.

The pages that list strategies are handed the registry by the URL configuration
(``lab/urls.py``, the composition root) as the ``strategies`` and ``default_strategy``
keyword arguments: the core never imports ``strategies/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from lab import chat, traffic
from lab.api import json_errors
from lab.authors import request_author
from lab.chat import ChatError


class PageStrategy(Protocol):
    """What the pages use of a strategy (``strategies.base.Strategy``); the templates read
    its ``key``, ``colour``, ``summary``, ``client_script`` and ``healthy_state`` too."""

    title: str

    def http_urls(self) -> Sequence[Any]: ...

    def websocket_urls(self) -> Sequence[Any]: ...

    def page_config(self) -> dict[str, Any]: ...

    def page_hint(self) -> str: ...


Registry = Mapping[str, PageStrategy]


def index(request: HttpRequest, strategies: Registry, default_strategy: str) -> HttpResponse:
    return render(
        request,
        "lab/index.html",
        {"strategies": strategies.values(), "default_strategy": default_strategy},
    )


def checked_room(room: str) -> str:
    try:
        return chat.validate_room_name(room)
    except ChatError as exc:
        raise Http404(str(exc)) from None


@json_errors  # past the session mint limit: 429 JSON (lab.ratelimit)
@never_cache
@ensure_csrf_cookie
def room(
    request: HttpRequest, room: str, strategies: Registry, default_strategy: str
) -> HttpResponse:
    room = checked_room(room)
    key = request.GET.get("strategy", default_strategy)
    if key not in strategies:
        raise Http404(f"unknown strategy {key!r}; known: {', '.join(strategies)}")
    strategy = strategies[key]
    history = chat.recent_messages(room, settings.PUSHLAB_HISTORY_LENGTH)
    config: dict[str, Any] = {
        "room": room,
        "strategy": key,
        "lastId": history[-1]["id"] if history else chat.last_message_id(room),
        "csrfToken": get_token(request),
        "author": request_author(request),
        **strategy.page_config(),  # what varies by strategy: intervals, timeouts, close codes
    }
    return render(
        request,
        "lab/room.html",
        {
            "room_name": room,
            "strategy": strategy,
            "strategy_hint": strategy.page_hint(),
            "strategies": strategies.values(),
            "history": "".join(m["message"] + "\n" for m in history),
            "config": config,
            "embedded": request.GET.get("embed") == "1",
        },
    )


@json_errors
@ensure_csrf_cookie
def compare(request: HttpRequest, room: str, strategies: Registry) -> HttpResponse:
    """Every strategy side by side. The session and CSRF cookie are set here, before the
    panels load at once: otherwise each panel mints its own and the last one wins."""
    room = checked_room(room)
    request_author(request)
    return render(
        request,
        "lab/compare.html",
        {
            "room_name": room,
            "strategies": strategies.values(),
            "route_titles": route_titles(strategies),
        },
    )


CORE_ROUTES = {
    "GET /api/rooms/[room]/messages": "GET messages (short polls, catch-up reads)",
    "POST /api/rooms/[room]/messages": "POST messages (sends over HTTP)",
}


def route_titles(strategies: Registry) -> dict[str, str]:
    """The live panel's names for routes (as ``lab.traffic.route_of`` writes them): the core
    API's own, then each strategy's routes under its title, read from the registry."""
    titles = dict(CORE_ROUTES)
    for strategy in strategies.values():
        for pattern in strategy.http_urls():
            route = "/api/" + str(pattern.pattern).replace("<str:room>", "[room]")
            titles[f"GET {route}"] = f"{strategy.title} (GET {route.rsplit('/', 1)[-1]})"
        for pattern in strategy.websocket_urls():
            route = "/" + str(pattern.pattern).replace("<str:room>", "[room]")
            titles[f"WS {route}"] = f"{strategy.title} (sockets opened)"
    return titles


@json_errors
@never_cache
def lecture_room(request: HttpRequest, room: str) -> HttpResponse:
    """The lecture's own ``room.html``, byte for byte, with the lecture's one context variable:
    a student opens the client they wrote in class against this server's socket."""
    room = checked_room(room)
    request_author(request)  # the socket's messages carry this session's name, as ours do
    return render(request, "lecture/room.html", {"room_name": room})


def metrics(request: HttpRequest) -> JsonResponse:
    """This process's traffic counters and CPU time (``lab.traffic``), for the benchmark.

    ``?redis=1`` (the compare page's live panel) adds Redis's own command count; the
    benchmark leaves it off, so its probes add no Redis commands to what it measures.
    """
    snapshot = traffic.snapshot()
    if request.GET.get("redis") == "1":
        snapshot["redis_commands_processed"] = redis_commands_processed()
    return JsonResponse(snapshot)


def redis_commands_processed() -> int | None:
    """Commands the Redis server has run since it started (``INFO stats``); None if down."""
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
        try:
            return int(client.info("stats")["total_commands_processed"])
        finally:
            client.close()
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"no such API endpoint: {request.path}"}, status=404)
    return render(request, "lab/404.html", {"reason": str(exception)}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "internal server error"}, status=500)
    return HttpResponse("<h1>Server error</h1>", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": f"CSRF check failed ({reason}); send the csrftoken cookie's value "
                "in an X-CSRFToken header"
            },
            status=403,
        )
    from django.views.csrf import csrf_failure as default

    return default(request, reason)
