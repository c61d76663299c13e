"""The rate limit on posting: token buckets kept in Redis, so every server process shares them.

Two buckets are spent for each post, atomically in one Lua script:

- the **session**'s (the author name the session carries): ``PUSHLAB_RATE_LIMIT_BURST``
  messages at once, refilled at ``PUSHLAB_RATE_LIMIT_PER_S``;
- the **address**'s (the client's IP as the ASGI server sees it): a higher bound,
  ``PUSHLAB_RATE_LIMIT_ADDRESS_BURST`` / ``..._ADDRESS_PER_S``, which stops a client that
  throws its session away to get a fresh allowance on every request.

A post is refused (and spends nothing) if either bucket is empty. A WebSocket without a
session (no cookie: every connection would get a new author, so a new session bucket) spends
from one session-sized bucket per address instead (``anonymous_bucket``).

Minting a guest session (``lab.authors``) spends from a third bucket per address,
``PUSHLAB_SESSION_MINT_BURST`` / ``..._PER_S``: only the request that mints one pays that
EVALSHA, a request that carries its session pays nothing. The script reads the
time from Redis (``TIME``), so N processes - or machines - share one clock as well as one
bucket: a client gets the configured rate however its requests are spread. One EVALSHA
per post; no round trip when the limit is off. If Redis cannot be reached the post is
let through (the database, not Redis, decides whether a message is stored), with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings

from lab import broker, chat
from lab.chat import ChatError
from lab.wakeups import post_path_timeouts

KEY_PREFIX = "pushlab:ratelimit:"
RATE_LIMIT_CONNECTIONS = 4
"""The limiter's own bounded pool (posts run on many threads, each EVALSHA takes ~0.1 ms)."""

# KEYS: one bucket per key. ARGV: for each key its burst and rate, then "now" (seconds;
# empty: Redis's own clock). Spends one token from every bucket, or none if any is empty.
# Returns {1, ""} or {0, "<seconds until the emptiest bucket has a token>"}.
TOKEN_BUCKETS_LUA = """
local now = tonumber(ARGV[#ARGV])
if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
    local burst = tonumber(ARGV[2 * i - 1])
    local rate = tonumber(ARGV[2 * i])
    local state = redis.call('HMGET', key, 'tokens', 'at')
    local tokens = tonumber(state[1]) or burst
    local at = tonumber(state[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
    levels[i] = tokens
    if tokens < 1 then
        wait = math.max(wait, (1 - tokens) / rate)
    end
end
if wait > 0 then
    return {0, tostring(wait)}
end
for i, key in ipairs(KEYS) do
    local burst = tonumber(ARGV[2 * i - 1])
    local rate = tonumber(ARGV[2 * i])
    redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', tostring(now))
    redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return {1, ''}
"""


class RateLimited(ChatError):
    """A client posted faster than its buckets allow: 429 over HTTP, an error frame over WS."""

    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Bucket:
    """One token bucket: its Redis key, its size and its refill rate."""

    key: str
    burst: int
    per_second: float


class RedisTokenBuckets:
    """Spends one token from several buckets at once, in Redis (see the module docstring)."""

    def __init__(self, client: redis.Redis) -> None:
        self.script = client.register_script(TOKEN_BUCKETS_LUA)

    def spend(self, buckets: list[Bucket], now: float | None = None) -> None:
        """One token from every bucket, or ``RateLimited`` (and none spent) if one is empty.
        ``now``: the clock to use (tests); by default Redis's own."""
        args: list[str | float] = []
        for bucket in buckets:
            args += [bucket.burst, bucket.per_second]
        args.append("" if now is None else repr(now))
        allowed, wait = self.script(keys=[bucket.key for bucket in buckets], args=args)
        if int(allowed) != 1:
            wait_s = float(wait)
            raise RateLimited(
                f"too many messages: at most {buckets[0].burst} at once and "
                f"{buckets[0].per_second:g} per second; try again in {wait_s:.1f} s",
                retry_after_s=wait_s,
            )


