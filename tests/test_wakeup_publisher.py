"""The long-poll wake-up publisher shares a few Redis connections however many threads post."""

from __future__ import annotations

import threading

import pytest
import redis
from django.conf import settings

from lab import chat


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_share_a_bounded_set_of_publisher_connections() -> None:
    start = threading.Barrier(16)

    def post(n: int) -> None:
        start.wait()
        chat.post_message(room="publisher-bound", author="ann", text=f"message {n}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    clients = redis.Redis.from_url(settings.REDIS_URL).client_list()
    publishers = [c for c in clients if c.get("name") == "pushlab-wakeup-publisher"]
    assert 1 <= len(publishers) <= settings.PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS
    assert [m["id"] for m in chat.messages_after("publisher-bound", 0)] == list(range(1, 17))
