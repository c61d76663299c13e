"""A request is freed when its response is done, by reference counting alone.

Django's authentication middleware makes ``request.user`` and ``request.auser`` refer back
to the request; ours undoes that once the response is made. Otherwise every request lived
until Python's cyclic collector ran, and with thousands of long polls held those full
collections took ~300 ms every few seconds (docs/decisions.md, "Garbage collection").
"""

from __future__ import annotations

import asyncio
import gc
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


async def test_requests_through_the_asgi_handler_leave_no_garbage_cycles() -> None:
    """The whole HTTP path as uvicorn drives it: the body, then ``http.disconnect`` once the
    response is complete. Django's own handler left ~60 objects in cycles per request."""
    from lab.asgi import django_asgi_app

    async def one_request() -> int:
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
            "scheme": "http", "path": "/api/rooms/cycles/messages", "raw_path": b"",
            "query_string": b"after=0", "root_path": "", "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        await django_asgi_app(scope, receive, send)
        return int(sent[0]["status"])  # type: ignore[call-overload]

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
