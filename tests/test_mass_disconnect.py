"""Sockets come and go in hundreds without leaving anything behind: after a few hundred
WebSockets close at once, the room's channel-layer group in Redis has no member left and
the server logged no error (each close runs a ``group_discard``; with an unbounded burst
of them redis-py's pool used to raise ``MaxConnectionsError`` and leave ghosts behind).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis
import websockets

from tests.services import own_server

pytestmark = pytest.mark.slow

SOCKETS = 300


async def open_then_close_at_once(ws_url: str, origin: str, count: int) -> int:
    """Open ``count`` sockets, then close them all at the same moment; how many were
    members of the room's group while open."""
    sockets = await asyncio.gather(
        *(websockets.connect(ws_url, origin=origin, open_timeout=60) for _ in range(count))
    )
    members_while_open = group_members(ws_url.rstrip("/").rsplit("/", 1)[1])
    await asyncio.gather(*(socket.close() for socket in sockets))
    return members_while_open


def group_members(room: str) -> int:
    """Members of the room's group in the channel layer's Redis (the session's)."""
    from django.conf import settings

    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return int(client.zcard(f"asgi:group:chat_{room}"))


def layer_connections(pid: int) -> int:
    """Open connections of the channel layer's pools in process ``pid`` (named by it)."""
    from django.conf import settings

    name = f"pushlab-channel-layer-{pid}"
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return sum(c.get("name") == name for c in client.client_list())


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_hundreds_of_sockets_closing_at_once_leave_no_ghost_in_the_group(
    server: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    room = f"mass-{server}"
    pool_size = 20  # far fewer connections than sockets: the burst must queue, not fail
    # RedisChannelLayer (the lecture's) keeps groups in Redis and needs a pool per process.
    settings = {
        "PUSHLAB_CHANNEL_LAYER": "redis",
        "PUSHLAB_CHANNEL_LAYER_CONNECTIONS": str(pool_size),
    }
    with own_server(server_env, tmp_path, server=server, **settings) as process:
        url = f"{process.ws_url}/ws/chat/{room}/"
        assert asyncio.run(open_then_close_at_once(url, process.url, SOCKETS)) == SOCKETS
        deadline = time.monotonic() + 30
        while (left := group_members(room)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == 0, f"{left} of {SOCKETS} closed sockets are still members of the group"
        assert process.metrics()  # the server is unharmed
        assert 1 <= layer_connections(process.pid) <= pool_size
    log = (tmp_path / "server.log").read_text()
    assert "Error" not in log and "Traceback" not in log, log[-3000:]
