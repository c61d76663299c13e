"""The per-client rate limit on posting: a token bucket per client, kept in this process.

A client is its session (the author name the session carries), not its IP:
every benchmark client comes from 127.0.0.1. The buckets live in process memory,
not in Redis, so the limit adds no Redis command to a delivery (the benchmark
counts them) and no round trip to a post. The price: with N server processes a
client whose requests are spread over all of them may post up to N times the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from lab import chat
from lab.chat import ChatError

MAX_TRACKED_CLIENTS = 10_000
"""Past this many buckets, the full ones are forgotten (a full bucket is a fresh client)."""


class RateLimited(ChatError):
    """A client posted faster than its bucket allows: 429 over HTTP, an error frame over WS."""

    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """``burst`` messages at once, refilled at ``per_second``; thread-safe, as posts run in
    worker threads."""

    def __init__(
        self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}
        self.lock = threading.Lock()

    def spend(self, client: str) -> None:
        """Take one token from the client's bucket, or raise ``RateLimited`` if it is empty."""
        now = self.clock()
        with self.lock:
            bucket = self.buckets.get(client) or Bucket(float(self.burst), now)
            bucket.tokens = min(
                self.burst, bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
            if bucket.tokens < 1:
                wait = (1 - bucket.tokens) / self.per_second
                raise RateLimited(
                    f"too many messages: at most {self.burst} at once and {self.per_second:g} "
                    f"per second; try again in {wait:.1f} s",
                    retry_after_s=wait,
                )
            bucket.tokens -= 1
            self.buckets[client] = bucket
            if len(self.buckets) > MAX_TRACKED_CLIENTS:
                self.forget_full_buckets(now)

    def forget_full_buckets(self, now: float) -> None:
        refill = self.burst / self.per_second
        self.buckets = {
            client: bucket
            for client, bucket in self.buckets.items()
            if now - bucket.updated < refill
        }


_limiters: dict[tuple[int, float], TokenBucketLimiter] = {}


def current_limiter() -> TokenBucketLimiter | None:
    """This process's limiter for the current settings; ``None`` when the limit is off."""
    burst, per_second = settings.PUSHLAB_RATE_LIMIT_BURST, settings.PUSHLAB_RATE_LIMIT_PER_S
    if burst <= 0 or per_second <= 0:
        return None
    key = (burst, per_second)
    if key not in _limiters:
        _limiters[key] = TokenBucketLimiter(burst, per_second)
    return _limiters[key]


def post_client_message(
    *, room: str, author: str, text: str, client_id: object = None
) -> chat.Posted:
    """``chat.post`` for a client's message: HTTP and WebSocket both send through here.

    The bucket is keyed by the author, which the server derives from the session. A
    repeat of a ``client_id`` spends a token too: it is a send like any other.
    """
    limiter = current_limiter()
    if limiter is not None:
        limiter.spend(author)
    return chat.post(room=room, author=author, text=text, client_id=client_id)


# database_sync_to_async, like lab.chat's twins: it closes stale connections around the call.
apost_client_message = database_sync_to_async(post_client_message)
