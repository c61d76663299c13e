"""A short pause of the post path's Redis steps after one of them times out.

Posts run one after another on Django's thread-sensitive worker thread, so a stalled Redis
that costs each post a few timeouts makes the posts queue behind each other. After a Redis
step of a post (rate limit, push) times out, the steps are skipped for
``PUSHLAB_REDIS_RETRY_AFTER_S``: posts are stored and answered at once, and the clients get
those messages from the database (polls, a long poll's final look, a socket's gap filling).
"""

from __future__ import annotations

import logging
import time

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
