"""The Locust user that behaves like short-polling.js; imported only inside Locust processes."""

from __future__ import annotations

import random

import gevent
from locust import task

from strategies.locust_client import TransportUser


class ShortPollingUser(TransportUser):
    """Asks for messages after its newest id every poll interval, like short-polling.js."""

    strategy_key = "short-polling"
    retry_in_s: float | None = None
    """Set after a failed poll: the backoff delay replaces the poll interval once."""

    @property
    def interval_s(self) -> float:
        return float(self.config["pollIntervalMs"]) / 1000 if self.config else 1.0

    def connect(self) -> None:
        """Start polling at a random point of the interval, as tabs opened at random moments
        do. Locust starts a batch of users at the same instant; polling in lockstep, a room's
        clients would all see each message at the same moment, and a run's latencies would
        be one sample per message instead of one per client."""
        gevent.sleep(random.uniform(0, self.interval_s))

    def wait_time(self) -> float:
        if self.retry_in_s is not None:
            return self.retry_in_s
        return self.interval_s

    @task
    def poll(self) -> None:
        messages = self.get_messages(
            f"/api/rooms/{self.room}/messages?after={self.last_id}", "/api/rooms/[room]/messages"
        )
        if messages is None:
            self.retry_in_s = self.backoff.next_delay_s()
        else:
            self.retry_in_s = None
            self.back_online()
            self.deliver(messages)
