"""The Locust user that behaves like naive-long-polling.js; imported only inside Locust."""

from __future__ import annotations

from strategies.long_polling.locust_user import LongPollingUser


class NaiveLongPollingUser(LongPollingUser):
    """Long polling's client on the naive endpoint: the difference is all on the server."""

    strategy_key = "naive-long-polling"
    wait_path = "/naive-wait"
