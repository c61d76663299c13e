"""The part of a benchmark client that a strategy writes: how it receives and sends.

Each strategy's Locust user (``strategies/<package>/locust_user.py``, named by its registry
row) subclasses ``TransportUser`` and behaves like its browser client: what it keeps open,
how it asks for messages, how it sends. What every client shares and the benchmark measures
(joining a room, the send schedule, latencies, the delivery accounting) is
``benchmarks.load.users:ChatUser``, which the locustfile puts under each strategy's user, so
the strategies never import the benchmark. Imported only inside Locust processes (it needs
gevent's patching).
"""

from __future__ import annotations

import json
import random
from typing import Any

import gevent
from locust import FastHttpUser, constant


class Backoff:
    """chat.js's jittered exponential backoff: 0.5 s, 1 s, 2 s, ... up to 15 s, each ±50 %.

    Clients that lost the server retry at spread-out times, not all at once.
    """

    def __init__(self) -> None:
        self.attempt = 0

    def next_delay_s(self) -> float:
        base = min(15.0, 0.5 * 2**self.attempt)
        self.attempt += 1
        return base * random.uniform(0.5, 1.5)

    def reset(self) -> None:
        self.attempt = 0


class TransportUser(FastHttpUser):
    """A client's transport: the hooks a strategy implements, and what they may use.

    A ``FastHttpUser`` (geventhttpclient), not an ``HttpUser`` (requests): about a quarter
    of the CPU per request, which is what lets one Locust process hold thousands of
    clients (docs/decisions.md, "Locust users for thousands of clients"). Its client
    keeps cookies (session, CSRF) in ``client.cookiejar``; a keyword it does not know
    becomes a query parameter, so no request passes ``timeout=``: ``network_timeout``
    bounds every read instead.
    """

    abstract = True
    strategy_key: str
    """The strategy's registry key: the room page's ``?strategy=`` and the results' name."""
    wait_time = constant(0)
    concurrency = 2
    """Connections per client: a held request (long poll, event stream) and a send at once."""
    network_timeout = 60.0
    """Seconds a read may wait: above a long poll's hold (25 s) and SSE's keepalive (15 s)."""
    connection_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] | None = None
        """The room page's ``pushlab-config``, once joined."""
        self.room = ""
        self.last_id = 0
        """The newest message id this client has: where it resumes."""
        self.resends = 0
        """Sends repeated with the same client_id: after a failure, or on purpose (chaos)."""
        self.reconnects = 0
        """Times this client got through to the server again after losing it (a restart)."""
        self.backoff = Backoff()
        self.greenlets: list[gevent.Greenlet] = []
        """Killed at stop: a reader a transport keeps running beside its tasks goes here."""

    # --- the hooks a strategy implements -------------------------------------------------
    def connect(self) -> None:
        """Called once the page is loaded: open whatever the strategy keeps open."""

    def disconnect(self) -> None:
        """Called at stop, before accounting."""

    def send(self, text: str, client_id: str) -> bool:
        """Send one message as the browser client does (default: POST to the API).

        False when it was not accepted (e.g. the server is restarting); the caller
        re-sends it with the same ``client_id``, as chat.js does, which the server
        stores once. 200 is the answer to such a repeat.
        """
        answer = self.client.post(
            f"/api/rooms/{self.room}/messages",
            json={"message": text, "client_id": client_id},
            headers={"X-CSRFToken": self.config["csrfToken"] if self.config else ""},
            name="/api/rooms/[room]/messages",
        )
        return answer.status_code in (200, 201)

    def confirmed(self, client_id: str | None) -> None:
        """A message with this client_id is stored (a transport that re-sends uses it)."""

    # --- what the client running the transport provides ----------------------------------
    def deliver(self, messages: list[dict[str, Any]]) -> None:
        """Messages arrived, in order: the benchmark's ``ChatUser`` records them."""
        raise NotImplementedError

    def connection_opened(self) -> None:
        """A held connection (socket, event stream) opened: the run's timeline marks it."""

    def connection_closed(self) -> None:
        """A held connection closed."""

    # --- what every transport uses -------------------------------------------------------
    def back_online(self) -> None:
        """A request or socket worked: count a recovery if it followed errors, reset the backoff."""
        if self.backoff.attempt:
            self.reconnects += 1
        self.backoff.reset()

    def get_messages(self, path: str, name: str) -> list[Any] | None:
        """GET a message list from the API; None (and a Locust failure) on any error."""
        try:
            answer = self.client.get(path, name=name)
            if answer.status_code != 200:
                return None
            return list(json.loads(answer.content or b"null")["messages"])
        except (ValueError, KeyError, TypeError):
            return None

    def cookie_header(self) -> str:
        """This client's cookies (session, CSRF) as a ``Cookie`` header, for a WebSocket."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.client.cookiejar)
