"""Sockets that survive a Redis restart or stall: one watcher per process re-joins and catches up.

The channel layer carries pushes through Redis. When Redis restarts empty (the embedded one
keeps nothing on disk) ``RedisChannelLayer``'s groups are gone, so a socket that stayed open
would never be pushed anything again; ``RedisPubSubChannelLayer`` subscribes again by
itself but misses what was published before it did; and a push that failed during the
outage reaches no one. So each process runs one ``SocketWatcher`` (per event loop) while it
holds sockets: it asks Redis for its ``run_id`` every ``WATCH_EVERY_S`` on a connection of
its own, and when Redis answers again after a failure (refused, broken or timed out) or
answers with another ``run_id`` (restarted between two looks) it

1. re-joins every open socket to its room's group (``group_add`` is idempotent);
2. sends a probe through the layer to a group of its own and waits until it comes back,
   so the layer's delivery to this process works again (subscriptions restored);
3. reads the newest id of each room (one query) and lets each socket that is behind send
   what it missed from the database (``ChatConsumer.locked_catch_up``), in order, once.

While Redis does not answer, step 3 runs at every look (once a second): the sockets fall
back to polling the database, as long polls and event streams do through the wake-up hub.

Anything stored before step 3 is read from the database; anything stored after step 2 is
pushed. Idle sockets cost nothing: no task per socket, one ``INFO server`` a second per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from typing import Any, Protocol

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lab.models import Room

log = logging.getLogger(__name__)

WATCH_EVERY_S = 1.0
"""How often the watcher asks Redis (also about the longest a restart goes unnoticed)."""
PROBE_WITHIN_S = 5.0
"""How long the probe may take to come back through the layer before the watcher tries again."""


class WatchedSocket(Protocol):
    """What the watcher uses of a socket (``ChatConsumer``, which imports this module)."""

    room: str
    group: str
    channel_name: str
    last_id: int
    """The id of the newest message the socket has been sent."""

    async def locked_catch_up(self) -> None:
        """Send what is stored after ``last_id``, while no other send runs on the socket."""


def newest_ids(rooms: list[str]) -> dict[str, int]:
    """Each room's newest message id, in one query."""
    return dict(Room.objects.filter(name__in=rooms).values_list("name", "last_message_id"))


anewest_ids = database_sync_to_async(newest_ids)


class SocketWatcher:
    """The open sockets of this process (event loop) by room, and the task that watches Redis."""

    def __init__(self) -> None:
        self.rooms: defaultdict[str, set[WatchedSocket]] = defaultdict(set)
        self.task: asyncio.Task[None] | None = None
        self.resyncs = 0
        """How many times the sockets were re-joined and caught up (tests, logs)."""
        self.probe_group = f"pushlab-probe-{uuid.uuid4().hex}"
        self.probe_channel: str | None = None
        self.answering = asyncio.Event()
        """Set while Redis answers (as far as the last PING and resync know)."""
        self.answering.set()

    async def until_answering(self, least_s: float, most_s: float = 5.0) -> None:
        """Wait ``least_s``, then until Redis answers again (at most ``most_s`` in all): how
        the sockets' channel-layer receives wait out a failure without trying in a loop."""
        await asyncio.sleep(least_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(most_s - least_s):
                await self.answering.wait()

    def add(self, consumer: WatchedSocket) -> None:
        self.rooms[consumer.room].add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.watch(), name="pushlab-socket-watcher")

    def discard(self, consumer: WatchedSocket) -> None:
        sockets = self.rooms.get(consumer.room)
        if sockets is not None:
            sockets.discard(consumer)
            if not sockets:
                del self.rooms[consumer.room]

    async def watch(self) -> None:
        timeout = settings.PUSHLAB_REDIS_COMMAND_TIMEOUT_S
        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a broken connection must show, not be hidden
            single_connection_client=True,
            client_name="pushlab-socket-watcher",
        )
        healthy = True
        server_id: str | None = None
        try:
            while self.rooms:  # ends with the last socket; the next one starts it again
                try:
                    # run_id changes with every start of redis-server: a restart between two
                    # looks, too quick for a failed one, still shows.
                    answered = str((await client.info("server"))["run_id"])
                except Exception as exc:  # refused, broken, timed out, or a bug: say so
                    if healthy:
                        log.warning("Redis did not answer (%s); sockets resync when it does", exc)
                    healthy = False
                    self.answering.clear()
                    with contextlib.suppress(Exception):
                        await client.connection.disconnect()  # type: ignore[union-attr]
                    # Meanwhile the sockets poll: nothing is pushed while Redis is away.
                    try:
                        await self.catch_up_behind()
                    except Exception as failed:
                        log.warning("catching sockets up failed (%s)", failed)
                else:
                    restarted = server_id is not None and answered != server_id
                    server_id = answered
                    if restarted or not healthy:
                        try:
                            await self.resync()
                            healthy = True
                            self.answering.set()
                        except Exception as exc:
                            healthy = False
                            log.warning(
                                "socket resync failed (%s: %s); trying again",
                                type(exc).__name__,
                                exc,
                            )
                await asyncio.sleep(WATCH_EVERY_S)
        finally:
            self.answering.set()
            with contextlib.suppress(Exception):
                await client.aclose()

    async def resync(self) -> None:
        """Re-join, probe, catch up (the module docstring's steps 1-3)."""
        layer = get_channel_layer()
        assert layer is not None
        for consumer in [c for sockets in list(self.rooms.values()) for c in sockets]:
            await layer.group_add(consumer.group, consumer.channel_name)
        await self.probe(layer)
        await self.catch_up_behind()
        self.resyncs += 1
        log.warning("Redis answers again: sockets re-joined and caught up (%d)", self.resyncs)

    async def catch_up_behind(self) -> None:
        """Each socket behind its room's newest id sends what it missed, from the database."""
        newest = await anewest_ids(list(self.rooms))
        for room, sockets in list(self.rooms.items()):
            for consumer in list(sockets):
                if consumer.last_id < newest.get(room, 0):
                    try:
                        await consumer.locked_catch_up()
                    except Exception as exc:  # a socket closing meanwhile: the others go on
                        log.warning("catching up a socket of room %s failed (%s)", room, exc)

    async def probe(self, layer: Any) -> None:
        """A message to a group of the watcher's own, back through the layer, or TimeoutError."""
        if self.probe_channel is None:
            self.probe_channel = await layer.new_channel()
        await layer.group_add(self.probe_group, self.probe_channel)
        async with asyncio.timeout(PROBE_WITHIN_S):
            await layer.group_send(self.probe_group, {"type": "probe"})
            await layer.receive(self.probe_channel)


_watchers: dict[asyncio.AbstractEventLoop, SocketWatcher] = {}


def current_watcher() -> SocketWatcher:
    """The watcher of the running event loop (a server has one loop; tests make one per test)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _watchers if other.is_closed()]:
        del _watchers[other]
    if loop not in _watchers:
        _watchers[loop] = SocketWatcher()
    return _watchers[loop]
