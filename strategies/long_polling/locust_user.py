"""The Locust user that behaves like long-polling.js; imported only inside Locust processes."""

from __future__ import annotations

import gevent
from locust import task

from strategies.locust_client import TransportUser


class LongPollingUser(TransportUser):
    """Holds a wait request open and re-asks at once when it answers, like long-polling.js.

    Locust records each held request's time under ``.../wait``: that is how long
    the server held it, not a delivery latency. ``network_timeout`` (60 s) bounds the hold.
    """

    strategy_key = "long-polling"
    wait_path = "/wait"
    """The endpoint under ``/api/rooms/<room>/messages`` that holds the request."""

    @task
    def long_poll(self) -> None:
        timeout = float(self.config["longPollTimeoutS"]) if self.config else 25.0
        messages = self.get_messages(
            f"/api/rooms/{self.room}/messages{self.wait_path}?after={self.last_id}"
            f"&timeout={timeout:g}",
            f"/api/rooms/[room]/messages{self.wait_path}",
        )
        if messages is None:
            gevent.sleep(self.backoff.next_delay_s())  # as the page does after an error
        else:
            self.back_online()
            self.deliver(messages)
