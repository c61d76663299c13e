"""Redis wake-ups for held requests (long polls, event streams): one subscription a process.

Shared push infrastructure, so it lives in the core: strategies that hold requests open
wait on it and register ``publish_wakeup`` as their publish hook.

``post_message`` PUBLISHes each stored message on ``pushlab:room:<room>``. Each
process keeps ONE pattern subscription to ``pushlab:room:*`` and hands every
message to the queues of the requests waiting in that room, so a thousand
waiting requests cost one Redis connection, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "pushlab:room:"
WakeUp = dict[str, Any] | None
"""A message pushed to a waiter; ``None`` means "the subscription broke: re-read the database"."""


def room_channel(room: str) -> str:
    return CHANNEL_PREFIX + room


_publisher: redis.Redis | None = None
# Posts arrive on many threads at once; a bounded pool (PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS)
# makes them share a few connections (a PUBLISH takes well under a millisecond) instead of
# opening one per thread.


def post_path_timeouts() -> dict[str, Any]:
    """Options for a sync Redis pool on the post path: a stalled or absent Redis costs a post
    at most ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S`` (then it goes on without it), and a
    connection broken by a Redis restart is replaced once, at once."""
    timeout = settings.PUSHLAB_REDIS_COMMAND_TIMEOUT_S
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    }


def publish_wakeup(message: dict[str, Any]) -> None:
    """PUBLISH a stored message to every process's hub (sync: called from ``post_message``)."""
    global _publisher
    if _publisher is None:
        pool = redis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS,
            timeout=settings.PUSHLAB_REDIS_POOL_TIMEOUT_S,
            client_name="pushlab-wakeup-publisher",
            **post_path_timeouts(),
        )
        _publisher = redis.Redis(connection_pool=pool)
    _publisher.publish(room_channel(message["room"]), json.dumps(message))


class WakeUpHub:
    """This process's one Redis subscription and the long polls waiting on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.waiters: defaultdict[str, set[asyncio.Queue[WakeUp]]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def waiting(self) -> int:
        """How many requests are waiting right now, in all rooms."""
        return sum(len(queues) for queues in self.waiters.values())

    async def _ensure_subscribed(self) -> None:
        if self._listener is None or self._listener.done():
            self._subscribed.clear()
            self._listener = asyncio.create_task(self._listen(), name="pushlab-wakeup-hub")
        await self._subscribed.wait()

    async def _listen(self) -> None:
        # The hub's one subscription: a pool of exactly one connection, named in CLIENT LIST.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=1, client_name="pushlab-wakeup-hub"
        )
        client = aioredis.Redis(connection_pool=pool)
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(CHANNEL_PREFIX + "*")
            self._subscribed.set()
            async for item in pubsub.listen():
                if item["type"] != "pmessage":
                    continue
                message = json.loads(item["data"])
                for queue in list(self.waiters.get(message["room"], ())):
                    queue.put_nowait(message)
        except Exception:
            log.exception("long-poll wake-up subscription failed; waiters re-read the database")
            self._subscribed.set()  # let waiters proceed; the next one starts a new listener
        finally:
            for queues in self.waiters.values():
                for queue in queues:
                    queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()

    @contextlib.asynccontextmanager
    async def subscribe(self, room: str) -> AsyncIterator[asyncio.Queue[WakeUp]]:
        """Register a waiter; the subscription is live before this yields, so read the backlog
        inside the block and no wake-up can be missed. Leaving the block (answer, timeout
        or client gone) releases everything."""
        await self._ensure_subscribed()
        queue: asyncio.Queue[WakeUp] = asyncio.Queue()
        self.waiters[room].add(queue)
        try:
            yield queue
        finally:
            self.waiters[room].discard(queue)
            if not self.waiters[room]:
                del self.waiters[room]


_hubs: dict[asyncio.AbstractEventLoop, WakeUpHub] = {}


def current_hub() -> WakeUpHub:
    """The hub of the running event loop (a server has one loop; tests make one per test)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _hubs if other.is_closed()]:
        del _hubs[other]
    if loop not in _hubs:
        _hubs[loop] = WakeUpHub(settings.REDIS_URL)
    return _hubs[loop]
