"""Redis wake-ups for held requests (long polls, event streams): one subscription a process.

Shared push infrastructure, so it lives in the core: strategies that hold requests open
wait on it and register ``publish_wakeup`` as their publish hook.

``post_message`` PUBLISHes each stored message on ``pushlab:room:<room>``. Each
process keeps ONE pattern subscription to ``pushlab:room:*`` and hands every
message to the mailboxes of the requests waiting in that room, so a thousand
waiting requests cost one Redis connection, not a thousand. A message whose wake-up never
reaches this process (stored by another process on another Redis, by ``manage.py shell``, or
its PUBLISH lost) is found by the hub's periodic check instead: one query a
``PUSHLAB_MISSED_WAKEUP_CHECK_S`` for every room with waiters (``WakeUpHub.check_newest``).
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

from lab import chat
from lab.chat import Publisher

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
    """PUBLISH a stored message to every process's hub, from a thread (``chat.publish``)."""
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


def wakeups_published() -> bool:
    """Whether posts PUBLISH wake-ups (some strategy that holds requests is published to)."""
    return WAKEUP_PUBLISHER in chat.registered_publishers().values()


WAKEUP_PUBLISHER = Publisher(send=publish_wakeup)
"""The hook of every strategy that holds requests (long polling, SSE): it runs once a message.
A sync PUBLISH, sent from the database thread right after the store (no ``asend``): measured,
redis-py's asyncio client spent more CPU on it than the thread does (docs/decisions.md,
"Publishing from the event loop")."""


class Mailbox:
    """One waiter's wake-ups, in the order they came: ``asyncio.Queue``'s ``put_nowait`` and
    ``get`` for a single reader, without the rest. A held long poll or event stream keeps
    one; a ``Queue`` (three deques and an ``Event``) kept about 3 KB more per held request
    (docs/decisions.md, "A long poll's mailbox")."""

    __slots__ = ("cursor", "items", "waiter")

    def __init__(self, cursor: int = 0) -> None:
        self.items: list[WakeUp] = []
        self.waiter: asyncio.Future[None] | None = None
        self.cursor = cursor
        """The newest id its client holds; its request keeps it up to date."""

    def behind(self, newest: int) -> bool:
        """Whether its client lacks a message up to ``newest`` that no wake-up already in the
        mailbox will bring (a ``None`` re-reads; a pushed message fills any gap before it)."""
        if self.cursor >= newest:
            return False
        return not self.items or (self.items[-1] is not None and self.items[-1]["id"] < newest)

    def put_nowait(self, item: WakeUp) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> WakeUp:
        """The oldest wake-up not yet taken, waiting for one if there is none."""
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.pop(0)


SUBSCRIBE_BACKOFF_S = (0.1, 2.0)
"""First and longest wait before the hub subscribes again after its subscription broke."""


