"""The push seam: publish a stored message; a held request subscribes and gets a mailbox.

Two sides, in the shape of encode/broadcaster and Channels' layers:

- **publishing** (this module): ``publish`` from a thread (sync callers, the re-push of an
  owed message) or, on the server's post path, ``publish_wakeup`` in the database thread that
  stored the message and ``arelay`` on the event loop. A failure loses nothing: the message
  is stored and owed (``lab.broker.push_later`` pushes it again once Redis answers).
- **waiting** (``lab.wakeups``): each process's hub keeps one subscription through the
  backend and hands every message to the mailboxes of the requests waiting in its room.

What carries a message between processes is a ``PushBackend``, chosen by the scheme of
``PUSHLAB_PUSH_URL`` (``BACKENDS``): ``memory://`` (``MemoryBackend``, below: one process, for
demos and fast tests) or ``redis://``, ``rediss://``, ``unix://`` (``lab.wakeups.RedisBackend``).
A strategy says how its clients get a message (``Strategy.publisher``): ``WAKE_UPS`` (they wait
on the hub) or a ``Relay`` of its own (WebSockets: the channel layer's ``group_send``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils.module_loading import import_string

from lab import broker

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]


class Listener(Protocol):
    """What a backend delivers to: a process's hub (``lab.wakeups.WakeUpHub``)."""

    def confirmed(self) -> None:
        """The subscription is live (the first time, or again after a break)."""

    def heard(self, message: ChatMessage) -> None:
        """A message published by any process."""


class PushBackend:
    """The contract: carry each published message to every listening hub of every process."""

    def __init__(self, url: str) -> None:
        self.url = url

    def publish(self, message: ChatMessage) -> None:
        """Send ``message`` to every hub, from a thread, right after its commit; raise if it
        did not leave (the caller owes it)."""
        raise NotImplementedError

    async def listen(self, listener: Listener) -> None:
        """Subscribe for ``listener`` and run until cancelled: ``confirmed()`` once the
        subscription is live, ``heard(message)`` for each message. Raise when it breaks: the
        hub calls again after a pause (``lab.wakeups.WakeUpHub``)."""
        raise NotImplementedError


class MemoryBackend(PushBackend):
    """One process, no broker: ``publish`` hands the message to each hub on its own event
    loop. For a one-process demo and for fast tests; processes never hear each other."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.listeners: dict[Listener, asyncio.AbstractEventLoop] = {}

    def publish(self, message: ChatMessage) -> None:
        for listener, loop in list(self.listeners.items()):
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile (tests)
                loop.call_soon_threadsafe(listener.heard, message)

    async def listen(self, listener: Listener) -> None:
        self.listeners[listener] = asyncio.get_running_loop()
        try:
            listener.confirmed()
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self.listeners.pop(listener, None)


BACKENDS = {
    "memory": "lab.push.MemoryBackend",
    "redis": "lab.wakeups.RedisBackend",
    "rediss": "lab.wakeups.RedisBackend",
    "unix": "lab.wakeups.RedisBackend",
}
"""URL scheme -> backend class: the one table of variants."""

_backends: dict[str, PushBackend] = {}


def backend_for(url: str) -> PushBackend:
    """The process's one backend for ``url``: publishers (threads) and every hub share it."""
    if url not in _backends:
        scheme = urlsplit(url).scheme
        if scheme not in BACKENDS:
            known = ", ".join(f"{name}://" for name in BACKENDS)
            raise ValueError(f"PUSHLAB_PUSH_URL must start with one of {known}, not {url!r}")
        _backends[url] = import_string(BACKENDS[scheme])(url)
    return _backends[url]


def backend() -> PushBackend:
    """The backend ``PUSHLAB_PUSH_URL`` names (by default the site's Redis)."""
    return backend_for(settings.PUSHLAB_PUSH_URL)


# --- what each strategy publishes to -------------------------------------------------------


class WakeUps:
    """The publisher of every strategy whose clients wait on the hub (long polling, SSE): the
    backend's ``publish``, once a message however many such strategies there are."""

    def __repr__(self) -> str:
        return "WAKE_UPS"


WAKE_UPS = WakeUps()


