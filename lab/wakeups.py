"""The wake-up hub: held requests (long polls, event streams) wait here, one subscription a
process; and the push seam's Redis backend (``RedisBackend``).

Shared push infrastructure, so it lives in the core: strategies whose clients wait on it
publish to ``lab.push.WAKE_UPS``, and their views wait with ``WakeUpHub.subscribe``,
``backlog`` and ``next_messages``.

Each stored message is published through the backend ``PUSHLAB_PUSH_URL`` names
(``lab.push``). With Redis, it is a PUBLISH on ``pushlab:room:<room>``, and each process keeps
ONE pattern subscription to ``pushlab:room:*``; the hub hands every message to the mailboxes of
the requests waiting in that room, so a thousand waiting requests cost one Redis connection,
not a thousand. A message whose wake-up never reaches this process (stored by another process
on another Redis, by ``manage.py shell``, or its PUBLISH lost) is found by the hub's periodic
check instead: one query a ``PUSHLAB_MISSED_WAKEUP_CHECK_S`` for every room with waiters
(``WakeUpHub.check_newest``).
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

from lab import chat, push
from lab.chat import ChatMessage

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "pushlab:room:"
WakeUp = dict[str, Any] | None
"""A message pushed to a waiter; ``None`` means "the subscription broke: re-read the database"."""


def room_channel(room: str) -> str:
    return CHANNEL_PREFIX + room


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


class Mailbox:
    """One waiter's wake-ups, in the order they came: ``asyncio.Queue``'s ``put_nowait`` and
    ``get`` for a single reader, without the rest. A held long poll or event stream keeps
    one; a ``Queue`` (three deques and an ``Event``) kept about 3 KB more per held request
    (docs/decisions.md, "A long poll's mailbox")."""

    __slots__ = ("cursor", "items", "room", "waiter")

    def __init__(self, cursor: int = 0, room: str = "") -> None:
        self.items: list[WakeUp] = []
        self.waiter: asyncio.Future[None] | None = None
        self.room = room
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
    """This process's one subscription (through a ``lab.push`` backend) and the requests
    waiting on it.

    The subscription outlives Redis failures: when it breaks (Redis restarted or gone) the
    listener subscribes again, with a growing pause, until Redis answers. Each time the
    subscription is confirmed (the first time and after every break) every waiter gets
    ``None`` and re-reads the database after its own cursor: a message stored while the
    subscription was away, whose push no one heard, is found there. Pushes that failed
    meanwhile are made again by ``lab.broker.push_later``. While requests wait, a periodic
    check (``check_newest``) finds the messages whose wake-up never came here at all.
    """

    def __init__(self, backend: push.PushBackend) -> None:
        self.backend = backend
        self.waiters: defaultdict[str, set[Mailbox]] = defaultdict(set)
        self.waiting = 0
        """How many requests are held right now, in all rooms (``admit``, ``release``)."""
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

    def forget(self) -> None:
        """The subscription broke or came back: a message may have gone unheard."""
        self.generation += 1
        self.newest.clear()
        self.based.clear()

    def known_newest(self, room: str) -> int | None:
        """The room's newest message id if this hub knows it without a query, else None.

        Only while posts publish wake-ups: a benchmark of another strategy turns them off
        (``PUSHLAB_PUBLISH_ONLY``), and a hub that hears nothing knows nothing."""
        if room in self.based and self._subscribed.is_set() and push.wakeups_published():
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

    # --- what the backend calls (lab.push.Listener) ---

    def confirmed(self) -> None:
        """The subscription is live, the first time or again: from here on no message is
        missed, and what came before is in the database, so every waiter re-reads."""
        self.subscriptions += 1
        self.forget()
        self._subscribed.set()
        self.wake_all()

    # --8<-- [start:hand-out]
    def heard(self, message: ChatMessage) -> None:
        """A message published by some process: into the mailbox of each waiter in its room."""
        room = message["room"]
        self.newest[room] = max(self.newest.get(room, 0), int(message["id"]))
        for mailbox in list(self.waiters.get(room, ())):
            mailbox.put_nowait(message)

    # --8<-- [end:hand-out]

    # --- the missed wake-up check ---

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

    # --- the subscription ---

    def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._subscribed.clear()
            self._listener = asyncio.create_task(self._listen(), name="pushlab-wakeup-hub")

    async def _listen(self) -> None:
        pause_s = SUBSCRIBE_BACKOFF_S[0]
        while True:
            try:
                await self.backend.listen(self)
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

    async def join(self, room: str, cursor: int) -> Mailbox:
        """Register a waiter whose client holds the room's messages up to ``cursor``, once the
        subscription is live, so a message stored from here on wakes it: read the backlog
        after this. If it is not confirmed within ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S`` this
        registers anyway: the waiter is woken (``None``) when it is. Past the bound on held
        requests it raises ``chat.ServerBusy`` (``chat.admit_held``, checked and counted with
        no ``await`` between). ``release`` undoes it."""
        self._ensure_listening()
        if not self._subscribed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.PUSHLAB_REDIS_COMMAND_TIMEOUT_S):
                    await self._subscribed.wait()
        # Registered once subscribed (or given up waiting): the confirmation that woke everyone
        # registered before it is not a spurious wake-up for this one.
        chat.admit_held(self.waiting)
        mailbox = Mailbox(cursor, room)
        self.waiters[room].add(mailbox)
        self.waiting += 1
        self._ensure_checking()
        return mailbox

    def release(self, mailbox: Mailbox) -> None:
        """The request is over (answered, timed out, client gone); a second call does nothing."""
        waiting = self.waiters.get(mailbox.room)
        if waiting is None or mailbox not in waiting:
            return
        waiting.discard(mailbox)
        self.waiting -= 1
        if not waiting:
            del self.waiters[mailbox.room]

    @contextlib.asynccontextmanager
    async def subscribe(self, room: str, cursor: int) -> AsyncIterator[Mailbox]:
        """``join`` for the length of the block: leaving it (answer, timeout or client gone)
        releases everything."""
        mailbox = await self.join(room, cursor)
        try:
            yield mailbox
        finally:
            self.release(mailbox)

    # --- waiting: the one helper of every request held on the hub ---

    async def backlog(self, room: str, after: int) -> list[ChatMessage]:
        """The room's messages after ``after`` (a page at most), read once the waiter is
        registered (and again as the last look of a long poll that timed out).

        The common case, the client holding the room's newest message, needs no query: the hub
        knows the newest id of a room it heard since it last read it (``[]``, without a hop to
        the database thread). Otherwise one query reads them, and when it finds nothing the
        hub learns that ``after`` is the newest id.
        """
        if self.known_newest(room) == after:
            return []
        generation = self.generation
        messages = await chat.aread_after(room, after)
        if not messages:
            self.learned(room, after, generation)
        return messages

    async def next_messages(self, mailbox: Mailbox, timeout: float) -> list[ChatMessage]:
        """The messages after the mailbox's cursor as soon as a wake-up brings any, or ``[]``
        after ``timeout`` seconds. A wake-up carries the next message itself; a gap or a
        ``None`` is filled from the database."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    incoming = await mailbox.get()
                    found = await chat.amessages_following(mailbox.room, mailbox.cursor, incoming)
                    if found:
                        return found
        except TimeoutError:
            return []


