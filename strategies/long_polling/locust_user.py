"""The Locust user that behaves like long-polling.js; imported only inside Locust processes."""

from __future__ import annotations

import gevent
from locust import task

from benchmarks.users import ChatUser


class LongPollingUser(ChatUser):
    """Holds a wait request open and re-asks at once when it answers, like long-polling.js.

    Locust records each held request's time under ``.../wait``: that is how long
    the server held it, not a delivery latency.
    """

    strategy_key = "long-polling"

    @task
    def long_poll(self) -> None:
        timeout = float(self.config["longPollTimeoutS"]) if self.config else 25.0
        messages = self.get_messages(
            f"/api/rooms/{self.room}/messages/wait?after={self.last_id}&timeout={timeout:g}",
            "/api/rooms/[room]/messages/wait",
            timeout=timeout + 10,
        )
        if messages is None:
            gevent.sleep(self.backoff.next_delay_s())  # as the page does after an error
        else:
            self.back_online()
            self.deliver(messages)
