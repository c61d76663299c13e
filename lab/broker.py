"""A short pause of the post path's Redis steps after one of them times out.

Posts run one after another on Django's thread-sensitive worker thread, so a stalled Redis
that costs each post a few timeouts makes the posts queue behind each other. After a Redis
step of a post (rate limit, push) times out, the steps are skipped for
``PUSHLAB_REDIS_RETRY_AFTER_S``: posts are stored and answered at once, and the clients get
those messages from the database (polls, a long poll's final look, a socket's gap filling).

A message stored but not pushed (Redis down, stalled or paused) is remembered, the newest
one of each room, and pushed again by a background thread once Redis answers (``push_later``):
a receiver that sees an id past the one it expects fills the gap from the database, so one
push per room brings every message the outage held back, even if no later post comes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_skip_until = 0.0


def redis_paused() -> bool:
    """True while the post path leaves Redis alone after a recent failure."""
    return time.monotonic() < _skip_until


def redis_failed(what: str, exc: BaseException) -> None:
    """Record a failed Redis step. A timeout (a stalled Redis: each try costs the full
    timeout) pauses the post path's Redis steps for a while; a refused connection (Redis
    down or restarting: each try fails at once) does not, so pushes resume the moment
    Redis is back."""
    global _skip_until
    if isinstance(exc, redis.TimeoutError | TimeoutError):
        _skip_until = time.monotonic() + settings.PUSHLAB_REDIS_RETRY_AFTER_S
        log.warning(
            "%s timed out (%s); Redis steps of posts paused for %g s",
            what,
            exc,
            settings.PUSHLAB_REDIS_RETRY_AFTER_S,
        )
    else:
        log.warning("%s failed (%s: %s)", what, type(exc).__name__, exc)


REPUSH_EVERY_S = 0.5
"""How often the re-push thread tries again while Redis does not answer."""

_unpushed: dict[str, dict[str, Any]] = {}
"""Room -> its newest message stored but not pushed (then re-pushed by ``_repush``)."""
_unpushed_lock = threading.Lock()
_repusher: threading.Thread | None = None


def push_later(message: dict[str, Any], push: Callable[[dict[str, Any]], bool]) -> None:
    """Remember a stored message whose push failed or was skipped; a thread retries ``push``
    (which says whether it reached Redis) with the newest such message of each room until
    it succeeds. Waiters and sockets drop an id they already have, so a repeat is harmless."""
    global _repusher
    with _unpushed_lock:
        held = _unpushed.get(message["room"])
        if held is None or held["id"] < message["id"]:
            _unpushed[message["room"]] = message
        if _repusher is None:
            _repusher = threading.Thread(
                target=_repush, args=(push,), name="pushlab-repush", daemon=True
            )
            _repusher.start()


def unpushed_rooms() -> list[str]:
    """Rooms whose newest push is still owed (tests and logs)."""
    with _unpushed_lock:
        return sorted(_unpushed)


def _repush(push: Callable[[dict[str, Any]], bool]) -> None:
    global _repusher
    while True:
        time.sleep(max(REPUSH_EVERY_S, _skip_until - time.monotonic()))
        with _unpushed_lock:
            if not _unpushed:
                _repusher = None
                return
            owed = list(_unpushed.values())
        for message in owed:
            if not push(message):
                break  # Redis is still away: wait and try again
            with _unpushed_lock:
                if _unpushed.get(message["room"]) is message:
                    del _unpushed[message["room"]]
            log.info(
                "message %s of room %s pushed after Redis came back", message["id"], message["room"]
            )