class WakeUpHub:
    """This process's one Redis subscription and the long polls waiting on it.

    The subscription outlives Redis failures: when it breaks (Redis restarted or gone) the
    listener subscribes again, with a growing pause, until Redis answers. Each time the
    subscription is confirmed (the first time and after every break) every waiter gets
    ``None`` and re-reads the database after its own cursor: a message stored while the
    subscription was away, whose push no one heard, is found there. Pushes that failed
    meanwhile are made again by ``lab.broker.push_later``. While requests wait, a periodic
    check (``check_newest``) finds the messages whose wake-up never came here at all.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.waiters: defaultdict[str, set[Mailbox]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.subscriptions = 0
        """How many times the subscription was confirmed (1 + re-subscriptions)."""
        self.newest: dict[str, int] = {}
        """Per room, the newest message id this hub knows of: heard since the subscription was
        last confirmed, or read from the database since then (``learned``)."""
        self.based: set[str] = set()
        """Rooms whose newest id was read from the database under the live subscription: for
        them ``newest`` is the room's newest id, since every later message is heard here."""
        self.generation = 0
        """Bumped whenever the subscription breaks or is confirmed: what was known is forgotten."""
        self._checker: asyncio.Task[None] | None = None
        self.checks = 0
        """How many times ``check_newest`` asked the database."""

    @property
    def waiting(self) -> int:
        """How many requests are waiting right now, in all rooms."""
        return sum(len(mailboxes) for mailboxes in self.waiters.values())

    def forget(self) -> None:
        """The subscription broke or came back: a message may have gone unheard."""
        self.generation += 1
        self.newest.clear()
        self.based.clear()

    def known_newest(self, room: str) -> int | None:
        """The room's newest message id if this hub knows it without a query, else None.

        Only while posts publish wake-ups: a benchmark of another strategy turns them off
        (``PUSHLAB_PUBLISH_ONLY``), and a hub that hears nothing knows nothing."""
        if room in self.based and self._subscribed.is_set() and wakeups_published():
            return self.newest[room]
        return None

    def learned(self, room: str, newest: int, generation: int) -> None:
        """The database said the room's newest id was ``newest``, read after ``generation``
        was current and a waiter in the room was registered: from here on the hub knows it."""
        if generation == self.generation and self._subscribed.is_set():
            self.newest[room] = max(self.newest.get(room, 0), newest)
            self.based.add(room)

    def wake_all(self) -> None:
        """Every waiter re-reads the database (``None``: "look for yourself")."""
        for mailboxes in self.waiters.values():
            for mailbox in mailboxes:
                mailbox.put_nowait(None)

    async def check_newest(self) -> None:
        """One query for the newest id of every room with waiters: a waiter behind it gets
        ``None`` (it re-reads after its own cursor), since that message came without a wake-up
        heard here. The hub learns these ids; what it knew of rooms without a waiter now is
        forgotten (nobody checked it), so their next waiter reads the database itself."""
        rooms = set(self.waiters)
        self.based &= rooms
        generation = self.generation
        newest = await chat.anewest_ids(rooms)
        self.checks += 1
        for room, last_id in newest.items():
            self.learned(room, last_id, generation)
            for mailbox in list(self.waiters.get(room, ())):
                if mailbox.behind(last_id):
                    mailbox.put_nowait(None)

    async def _check_periodically(self) -> None:
        """``check_newest`` every ``PUSHLAB_MISSED_WAKEUP_CHECK_S`` while requests wait. It ends
        at the first tick that finds none (or when the loop closes, which cancels it), and the
        hub then forgets what it knew, unchecked from here on: the next waiter reads the
        database and starts the checks again."""
        while True:
            await asyncio.sleep(settings.PUSHLAB_MISSED_WAKEUP_CHECK_S)
            if not self.waiters:
                self.based.clear()
                return
            try:
                await self.check_newest()
            except Exception as exc:  # the database failed: nothing known is checked now
                log.warning("missed wake-up check failed (%s: %s)", type(exc).__name__, exc)
                self.based.clear()

    def _ensure_checking(self) -> None:
        if self._checker is None or self._checker.done():
            self._checker = asyncio.create_task(
                self._check_periodically(), name="pushlab-wakeup-check"
            )

    def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._subscribed.clear()
            self._listener = asyncio.create_task(self._listen(), name="pushlab-wakeup-hub")

    async def _listen(self) -> None:
        pause_s = SUBSCRIBE_BACKOFF_S[0]
        while True:
            try:
                await self._listen_once()
            except Exception as exc:  # Redis restarted, gone or refusing: subscribe again
                log.warning(
                    "wake-up subscription broke (%s: %s); subscribing again",
                    type(exc).__name__,
                    exc,
                )
            else:
                pause_s = SUBSCRIBE_BACKOFF_S[0]
            self._subscribed.clear()
            self.forget()
            self.wake_all()  # they re-read now, and again once the subscription is back
            await asyncio.sleep(pause_s)
            pause_s = min(2 * pause_s, SUBSCRIBE_BACKOFF_S[1])

    async def _listen_once(self) -> None:
        # The hub's one subscription: a pool of exactly one connection, named in CLIENT LIST.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=1, client_name="pushlab-wakeup-hub"
        )
        client = aioredis.Redis(connection_pool=pool)
        pubsub = client.pubsub()
        try:
            # --8<-- [start:one-subscription]
            await pubsub.psubscribe(CHANNEL_PREFIX + "*")
            async for item in pubsub.listen():
                if item["type"] == "psubscribe":
                    # Confirmed, the first time or after redis-py reconnected by itself:
                    # from here on no push is missed; what came before is in the database.
                    self.subscriptions += 1
                    self.forget()
                    self._subscribed.set()
                    self.wake_all()
                    continue
                if item["type"] != "pmessage":
                    continue
                message = json.loads(item["data"])
                room = message["room"]
                self.newest[room] = max(self.newest.get(room, 0), int(message["id"]))
                for mailbox in list(self.waiters.get(message["room"], ())):
                    mailbox.put_nowait(message)
            # --8<-- [end:one-subscription]
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()

    @contextlib.asynccontextmanager
    async def subscribe(self, room: str, cursor: int) -> AsyncIterator[Mailbox]:
        """Register a waiter whose client holds the room's messages up to ``cursor`` (keep the
        mailbox's ``cursor`` up to date as it gets more); the subscription is live before this
        yields, so read the backlog inside the block and no wake-up can be missed. If Redis
        does not confirm the subscription within ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S`` this
        yields anyway: the waiter is woken (``None``) when it is confirmed. Leaving the block
        (answer, timeout or client gone) releases everything."""
        mailbox = Mailbox(cursor)
        self._ensure_listening()
        if not self._subscribed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.PUSHLAB_REDIS_COMMAND_TIMEOUT_S):
                    await self._subscribed.wait()
        # Registered once subscribed (or given up waiting): a registered waiter is one whose
        # wake-ups cannot be missed from here on, and the confirmation that woke everyone
        # registered before it is not a spurious wake-up for this one.
        self.waiters[room].add(mailbox)
        self._ensure_checking()
        try:
            yield mailbox
        finally:
            self.waiters[room].discard(mailbox)
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
