"""The Locust user that behaves like short-polling.js; imported only inside Locust processes."""

from __future__ import annotations

import itertools

from locust import task

from strategies.locust_client import TransportUser

GOLDEN = (5**0.5 - 1) / 2
"""Multiples of it, modulo 1, spread evenly over [0, 1) however many there are."""


class ShortPollingUser(TransportUser):
    """Asks for messages after its newest id every poll interval, like short-polling.js."""

    strategy_key = "short-polling"
    numbered = itertools.count()
    """Numbers this process's users, for their phases."""
    retry_in_s: float | None = None
    """Set after a failed poll: the backoff delay replaces the poll interval once."""
    phase_s: float | None = None
    """Set on joining: the one wait, after the first poll, that puts this user's polls at its
    own point of the interval."""

    @property
    def interval_s(self) -> float:
        return float(self.config["pollIntervalMs"]) / 1000 if self.config else 1.0

    def connect(self) -> None:
        """Poll at once, as the page does, then once after this user's phase. Locust starts a
        batch of users at one instant; polling in lockstep, a room's clients would all see
        each message at the same moment, and a run's latencies would be one sample per message
        instead of one per client. The n-th user's phase is n x 0.618... intervals (mod 1):
        spread evenly, and the same in every run."""
        self.phase_s = (next(ShortPollingUser.numbered) * GOLDEN) % 1 * self.interval_s

    def wait_time(self) -> float:
        if self.retry_in_s is not None:
            return self.retry_in_s
        if self.phase_s is not None:
            phase_s, self.phase_s = self.phase_s, None
            return phase_s
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
