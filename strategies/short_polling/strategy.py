"""Short polling: the client asks "anything after id N?" every ``poll_interval_ms``.

There is no server side of its own: it uses the shared ``GET /api/rooms/<room>/messages``,
and nothing is pushed, so ``publish`` keeps the base class's no-op.
"""

from strategies.base import Strategy


class ShortPolling(Strategy):
    key = "short-polling"
    title = "Short polling"
    colour = "#d62728"
    summary = "The browser asks for new messages every poll interval, whether or not any exist."
    client_script = "strategies/short-polling.js"
    locust_user = "benchmarks.users:ShortPollingUser"
