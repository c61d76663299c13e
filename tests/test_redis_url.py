"""The ``REDIS_URL`` path: servers pointed at an existing Redis (127.0.0.1:6379) use it
for both push mechanisms, and two server processes sharing it and one database
deliver each other's messages: every strategy works across server processes that share one
Redis and one database. Skipped where no Redis listens there.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, LongPollingReceiver, WebSocketReceiver, started
from tests.services import EXTERNAL_REDIS, skip_unless_reachable

pytestmark = [
    pytest.mark.slow,
    skip_unless_reachable(
        EXTERNAL_REDIS,
        "no Redis at 127.0.0.1:6379: the REDIS_URL path needs an external Redis "
        "(python-svc machines and CI have one)",
    ),
]

EXTERNAL_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two `pushlab serve` processes on the external Redis and one shared SQLite file."""
    var_dir = tmp_path_factory.mktemp("redis-url-var")
    # The lecture's layer, whose groups are keys this test can see in the external Redis.
    env = {
        "REDIS_URL": EXTERNAL_REDIS_URL,
        "PUSHLAB_VAR_DIR": str(var_dir),
        "PUSHLAB_CHANNEL_LAYER": "redis",
    }
    logs = Path(tmp_path_factory.mktemp("redis-url-logs"))
    first = ServerProcess(env=env, log_path=logs / "first.log").start()  # migrates
    try:
        second = ServerProcess(env=env, log_path=logs / "second.log").start(migrate=False)
    except BaseException:
        first.stop()
        raise
    yield [first, second]
    second.stop()
    first.stop()


def test_servers_use_the_external_redis_and_deliver_across_processes(
    two_servers: list[ServerProcess],
) -> None:
    poster, other = two_servers
    room = f"redis-url-{uuid.uuid4().hex[:8]}"
    outside = redis.Redis.from_url(EXTERNAL_REDIS_URL)
    wakeups = outside.pubsub()
    wakeups.subscribe(f"pushlab:room:{room}")
    wakeups.get_message(timeout=2)  # the subscribe confirmation
    receivers = [
        WebSocketReceiver(other.url, room),
        LongPollingReceiver(other.url, room),
        WebSocketReceiver(poster.url, room),
    ]
    with contextlib.closing(outside), contextlib.closing(wakeups), started(receivers):
        # channels_redis keeps a room's group in this Redis while a socket is in it.
        assert outside.exists(f"asgi:group:chat_{room}")
        session = ChatSession(poster.url, room)
        texts = [f"through the shared Redis {n}" for n in range(1, 4)]
        for text in texts:
            session.send(text)
        for receiver in receivers:
            received = receiver.wait_for(len(texts))
            assert [m["message"] for m in received] == texts
            assert [m["id"] for m in received] == [1, 2, 3]
        published = wakeups.get_message(timeout=5)
        assert published is not None and room.encode() in published["data"]
