"""What a benchmark client sends and what it got: messages that carry their send time, and
the accounting of each receiver's arrivals against what its room stored.

A stored message a receiver never got is *in flight* if it is newer than every message
the receiver did get, and *lost* if the receiver got a newer one. Every strategy delivers
a room's messages in id order (a poll asks after its newest id, a socket or stream
resumes after it), so a message behind the receiver's newest was passed by and will never
come, while one ahead of it was still queued for it: in the server, the channel layer, a
socket buffer, or the next poll. The run waits ``Scenario.drain_s`` with the senders
stopped before it takes this account (``benchmarks.load.drain``).

The Locust users do this for their own clients (``benchmarks.load.users``); the runner adds
up what they wrote to deliveries.jsonl (``total_account``). Pure functions of plain values,
so the unit tests check them without a server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def message_text() -> str:
    """A unique benchmark message that carries its own send time."""
    return f"bench {uuid.uuid4().hex} {time.time() * 1000:.1f}"


def sent_at_ms(text: str) -> float | None:
    """The send time written into a benchmark message, None for any other text."""
    parts = text.split()
    if len(parts) != 3 or parts[0] != "bench":
        return None
    try:
        return float(parts[2])
    except ValueError:
        return None


@dataclass(frozen=True)
class DeliveryAccount:
    """What one receiver (or a sum of them) got compared with what it should have got."""

    expected: int = 0
    deliveries: int = 0
    """Expected messages that arrived at least once."""
    in_flight: int = 0
    """Expected messages not arrived at stop, newer than every message that did: on their way."""
    lost: int = 0
    """Expected messages not arrived at stop, older than one that did: never sent to it."""
    duplicates: int = 0
    """Arrivals of a message already received."""
    out_of_order: int = 0
    """Arrivals with an id lower than one that arrived before them."""

    def __add__(self, other: DeliveryAccount) -> DeliveryAccount:
        return DeliveryAccount(
            **{name: value + getattr(other, name) for name, value in asdict(self).items()}
        )

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated or reordered (messages still in flight are not a fault)."""
        return self.lost == 0 and self.duplicates == 0 and self.out_of_order == 0

    def describe(self) -> str:
        return (
            f"lost {self.lost}, in flight {self.in_flight}, duplicates {self.duplicates}, "
            f"out of order {self.out_of_order} of {self.expected}"
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Anomalies:
    """The ids behind a receiver's account: which expected ids were still on their way at
    stop, which never came, which came again, which came after a higher one (the capacity
    steps place each by its send time)."""

    in_flight: list[int]
    lost: list[int]
    duplicates: list[int]
    out_of_order: list[int]


def delivery_anomalies(expected_ids: Iterable[int], received_ids: Sequence[int]) -> Anomalies:
    """Compare the ids a receiver got (in arrival order) with the ids its room stored.

    An expected id not received is in flight if it is above every id received, else lost
    (the module's docstring says why). Ids received that are not expected (e.g. after the
    accounting snapshot) are ignored for loss, but still count as duplicates or out of
    order if they are, and move the receiver's newest id on.
    """
    seen: set[int] = set()
    duplicates: list[int] = []
    out_of_order: list[int] = []
    newest = -1
    for message_id in received_ids:
        if message_id in seen:
            duplicates.append(message_id)
            continue
        seen.add(message_id)
        if message_id < newest:
            out_of_order.append(message_id)
        newest = max(newest, message_id)
    missing = sorted(set(expected_ids) - seen)
    return Anomalies(
        in_flight=[message_id for message_id in missing if message_id > newest],
        lost=[message_id for message_id in missing if message_id < newest],
        duplicates=duplicates,
        out_of_order=out_of_order,
    )


def account_deliveries(expected_ids: Iterable[int], received_ids: Sequence[int]) -> DeliveryAccount:
    """What one receiver got against what it should have got, as counts."""
    expected = set(expected_ids)
    return account_of(len(expected), delivery_anomalies(expected, received_ids))


def account_of(expected: int, anomalies: Anomalies) -> DeliveryAccount:
    return DeliveryAccount(
        expected=expected,
        deliveries=expected - len(anomalies.lost) - len(anomalies.in_flight),
        in_flight=len(anomalies.in_flight),
        lost=len(anomalies.lost),
        duplicates=len(anomalies.duplicates),
        out_of_order=len(anomalies.out_of_order),
    )


RECORDS_FILE = "deliveries.jsonl"
"""Beside a run's Locust output: one line per receiving client."""


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    """The receivers' records a run appended to ``RECORDS_FILE`` (none if it wrote none)."""
    path = run_dir / RECORDS_FILE
    lines = path.read_text().splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def total_account(records: Iterable[dict[str, Any]]) -> DeliveryAccount:
    """Sum the accounts that receivers wrote to deliveries.jsonl."""
    total = DeliveryAccount()
    for record in records:
        total += DeliveryAccount(**{name: int(record.get(name) or 0) for name in asdict(total)})
    return total