_limiter: RedisTokenBuckets | None = None


def current_limiter() -> RedisTokenBuckets | None:
    """This process's limiter; ``None`` when the limit is off (``PUSHLAB_RATE_LIMIT_BURST=0``)."""
    global _limiter
    if settings.PUSHLAB_RATE_LIMIT_BURST <= 0 or settings.PUSHLAB_RATE_LIMIT_PER_S <= 0:
        return None
    if _limiter is None:
        pool = redis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=RATE_LIMIT_CONNECTIONS,
            timeout=settings.PUSHLAB_REDIS_POOL_TIMEOUT_S,
            client_name="pushlab-rate-limit",
            **post_path_timeouts(),
        )
        _limiter = RedisTokenBuckets(redis.Redis(connection_pool=pool))
    return _limiter


def anonymous_bucket(address: str | None) -> str:
    """The session bucket's key for senders without a session (a WebSocket with no cookie):
    one per address, so opening another such socket gives no new allowance."""
    return f"anonymous@{address}"


def buckets_for(author: str, address: str | None) -> list[Bucket]:
    """The session's bucket first (its numbers go into the error), then the address's.
    ``author``: the session's name, or ``anonymous_bucket(address)``."""
    buckets = [
        Bucket(
            f"{KEY_PREFIX}session:{author}",
            settings.PUSHLAB_RATE_LIMIT_BURST,
            settings.PUSHLAB_RATE_LIMIT_PER_S,
        )
    ]
    address_burst = settings.PUSHLAB_RATE_LIMIT_ADDRESS_BURST
    address_rate = settings.PUSHLAB_RATE_LIMIT_ADDRESS_PER_S
    if address and address_burst > 0 and address_rate > 0:
        buckets.append(Bucket(f"{KEY_PREFIX}address:{address}", address_burst, address_rate))
    return buckets


def spend_allowance(author: str, address: str | None) -> None:
    """Raise ``RateLimited`` if this client (session or address) posts too fast."""
    limiter = current_limiter()
    if limiter is None or broker.redis_paused():
        return
    try:
        limiter.spend(buckets_for(author, address))
    except redis.RedisError as exc:
        broker.redis_failed("the rate limit check", exc)


def spend_mint_allowance(address: str | None) -> None:
    """Raise ``RateLimited`` if ``address`` mints guest sessions faster than
    ``PUSHLAB_SESSION_MINT_BURST`` at once and ``..._PER_S`` after; burst 0: no limit."""
    burst, rate = settings.PUSHLAB_SESSION_MINT_BURST, settings.PUSHLAB_SESSION_MINT_PER_S
    limiter = current_limiter()
    if not address or burst <= 0 or rate <= 0 or limiter is None or broker.redis_paused():
        return
    try:
        limiter.spend([Bucket(f"{KEY_PREFIX}mint:{address}", burst, rate)])
    except RateLimited as exc:
        wait_s = exc.retry_after_s or 1.0
        raise RateLimited(
            f"too many new sessions from this address: at most {burst} at once and {rate:g} "
            f"per second; keep the session cookie, or try again in {wait_s:.1f} s",
            retry_after_s=wait_s,
        ) from None
    except redis.RedisError as exc:
        broker.redis_failed("the session mint check", exc)


async def apost_client_message(
    *,
    room: str,
    author: str,
    text: str,
    client_id: object = None,
    address: str | None = None,
    bucket: str | None = None,
) -> chat.Posted:
    """``chat.apost`` for a client's message: HTTP and WebSocket both send through here.

    The session bucket is keyed by ``bucket``, by default the author, which the server
    derives from the session; ``address`` is the client's IP. A repeat of a ``client_id``
    spends a token too: it is a send like any other. The check runs in the database thread,
    just before the store.
    """
    key = bucket or author
    return await chat.apost(
        room=room,
        author=author,
        text=text,
        client_id=client_id,
        check=lambda: spend_allowance(key, address),
    )
