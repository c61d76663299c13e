"""Locust users: what every strategy's user shares and the benchmark measures. Each strategy's
own small class (its transport, ``strategies/<package>/locust_user.py``, named by its registry
row) is put over ``ChatUser`` by the locustfile (``measured_user``).

Every client joins a room the way the page does (GET the room page: cookies,
CSRF token, the room's newest id), receives through its strategy, and, if the
scenario makes it a sender, sends ``bench <uuid> <send_epoch_ms>`` texts. Each
arrival is reported as a ``DELIVER`` request whose time is the end-to-end
latency from the send time in the text. Before the clients stop, the senders stop and the
receivers go on for a drain window (``benchmarks.load.drain``); then each client compares
what it got with what its room stored (``benchmarks.load.deliveries``: delivered, in
flight, lost) and appends its account to deliveries.jsonl.
Imported only inside Locust processes (it needs gevent's patching).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
from locust import events
from locust.contrib.fasthttp import FastHttpSession

from benchmarks.load import timeline
from benchmarks.load.deliveries import (
    RECORDS_FILE,
    Anomalies,
    DeliveryAccount,
    account_of,
    delivery_anomalies,
    message_text,
    sent_at_ms,
)
from benchmarks.run.scenarios import DELIVERIES_DIR_ENV, RUN_TAG_ENV, Scenario
from strategies.locust_client import Backoff, TransportUser

SCENARIO = Scenario.from_env()
DELIVERIES_DIR = (
    Path(os.environ[DELIVERIES_DIR_ENV]) if os.environ.get(DELIVERIES_DIR_ENV) else None
)
RUN_TAG = os.environ.get(RUN_TAG_ENV) or uuid.uuid4().hex[:8]
PAGE_CONFIG = re.compile(
    r'<script id="pushlab-config" type="application/json">(.*?)</script>', re.S
)
ACCOUNTING_PAGE = 500
"""Messages per request when a client reads its room's history at stop (the API's maximum)."""

_local_client_numbers = itertools.count()
_local_started_at = time.time()
record_sink: Callable[[dict[str, Any]], None] | None = None
"""Where a Locust worker sends its clients' records (``benchmarks.load.distributed``)."""
_room_history_locks: defaultdict[str, gevent.lock.BoundedSemaphore] = defaultdict(
    gevent.lock.BoundedSemaphore
)
"""One per room: a room's slow fetch holds up only its own clients' accounting."""
_room_history: dict[str, list[tuple[int, float | None]]] = {}
"""Each finished room's stored (id, send time), fetched once per process by the first client
that stops."""
_room_stored_duplicates: dict[str, int] = {}
"""Per room: messages stored with a text already stored (every benchmark text is unique)."""
sending_ends_at = float("inf")
"""When this process's senders stop: the scenario's planned end (``plan_sending``), or the
moment the run was stopped, if earlier (``benchmarks.load.drain``)."""
process_account = DeliveryAccount()
"""This process's clients' accounts added up, logged when the run has stopped."""
events.request.add_listener(timeline.record_request)  # the sampled clients' HTTP requests


def plan_sending(until: float) -> float:
    """Senders of this process stop at ``until`` if not before; the earliest end wins."""
    global sending_ends_at
    sending_ends_at = min(sending_ends_at, until)
    return sending_ends_at


def reopen_sending() -> None:
    """A new run starts in this process (the web UI's Start after a Stop): the end the last
    run's stop set no longer holds, or its senders would send nothing."""
    global sending_ends_at
    sending_ends_at = float("inf")


def log_process_account() -> None:
    """One line for whoever watches Locust's console (``make locust``): what its stop found."""
    if process_account.expected:
        logging.getLogger(__name__).info(
            "deliveries at stop, after the %g s drain window: %s",
            SCENARIO.drain_s,
            process_account.describe(),
        )


class DeliveryError(Exception):
    """A client lost, duplicated or reordered messages (shown among Locust's failures);
    messages still in flight at stop are named in it but are not a fault of their own."""


