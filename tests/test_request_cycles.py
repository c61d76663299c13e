"""A request is freed when its response is done, by reference counting alone.

Django's authentication middleware makes ``request.user`` and ``request.auser`` refer back
to the request; ours undoes that once the response is made. Otherwise every request lived
until Python's cyclic collector ran, and with thousands of long polls held those full
collections took ~300 ms every few seconds (docs/decisions.md, "Garbage collection").
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest
from django.test import AsyncRequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_request_is_freed_without_the_cyclic_collector() -> None:
    from lab.asgi import django_asgi_app

    request = AsyncRequestFactory().get("/api/rooms/cycles/messages?after=0")
    freed = weakref.ref(request)
    gc.disable()
    try:
        response = await django_asgi_app.get_response_async(request)
        assert response.status_code == 200
        response.close()
        del request, response
        assert freed() is None, "the request is still alive: something refers back to it"
    finally:
        gc.enable()


def test_the_gc_thresholds_setting_takes_three_whole_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from lab.settings import env_gc_thresholds

    monkeypatch.setenv("PUSHLAB_GC_THRESHOLDS", " 5000, 20 ,100 ")
    assert env_gc_thresholds("PUSHLAB_GC_THRESHOLDS", "10000,10,100") == (5000, 20, 100)
    monkeypatch.delenv("PUSHLAB_GC_THRESHOLDS")
    assert env_gc_thresholds("PUSHLAB_GC_THRESHOLDS", "10000,10,100") == (10000, 10, 100)
    for wrong in ("700,10", "700,10,x", ""):
        monkeypatch.setenv("PUSHLAB_GC_THRESHOLDS", wrong)
        with pytest.raises(ImproperlyConfigured, match="three whole numbers"):
            env_gc_thresholds("PUSHLAB_GC_THRESHOLDS", "10000,10,100")


async def asgi_request(path: str, query: bytes = b"") -> int:
    """One GET through the site's Django handler as uvicorn drives it: the body, then
    ``http.disconnect`` once the response is complete. Returns the status."""
    from lab.asgi import django_asgi_app

    sent: list[dict[str, object]] = []
    body_read = False
    complete = asyncio.Event()

    async def receive() -> dict[str, object]:
        nonlocal body_read
        if not body_read:
            body_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await complete.wait()  # as uvicorn: the disconnect comes once the response is sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            complete.set()

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": b"", "query_string": query,
        "root_path": "", "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    await django_asgi_app(scope, receive, send)
    return int(sent[0]["status"])  # type: ignore[call-overload]


async def test_requests_through_the_asgi_handler_leave_no_garbage_cycles() -> None:
    """Django's own handler left ~60 objects in cycles per request."""

    async def one_request() -> int:
        return await asgi_request("/api/rooms/cycles/messages", b"after=0")

    assert await one_request() == 200  # warm: imports, the first connection
    gc.collect()
    gc.disable()
    try:
        statuses = [await one_request() for _ in range(20)]
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert statuses == [200] * 20
    assert unreachable < 20, f"{unreachable} objects in reference cycles after 20 requests"


async def test_an_async_view_is_closed_in_the_event_loop_and_a_page_in_the_sync_thread() -> None:
    """``request_finished`` (Django's close of a response) runs for every request: for an API
    view in the event loop, with no hop to the sync thread; for a sync view (a page) in the
    thread that ran it and holds its database connection, as Django does."""
    from django.core import signals

    threads: list[threading.Thread] = []

    def finished(**kwargs: object) -> None:
        threads.append(threading.current_thread())

    signals.request_finished.connect(finished)
    try:
        assert await asgi_request("/api/rooms/closing/messages", b"after=0") == 200
        assert await asgi_request("/chat/closing/") == 200
    finally:
        signals.request_finished.disconnect(finished)
    loop_thread = threading.current_thread()
    assert len(threads) == 2, threads
    assert threads[0] is loop_thread, "the API request's close hopped to another thread"
    assert threads[1] is not loop_thread, "the page's close left the thread that ran it"
