"""The bare-ASGI floor (benchmarks/run/floor.py) does each job right, on a real server.

The benchmark divides each strategy's CPU by the floor's: a floor that skipped work
(answered a poll with nothing, never held a long poll, sent a frame to one socket)
would make every strategy look worse than it is.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from websockets.asyncio.client import connect

from benchmarks.run.hotpaths import HttpClient, Job, read_events
from lab.serverproc import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def floor(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server = ServerProcess(env={}, server=request.param, app="benchmarks.run.floor:app").start()
    yield server
    server.stop()


async def until_async(
    read: Callable[[], Awaitable[dict]], holds: Callable[[dict], bool], what: str
) -> None:
    """Read (a request) until ``holds``; fail naming ``what`` after 10 s."""
    deadline = time.monotonic() + 10
    while not holds(await read()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


def client(server: ServerProcess) -> HttpClient:
    return HttpClient("127.0.0.1", server.port)


async def test_poll_answers_from_memory_after_the_cursor(floor: ServerProcess) -> None:
    poster = client(floor)
    for text in ("one", "two", "three"):
        await poster.post("poll-room", text)
    answer = await client(floor).get_json("/api/rooms/poll-room/messages?after=1")
    assert [m["message"] for m in answer["messages"]] == ["two", "three"]
    assert [m["id"] for m in answer["messages"]] == [2, 3] and answer["last_id"] == 3
    nothing_new = await client(floor).get_json("/api/rooms/poll-room/messages?after=3")
    assert nothing_new == {"messages": [], "last_id": 3}
    status, body = await client(floor).request("GET", "/api/rooms/poll-room/messages?after=9")
    assert status == 400 and "error" in json.loads(body)


async def test_long_poll_is_held_until_a_message_then_answered(floor: ServerProcess) -> None:
    waiter = asyncio.create_task(
        client(floor).get_json("/api/rooms/wait-room/messages/wait?after=0&timeout=10")
    )
    await until_async(
        lambda: client(floor).get_json("/api/metrics"),
        lambda metrics: metrics["long_polls_waiting"] == 1,
        "the long poll is held",
    )
    assert not waiter.done()  # held: nothing to answer yet
    await client(floor).post("wait-room", "wake up")
    answer = await asyncio.wait_for(waiter, 5)
    assert [m["message"] for m in answer["messages"]] == ["wake up"] and answer["last_id"] == 1
    empty = await client(floor).get_json("/api/rooms/wait-room/messages/wait?after=1&timeout=0.2")
    assert empty == {"messages": [], "last_id": 1}


async def test_broadcast_reaches_every_socket_of_the_room_only(floor: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{floor.port}/ws/chat"
    async with (
        connect(f"{url}/cast-room/") as first,
        connect(f"{url}/cast-room/") as second,
        connect(f"{url}/other-room/") as elsewhere,
    ):
        await first.send(json.dumps({"message": "to everyone"}))
        for socket in (first, second):
            frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert (frame["message"], frame["id"], frame["room"]) == ("to everyone", 1, "cast-room")
        await client(floor).post("cast-room", "over HTTP")  # a POST reaches the sockets too
        assert json.loads(await asyncio.wait_for(second.recv(), 5))["id"] == 2
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(elsewhere.recv(), 0.3)


async def test_naive_wait_is_held_like_wait(floor: ServerProcess) -> None:
    """The floor's least work for the naive long poll is the same held request."""
    path = "/api/rooms/naive-room/messages/naive-wait?after=0&timeout=10"
    waiter = asyncio.create_task(client(floor).get_json(path))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await client(floor).post("naive-room", "now")
    assert (await asyncio.wait_for(waiter, 5))["last_id"] == 1


async def test_event_stream_sends_the_backlog_then_each_new_message(floor: ServerProcess) -> None:
    poster = client(floor)
    await poster.post("sse-room", "before")
    await poster.post("sse-room", "missed")
    job = Job("stream", 1)
    opened = asyncio.Event()
    reader = asyncio.create_task(
        read_events(client(floor), "/api/rooms/sse-room/events?after=1", job, opened)
    )
    await asyncio.wait_for(opened.wait(), 5)
    await poster.post("sse-room", "live")
    deadline = asyncio.get_running_loop().time() + 5
    while job.units < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert job.units == 2  # "missed" (after=1) and "live"; not "before"
    reader.cancel()
    status, body = await client(floor).request("GET", "/api/rooms/sse-room/events?after=9")
    assert status == 400 and "error" in json.loads(body)


async def test_metrics_report_cpu_time(floor: ServerProcess) -> None:
    metrics = await client(floor).get_json("/api/metrics")
    assert metrics["cpu_s"] > 0 and metrics["pid"] == floor.pid