def claim_client_slot() -> tuple[int, float]:
    """This client's number across every Locust process of the run, and when client 0 started.

    Workers forked by ``--processes`` share a small state file under a lock, so
    rooms fill in order and every sender stops at the same moment.
    """
    if DELIVERIES_DIR is None:
        return next(_local_client_numbers), _local_started_at
    fd = os.open(DELIVERIES_DIR / "clients.json", os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as state_file:
        fcntl.flock(state_file, fcntl.LOCK_EX)
        text = state_file.read()
        state = json.loads(text) if text else {"next": 0, "started_at": time.time()}
        number = state["next"]
        state["next"] = number + 1
        state_file.seek(0)
        state_file.truncate()
        state_file.write(json.dumps(state))
    return int(number), float(state["started_at"])


def follow_master(
    scenario: Scenario, run_tag: str, send_record: Callable[[dict[str, Any]], None]
) -> None:
    """Make this Locust worker play the master's run: its scenario, rooms of its own, records sent.

    A worker (forked or on another machine) numbers its own clients and tags its
    rooms with its index, so a room never spans machines and its latency never
    compares two machines' clocks.
    """
    global SCENARIO, RUN_TAG, DELIVERIES_DIR, _local_client_numbers, _local_started_at, record_sink
    SCENARIO, RUN_TAG, DELIVERIES_DIR = scenario, run_tag, None
    _local_client_numbers, _local_started_at = itertools.count(), time.time()
    record_sink = send_record


def append_record(record: dict[str, Any]) -> None:
    """One line per receiving client in deliveries.jsonl, locked against other processes."""
    if record_sink is not None:
        record_sink(record)
        return
    if DELIVERIES_DIR is None:
        return
    with open(DELIVERIES_DIR / RECORDS_FILE, "a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps(record) + "\n")


class ChatUser(TransportUser):
    """What every strategy's client shares: joining, sending, recording and accounting.

    Under a strategy's transport (``measured_user``): the transport's hooks (``connect``,
    ``send``, ...) come first, and call this class's ``deliver``.
    """

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_number = -1
        self.join_id = 0
        self.received_ids: list[int] = []
        self.seen_ids: set[int] = set()
        self.latencies_ms: list[float] = []
        self.sent_ms: list[float] = []
        """Each first arrival's send time (epoch ms), beside its latency: a capacity step
        counts the deliveries of messages sent in its hold."""
        self.sent = self.send_failures = 0
        self.planned_send_until = float("inf")
        self.timeline = timeline.NOT_SAMPLED
        """Records this client's traffic for the run timeline if it is one of the sample."""

    def on_start(self) -> None:
        self.client_number, started_at = claim_client_slot()
        self.timeline = timeline.for_client(
            self.strategy_key, self.client_number, started_at, SCENARIO.sends(self.client_number)
        )
        self.room = f"bench-{RUN_TAG}-{SCENARIO.name}-{SCENARIO.room_of(self.client_number)}"
        self.planned_send_until = plan_sending(started_at + SCENARIO.duration_s - SCENARIO.drain_s)
        page = self.client.get(
            f"/chat/{self.room}/?strategy={self.strategy_key}", name="/chat/[room]/"
        )
        found = PAGE_CONFIG.search((page.content or b"").decode("utf-8", "replace"))
        if page.status_code != 200 or found is None:
            raise RuntimeError(f"the room page answered {page.status_code} without its config")
        self.config = json.loads(found.group(1))
        self.join_id = self.last_id = int(self.config["lastId"])
        self.connect()
        if SCENARIO.sends(self.client_number):
            self.greenlets.append(gevent.spawn(self.send_loop))

    @property
    def send_until(self) -> float:
        """When this client stops sending: the scenario's plan, or the drain's start."""
        return min(self.planned_send_until, sending_ends_at)

    def send_loop(self) -> None:
        """Send about every ``send_interval_s`` (jittered) until the drain before the end."""
        interval = SCENARIO.send_interval_s
        gevent.sleep(random.uniform(0, max(0.0, min(interval, self.send_until - time.time()))))
        while time.time() < self.send_until:
            if self.send_until_stored(message_text(), uuid.uuid4().hex):
                self.sent += 1
            else:
                self.send_failures += 1
            gevent.sleep(interval * random.uniform(0.8, 1.2))

    def send_until_stored(self, text: str, client_id: str) -> bool:
        """Send, re-sending with the same client_id after a failure (backoff) until the send
        window closes; in the chaos scenario one message in ``resend_every`` is sent twice,
        as if its answer was lost. False: it never got through (a failed send)."""
        retry = Backoff()
        while not self.send(text, client_id):
            if time.time() >= self.send_until:
                return False
            gevent.sleep(retry.next_delay_s())
            self.resends += 1
        if SCENARIO.resend_every and self.sent % SCENARIO.resend_every == 0:  # 1st, 5th, ...
            self.send(text, client_id)  # the answer "was lost": the same message again
            self.resends += 1
        return True

    def deliver(self, messages: list[dict[str, Any]]) -> None:
        """Record arrivals in order; report each first arrival's end-to-end latency."""
        now_ms = time.time() * 1000
        self.timeline.arrived(messages)
        for message in messages:
            self.confirmed(message.get("client_id"))
            message_id = int(message["id"])
            first_arrival = message_id not in self.seen_ids
            self.seen_ids.add(message_id)
            self.received_ids.append(message_id)
            self.last_id = max(self.last_id, message_id)
            sent_ms = sent_at_ms(str(message.get("message", "")))
            if sent_ms is None or not first_arrival:
                continue
            latency_ms = max(0.0, now_ms - sent_ms)
            self.latencies_ms.append(round(latency_ms, 2))
            self.sent_ms.append(round(sent_ms, 1))
            self.environment.events.request.fire(
                request_type="DELIVER",
                name=self.strategy_key,
                response_time=latency_ms,
                response_length=len(message["message"]),
                exception=None,
                context={},
            )

    def connection_opened(self) -> None:
        self.timeline.opened()

    def connection_closed(self) -> None:
        self.timeline.closed()

    def context(self) -> dict[str, Any]:
        """Added to each of this client's Locust request events: the timeline's recorder."""
        return self.timeline.context

    def on_stop(self) -> None:
        """Called once the run's drain window is over (``benchmarks.load.drain``): stop
        receiving, then account for what arrived against what the room stored."""
        global process_account
        stopped_ms = time.time() * 1000
        for greenlet in self.greenlets:
            greenlet.kill(block=True)
        with contextlib.suppress(Exception):
            self.disconnect()
        self.timeline.write()
        if self.config is None:
            return  # never joined: nothing to account for
        history = self.room_history_after(self.join_id)
        anomalies = delivery_anomalies([id_ for id_, _ in history], self.received_ids)
        account = account_of(len(history), anomalies)
        process_account += account
        if not account.clean:
            self.report_delivery_error(account)
        append_record(self.delivery_record(account, anomalies, dict(history), stopped_ms))

    def delivery_record(
        self,
        account: DeliveryAccount,
        anomalies: Anomalies,
        sent_of: dict[int, float | None],
        stopped_ms: float,
    ) -> dict[str, Any]:
        """This client's line in deliveries.jsonl: its counts, each first arrival's latency
        and send time, and the send times of the messages behind each anomaly (None: not a
        benchmark text), so a capacity step counts those sent in its hold."""
        return {
            "strategy": self.strategy_key,
            "scenario": SCENARIO.name,
            "room": self.room,
            "client": self.client_number,
            "join_id": self.join_id,
            "sent": self.sent,
            "send_failures": self.send_failures,
            "resends": self.resends,
            "stored_duplicates": _room_stored_duplicates.get(self.room),
            "reconnects": self.reconnects,
            **account.as_dict(),
            "latencies_ms": self.latencies_ms,
            "sent_ms": self.sent_ms,
            "stopped_ms": round(stopped_ms, 1),
            **{
                f"{kind}_sent_ms": [sent_of.get(id_) for id_ in getattr(anomalies, kind)]
                for kind in ("in_flight", "lost", "duplicates", "out_of_order")
            },
        }

    def room_history_after(self, after: int) -> list[tuple[int, float | None]]:
        """The room's stored messages after ``after`` as (id, send time): what this client
        should have received.

        Once sending is over every client of a room sees the same history, so the
        first client of a room to stop fetches it for the others in its process.
        """
        with _room_history_locks[self.room]:
            history = _room_history.get(self.room)
            if history is None:
                ids, texts = self.fetch_room_history()
                _room_stored_duplicates[self.room] = len(texts) - len(set(texts))
                history = [(id_, sent_at_ms(text)) for id_, text in zip(ids, texts, strict=True)]
                if time.time() >= self.send_until:
                    _room_history[self.room] = history
        return [(id_, sent) for id_, sent in history if id_ > after]

    def fetch_room_history(self) -> tuple[list[int], list[str]]:
        """The room's stored ids and texts (a text stored twice is a send stored twice).

        Read with a client of its own: the user's client may have lost both its connections
        to the greenlets ``on_stop`` just killed in the middle of a request (a busy client
        polls and sends at once), and would then wait for one forever. In the busy climb of
        short polling at 2000 clients that held the accounting past Locust's deadline.
        """
        client = FastHttpSession(
            self.host,
            request_event=self.environment.events.request,
            user=self,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
        )
        ids: list[int] = []
        texts: list[str] = []
        try:
            while True:
                after = ids[-1] if ids else 0
                answer = client.get(
                    f"/api/rooms/{self.room}/messages?after={after}&limit={ACCOUNTING_PAGE}",
                    name="/api/rooms/[room]/messages (accounting)",
                )
                batch = json.loads(answer.content or b"null")["messages"]
                ids += [int(message["id"]) for message in batch]
                texts += [str(message["message"]) for message in batch]
                if len(batch) < ACCOUNTING_PAGE:
                    return ids, texts
        finally:
            client.client.close()  # its connection, not left to the process's end

    def report_delivery_error(self, account: DeliveryAccount) -> None:
        self.environment.events.request.fire(
            request_type="DELIVER",
            name=f"{self.strategy_key} accounting",
            response_time=0,
            response_length=0,
            exception=DeliveryError(account.describe()),
            context={},
        )