@dataclass(frozen=True)
class Relay:
    """A strategy's own way to its clients, awaited on the event loop after the store (for
    WebSockets, the channel layer's ``group_send``); sync callers run it with
    ``async_to_sync``."""

    send: Callable[[ChatMessage], Awaitable[None]]


Publisher = WakeUps | Relay

_publishers: dict[str, Publisher] = {}


def register_publisher(key: str, publisher: Publisher) -> None:
    """Publish to ``publisher`` for strategy ``key``. Strategies are registered when the app
    registry is ready (``strategies/apps.py``), so the core never imports them."""
    _publishers[key] = publisher


def registered_publishers() -> dict[str, Publisher]:
    """The publishers by strategy key: all registered, or only those named in
    ``PUSHLAB_PUBLISH_ONLY`` (a benchmark of one strategy pays only for that one)."""
    only = settings.PUSHLAB_PUBLISH_ONLY
    return {key: found for key, found in _publishers.items() if not only or key in only}


def wakeups_published() -> bool:
    """Whether posts publish wake-ups: some strategy whose clients wait on the hub is
    published to (a hub that hears nothing knows nothing: ``WakeUpHub.known_newest``)."""
    return WAKE_UPS in registered_publishers().values()


def relays() -> dict[Relay, str]:
    """Each relay to run once, with the first strategy key that named it (for the logs)."""
    found: dict[Relay, str] = {}
    for key, publisher in registered_publishers().items():
        if isinstance(publisher, Relay):
            found.setdefault(publisher, key)
    return found


# --- publishing ------------------------------------------------------------------------------


def publish(message: ChatMessage) -> None:
    """Publish a stored message from a thread (``post`` for sync callers: the shell, ``seed``,
    tests): the wake-ups and every relay. What fails is owed and pushed again later."""
    if not publish_now(message):
        broker.push_later(message, publish_now)


def publish_now(message: ChatMessage) -> bool:
    """One try of ``publish``; False when Redis failed or is paused (the rest is then skipped:
    the whole message is owed, and a receiver drops an id it already has)."""
    if broker.redis_paused():
        log.warning("message %s stored, pushed later: Redis failed moments ago", message["id"])
        return False
    if wakeups_published() and not sent(backend().publish, message, "wake-ups"):
        return False
    return all(sent(async_to_sync(relay.send), message, key) for relay, key in relays().items())


def sent(send: Callable[[ChatMessage], Any], message: ChatMessage, to: str) -> bool:
    """``send(message)``; False, and the failure recorded (``lab.broker``), if it raised."""
    try:
        send(message)
    except Exception as exc:
        broker.redis_failed(f"publishing message {message['id']} to {to}", exc)
        return False
    return True


def publish_wakeup(message: ChatMessage) -> None:
    """The server's post path, in the database thread right after the store: the wake-ups of
    held requests in every process. A sync PUBLISH here cost less CPU than redis-py's asyncio
    client on the loop (docs/decisions.md, "Publishing from the event loop")."""
    if not wakeups_published():
        return
    if broker.redis_paused():
        log.warning("message %s stored, pushed later: Redis failed moments ago", message["id"])
    elif sent(backend().publish, message, "wake-ups"):
        return
    broker.push_later(message, publish_now)


_relay_order: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def arelay(message: ChatMessage, to: dict[Relay, str] | None = None) -> None:
    """The server's post path, on the event loop after the store: each relay (or those of
    ``to``); a failure is owed like ``publish``'s.

    One message at a time per event loop, in the order the posts were stored: they commit one
    after another in the database thread and resume here in that order, and the lock (first
    come, first served) keeps a relay from overtaking an earlier message in Redis.
    """
    to = relays() if to is None else to
    if not to:
        return
    loop = asyncio.get_running_loop()
    order = _relay_order.get(loop)
    if order is None:
        order = _relay_order[loop] = asyncio.Lock()
    async with order:
        if broker.redis_paused():
            log.warning("message %s stored, pushed later: Redis failed moments ago", message["id"])
            broker.push_later(message, publish_now)
            return
        for relay, key in to.items():
            try:
                await relay.send(message)
            except Exception as exc:
                broker.redis_failed(f"publishing message {message['id']} to {key}", exc)
                broker.push_later(message, publish_now)
                return