class RedisBackend(push.PushBackend):
    """The push seam over Redis pub/sub (``redis://``, ``rediss://``, ``unix://``): a PUBLISH
    per message from the post threads, one pattern subscription per hub."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._publisher: redis.Redis | None = None

    def publish(self, message: ChatMessage) -> None:
        """PUBLISH from a thread. Posts arrive on many threads at once; a bounded pool
        (``PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS``) makes them share a few connections (a
        PUBLISH takes well under a millisecond) instead of opening one per thread."""
        if self._publisher is None:
            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=settings.PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS,
                timeout=settings.PUSHLAB_REDIS_POOL_TIMEOUT_S,
                client_name="pushlab-wakeup-publisher",
                **post_path_timeouts(),
            )
            self._publisher = redis.Redis(connection_pool=pool)
        self._publisher.publish(room_channel(message["room"]), json.dumps(message))

    async def listen(self, listener: push.Listener) -> None:
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
                    listener.confirmed()
                elif item["type"] == "pmessage":
                    listener.heard(json.loads(item["data"]))
            # --8<-- [end:one-subscription]
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()


_hubs: dict[tuple[asyncio.AbstractEventLoop, str], WakeUpHub] = {}


def current_hub() -> WakeUpHub:
    """The hub of the running event loop (a server has one loop; tests make one per test) on
    the backend ``PUSHLAB_PUSH_URL`` names."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _hubs if other[0].is_closed()]:
        del _hubs[other]
    key = (loop, settings.PUSHLAB_PUSH_URL)
    if key not in _hubs:
        _hubs[key] = WakeUpHub(push.backend_for(key[1]))
    return _hubs[key]
