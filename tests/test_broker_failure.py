"""The broker fails, the chat survives: posting while Redis is down or stalled is never a
500 and never a hang (the database is the source of truth; each Redis step of a post gives
up after ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S``), and the polling strategies deliver every
message stored meanwhile once Redis is back, without a server restart.

A private redis-server of the test's own is restarted (empty, as after a crash) and
stalled with SIGSTOP; the shared Redis is never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.embedded_redis import EmbeddedRedis, start_embedded_redis
from lab.serverproc import ServerProcess
from tests.clients import (
    ChatSession,
    LongPollingReceiver,
    Receiver,
    ShortPollingReceiver,
    WebSocketReceiver,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_S = 1.0
POST_WITHIN_S = 3 * COMMAND_TIMEOUT_S + 3  # three Redis steps, each given up, and slack


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = start_embedded_redis()
    try:
        yield server
    finally:
        server.resume()
        server.stop()


@pytest.fixture(params=["daphne", "uvicorn"])
def site(
    request: pytest.FixtureRequest,
    broker: EmbeddedRedis,
    server_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[ServerProcess]:
    env = {**server_env, "REDIS_URL": broker.url, "PUSHLAB_VAR_DIR": str(tmp_path)}
    env["PUSHLAB_REDIS_COMMAND_TIMEOUT_S"] = str(COMMAND_TIMEOUT_S)
    process = ServerProcess(env=env, server=request.param, log_path=tmp_path / "server.log")
    try:
        yield process.start()
    finally:
        process.stop()


def timed_post(session: ChatSession, text: str) -> tuple[int, float]:
    started = time.monotonic()
    answer = session.post(text, client_id=text)
    return answer.status_code, time.monotonic() - started


def receivers(url: str, room: str) -> list[Receiver]:
    return [ShortPollingReceiver(url, room).start(), LongPollingReceiver(url, room).start()]


def test_posts_while_redis_is_down_are_stored_and_delivered_after_it_returns(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    room = "broker-down"
    following = receivers(site.url, room)
    sender = ChatSession(site.url, room)
    try:
        assert timed_post(sender, "before")[0] == 201
        broker.process.terminate()
        broker.process.wait(10)
        for n in range(3):
            status, took = timed_post(sender, f"down {n}")
            assert status == 201 and took < POST_WITHIN_S, (status, took)
        broker.restart()  # empty: subscriptions, groups and buckets are gone
        # A socket closed by the restart reconnects with ?after= (as the page does): the
        # catch-up brings what was posted while Redis was down, then pushes resume.
        following.append(WebSocketReceiver(site.url, room, after=1).start())
        wait_until(lambda: len(following[-1].messages) == 3, "the socket caught up", 30)
        assert timed_post(sender, "after")[0] == 201
        texts = ["before", "down 0", "down 1", "down 2", "after"]
        for receiver in following[:2]:
            assert [m["message"] for m in receiver.wait_for(5, timeout=30)] == texts
            assert [m["id"] for m in receiver.messages] == [1, 2, 3, 4, 5]
        assert [m["id"] for m in following[2].wait_for(4, timeout=30)] == [2, 3, 4, 5]
    finally:
        for receiver in following:
            receiver.stop()


def test_posts_while_redis_is_stalled_answer_in_bounded_time(
    broker: EmbeddedRedis, site: ServerProcess
) -> None:
    room = "broker-stalled"
    following = receivers(site.url, room)
    sender = ChatSession(site.url, room)
    answers: list[tuple[int, float]] = []
    try:
        assert timed_post(sender, "before")[0] == 201
        broker.pause()
        posters = [
            threading.Thread(target=lambda n=n: answers.append(timed_post(sender, f"stall {n}")))
            for n in range(3)
        ]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join(POST_WITHIN_S + 5)
        assert len(answers) == 3, "a post hung while Redis was stalled"
        assert all(status == 201 and took < POST_WITHIN_S for status, took in answers), answers
        broker.resume()
        assert timed_post(sender, "after")[0] == 201
        for receiver in following:
            assert len(receiver.wait_for(5, timeout=40)) == 5
            assert [m["id"] for m in receiver.messages] == [1, 2, 3, 4, 5]
    finally:
        broker.resume()
        for receiver in following:
            receiver.stop()
