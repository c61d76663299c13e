"""Bounded resources (issue point 6) and the rate limiter's arithmetic (point 4).

Long polls and WebSockets per process are bounded and refused cleanly past the
bound; a socket that missed pushes (what a full channel-layer channel causes)
still gets every message, in order, through the consumer's gap filling.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator

import pytest
import redis
import requests
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.urls import path

from lab import chat
from lab.ratelimit import Bucket, RateLimited, RedisTokenBuckets
from lab.serverproc import ServerProcess
from strategies.websocket.consumers import TRY_AGAIN_LATER_CLOSE_CODE, ChatConsumer, group_name
from tests.clients import ChatSession, close_code, wait_until
from tests.services import own_server


def redis_limiter() -> RedisTokenBuckets:
    """The limiter on the session's Redis; tests pass their own clock (``now``)."""
    return RedisTokenBuckets(redis.Redis.from_url(settings.REDIS_URL))


def bucket(burst: int = 10, per_second: float = 2.0) -> Bucket:
    """A bucket of a key nobody else uses, in the session's Redis."""
    return Bucket(f"pushlab:ratelimit:test:{secrets.token_hex(6)}", burst, per_second)


def test_benchmark_traffic_never_meets_the_default_rate_limit() -> None:
    """A verify step's quick burst, then a message every 5 s for an hour: never refused
    (the session's bucket), and 80 such clients from one address (the sweep's largest
    step, every Locust client on 127.0.0.1) never meet the address's bucket either."""
    limiter = redis_limiter()
    session = bucket()
    address = bucket(settings.PUSHLAB_RATE_LIMIT_ADDRESS_BURST,
                     settings.PUSHLAB_RATE_LIMIT_ADDRESS_PER_S)  # fmt: skip
    now = 1000.0
    for _ in range(5):
        limiter.spend([session, address], now=now)
    for _ in range(720):
        now += 5
        limiter.spend([session, address], now=now)
    clients = [bucket() for _ in range(80)]
    for step in range(12):  # a minute: every client sends once per 5 s, all at the same moment
        for client in clients:
            limiter.spend([client, address], now=now + 5 * step)


def test_a_flood_is_cut_at_the_burst_and_then_paced() -> None:
    limiter = redis_limiter()
    flooder, other = bucket(), bucket()
    for _ in range(10):
        limiter.spend([flooder], now=0.0)
    with pytest.raises(RateLimited) as refused:
        limiter.spend([flooder], now=0.0)
    assert refused.value.status == 429
    assert refused.value.retry_after_s == pytest.approx(0.5)
    limiter.spend([other], now=0.0)  # buckets are per client
    limiter.spend([flooder], now=0.5)
    with pytest.raises(RateLimited):
        limiter.spend([flooder], now=0.5)


def test_a_refused_post_spends_from_no_bucket() -> None:
    """The address's bucket is empty: the session's keeps its tokens."""
    limiter = redis_limiter()
    session, address = bucket(burst=5), bucket(burst=2)
    limiter.spend([session, address], now=0.0)
    limiter.spend([session, address], now=0.0)
    with pytest.raises(RateLimited):
        limiter.spend([session, address], now=0.0)
    for _ in range(3):  # the session still has 3 of its 5
        limiter.spend([session], now=0.0)
    with pytest.raises(RateLimited):
        limiter.spend([session], now=0.0)


def test_buckets_expire_from_redis_once_full_again() -> None:
    limiter = redis_limiter()
    idle = bucket(burst=10, per_second=2.0)
    limiter.spend([idle])
    ttl_ms = redis.Redis.from_url(settings.REDIS_URL).pttl(idle.key)
    assert 0 < ttl_ms <= 6000  # refilled after 5 s: then forgotten


@pytest.fixture(scope="module")
def bounded_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server that allows only two waiting long polls and two open sockets."""
    bounds = {"PUSHLAB_MAX_LONG_POLLS": "2", "PUSHLAB_MAX_WEBSOCKETS": "2"}
    with own_server(server_env, tmp_path_factory.mktemp("bounded"), **bounds) as server:
        yield server


@pytest.mark.slow
def test_long_polls_past_the_bound_get_503_with_retry_after(bounded_server: ServerProcess) -> None:
    client = ChatSession(bounded_server.url, f"bound-{secrets.token_hex(3)}")
    # Warm up the process's wake-up subscription, so the held polls register at once.
    assert client.wait(after=0, timeout=0.1).status_code == 200
    held: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: held.append(client.wait(after=0, timeout=20)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    # Two waiting polls plus the metrics request itself.
    wait_until(lambda: bounded_server.metrics().get("http_open", 0) >= 3)

    refused = client.wait(after=0, timeout=20)
    assert refused.status_code == 503
    assert refused.headers["Content-Type"].startswith("application/json")
    assert "long polls" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) >= 1

    assert client.post("wake up").status_code == 201
    for thread in threads:
        thread.join(timeout=30)
    assert [answer.json()["last_id"] for answer in held] == [1, 1]
    assert client.wait(after=0, timeout=5).status_code == 200  # room again once they left


@pytest.mark.slow
def test_sockets_past_the_bound_are_closed_with_try_again_later(
    bounded_server: ServerProcess,
) -> None:
    client = ChatSession(bounded_server.url, f"bound-{secrets.token_hex(3)}")
    first, second = client.websocket(), client.websocket()
    with contextlib.closing(client.websocket()) as third:
        assert close_code(third) == TRY_AGAIN_LATER_CLOSE_CODE
    second.close()
    with contextlib.closing(first):

        def connects() -> bool:
            socket = client.websocket()
            try:
                socket.send('{"message": "room again"}')
                return "room again" in socket.recv()
            except Exception:
                return False
            finally:
                socket.close()

        assert wait_until(connects, timeout=10)


class RecordingConsumer(ChatConsumer):
    """The real consumer, remembering its channel name so a test can take it out of its group."""

    channel_names: list[str] = []

    async def connect(self) -> None:
        RecordingConsumer.channel_names.append(self.channel_name)
        await super().connect()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_that_missed_pushes_gets_them_in_order_from_the_database() -> None:
    """channels_redis drops group messages to a channel over ``capacity``; here the socket
    misses pushes by leaving its group for a while, which is the same from its side."""
    room = f"gap-{secrets.token_hex(3)}"
    application = URLRouter([path("ws/chat/<str:room>/", RecordingConsumer.as_asgi())])
    communicator = WebsocketCommunicator(application, f"/ws/chat/{room}/")
    connected, _ = await communicator.connect()
    assert connected
    layer = get_channel_layer()
    assert layer is not None
    channel = RecordingConsumer.channel_names[-1]
    post = sync_to_async(chat.post_message)

    await layer.group_discard(group_name(room), channel)
    for n in range(1, 4):
        await post(room=room, author="ann", text=f"missed {n}")
    await layer.group_add(group_name(room), channel)
    await post(room=room, author="ann", text="pushed 4")

    received = [await communicator.receive_json_from(timeout=10) for _ in range(4)]
    assert [m["id"] for m in received] == [1, 2, 3, 4]
    assert [m["message"] for m in received] == ["missed 1", "missed 2", "missed 3", "pushed 4"]
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
