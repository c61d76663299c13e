"""The broker fails, the chat survives: posting while Redis is down or stalled is never a
500 and never a hang (the database is the source of truth; each Redis step of a post gives
up after ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S``), and EVERY strategy's client - short and long
polling, naive long polling, SSE, the lecture's WebSocket and a resuming one - gets every
message posted before, during and after the failure, once and in order, without a server
restart and without a later post to bring it (the tail of an outage must arrive by itself).

A private redis-server of the test's own is restarted (empty, as after a crash) and
stalled with SIGSTOP; the shared Redis is never touched. Both channel layers are tried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.embedded_redis import EmbeddedRedis, start_embedded_redis
from lab.serverproc import ServerProcess
from tests.clients import ChatSession, Receiver, one_receiver_of_each_kind, started

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_S = 1.0
POST_WITHIN_S = 3 * COMMAND_TIMEOUT_S + 3  # three Redis steps, each given up, and slack
DELIVERED_WITHIN_S = 30.0
"""Deadline for every receiver to get a message held back by the failure."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = start_embedded_redis()
    try:
        yield server
    finally:
        server.resume()
        server.stop()


@pytest.fixture(
    params=[("daphne", "redis"), ("uvicorn", "redis"), ("uvicorn", "pubsub")],
    ids=lambda p: "-".join(p),
)
def site(
    request: pytest.FixtureRequest,
    broker: EmbeddedRedis,
    server_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[ServerProcess]:
    server, layer = request.param
    env = {**server_env, "REDIS_URL": broker.url, "PUSHLAB_VAR_DIR": str(tmp_path)}
    env["PUSHLAB_REDIS_COMMAND_TIMEOUT_S"] = str(COMMAND_TIMEOUT_S)
    env["PUSHLAB_CHANNEL_LAYER"] = layer
    process = ServerProcess(env=env, server=server, log_path=tmp_path / "server.log")
    try:
        yield process.start()
    finally:
        process.stop()


def timed_post(session: ChatSession, text: str) -> tuple[int, float]:
    started = time.monotonic()
    answer = session.post(text, client_id=text)
    return answer.status_code, time.monotonic() - started


def assert_everyone_got(following: list[Receiver], texts: list[str]) -> None:
    """Each receiver got exactly ``texts``: none lost, none twice, in order (ids 1, 2, ...)."""
    for receiver in following:
        receiver.wait_for(len(texts), timeout=DELIVERED_WITHIN_S)
        assert [m["message"] for m in receiver.messages] == texts, receiver
        assert [m["id"] for m in receiver.messages] == list(range(1, len(texts) + 1)), receiver


def test_posts_while_redis_is_down_are_stored_and_delivered_after_it_returns(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    room = "broker-down"
    with started(one_receiver_of_each_kind(site.url, room)) as following:
        sender = ChatSession(site.url, room)
        assert timed_post(sender, "before")[0] == 201
        assert_everyone_got(following, ["before"])
        broker.process.terminate()
        broker.process.wait(10)
        for n in range(3):
            status, took = timed_post(sender, f"down {n}")
            assert status == 201 and took < POST_WITHIN_S, (status, took)
        broker.restart()  # empty: subscriptions, groups and buckets are gone
        # No post after the restart yet: the outage's tail must arrive by itself.
        texts = ["before", "down 0", "down 1", "down 2"]
        assert_everyone_got(following, texts)
        # Right after the restart, before anyone could have subscribed again, and later.
        assert timed_post(sender, "after")[0] == 201
        assert_everyone_got(following, [*texts, "after"])


def test_a_quick_restart_loses_nothing_posted_just_after_it(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    room = "broker-quick"
    with started(one_receiver_of_each_kind(site.url, room)) as following:
        sender = ChatSession(site.url, room)
        assert timed_post(sender, "before")[0] == 201
        assert_everyone_got(following, ["before"])
        broker.restart()
        # Stored at once: the pushes may reach a Redis nobody has subscribed to again yet.
        for n in range(2):
            assert timed_post(sender, f"just after {n}")[0] == 201
        assert_everyone_got(following, ["before", "just after 0", "just after 1"])
        assert timed_post(sender, "later")[0] == 201
        assert_everyone_got(following, ["before", "just after 0", "just after 1", "later"])


def test_posts_while_redis_is_stalled_answer_in_bounded_time_and_are_delivered(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    room = "broker-stalled"
    with started(one_receiver_of_each_kind(site.url, room)) as following:
        sender = ChatSession(site.url, room)
        answers: list[tuple[int, float]] = []
        try:
            assert timed_post(sender, "before")[0] == 201
            assert_everyone_got(following, ["before"])
            broker.pause()
            posters = [
                threading.Thread(
                    target=lambda n=n: answers.append(timed_post(sender, f"stall {n}"))
                )
                for n in range(3)
            ]
            for poster in posters:
                poster.start()
            for poster in posters:
                poster.join(POST_WITHIN_S + 5)
            assert len(answers) == 3, "a post hung while Redis was stalled"
            assert all(status == 201 and took < POST_WITHIN_S for status, took in answers), answers
            broker.resume()
            # The stalled posts' order is the server's; the ids say it. No later post yet.
            for receiver in following:
                receiver.wait_for(4, timeout=DELIVERED_WITHIN_S)
            stored = [m["message"] for m in following[0].messages]
            assert sorted(stored[1:]) == ["stall 0", "stall 1", "stall 2"], stored
            assert timed_post(sender, "after")[0] == 201
            assert_everyone_got(following, [*stored, "after"])
        finally:
            broker.resume()


def test_while_redis_stays_away_every_client_still_gets_every_message(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    """No push can be made: open sockets and event streams fall back to reading the database
    (the socket watcher, the wake-up hub's retries), polls never needed Redis."""
    room = "broker-away"
    with started(one_receiver_of_each_kind(site.url, room)) as following:
        sender = ChatSession(site.url, room)
        assert timed_post(sender, "before")[0] == 201
        assert_everyone_got(following, ["before"])
        broker.process.terminate()
        broker.process.wait(10)
        for n in range(2):
            assert timed_post(sender, f"away {n}")[0] == 201
        assert_everyone_got(following, ["before", "away 0", "away 1"])
