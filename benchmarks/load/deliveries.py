"""What a benchmark client sends and what it got: messages that carry their send time, and
the accounting of each receiver's arrivals against what its room stored.

The Locust users do this for their own clients (``benchmarks.load.users``); the runner adds
up what they wrote to deliveries.jsonl (``total_account``). Pure functions of plain values,
so the unit tests check them without a server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
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
    lost: int = 0
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
        return self.lost == 0 and self.duplicates == 0 and self.out_of_order == 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def account_deliveries(expected_ids: Iterable[int], received_ids: Sequence[int]) -> DeliveryAccount:
    """Compare the ids a receiver got (in arrival order) with the ids its room stored.

    Ids received that are not expected (e.g. after the accounting snapshot) are
    ignored for loss, but still count as duplicates or out of order if they are.
    """
    expected = set(expected_ids)
    seen: set[int] = set()
    duplicates = out_of_order = 0
    newest = -1
    for message_id in received_ids:
        if message_id in seen:
            duplicates += 1
            continue
        seen.add(message_id)
        if message_id < newest:
            out_of_order += 1
        newest = max(newest, message_id)
    delivered = len(expected & seen)
    return DeliveryAccount(
        expected=len(expected),
        deliveries=delivered,
        lost=len(expected) - delivered,
        duplicates=duplicates,
        out_of_order=out_of_order,
    )


def total_account(records: Iterable[dict[str, Any]]) -> DeliveryAccount:
    """Sum the accounts that receivers wrote to deliveries.jsonl."""
    total = DeliveryAccount()
    for record in records:
        total += DeliveryAccount(**{name: int(record[name]) for name in asdict(total)})
    return total
