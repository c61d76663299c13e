"""The arithmetic of a benchmark result: message send times, percentiles, per-delivery ratios,
delivery accounting.

Pure functions of plain numbers, shared by the Locust users (which account for
their own deliveries) and the runner (which adds them up), so both agree and
the unit tests can check them without a server.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.results.summary import DeliveryMs, rounded

CDF_MAX_POINTS = 101


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


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks; None if empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is from 0 to 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when nothing was delivered (a cost per nothing)."""
    if not denominator:
        return None
    return numerator / denominator


def per_client_per_minute(count: float, clients: int, duration_s: float) -> float | None:
    """How many of something one client caused per minute of the run."""
    return ratio(count * 60.0, clients * duration_s)


def cdf_points(values: Sequence[float], max_points: int = CDF_MAX_POINTS) -> list[list[float]]:
    """The empirical CDF as ``[[ms, fraction], ...]``, fraction ascending 0..1, at most max_points.

    Small samples keep every value; larger ones are read at evenly spaced
    fractions (the percentiles 0, 1, ..., 100 for 101 points).
    """
    if not values:
        return []
    if max_points < 2:
        raise ValueError("a CDF needs at least 2 points")
    ordered = sorted(values)
    if len(ordered) <= max_points:
        last = len(ordered) - 1 or 1
        return [[value, round(index / last, 4)] for index, value in enumerate(ordered)]
    fractions = [round(step / (max_points - 1), 4) for step in range(max_points)]
    return [[rounded(percentile(ordered, f * 100), 2) or 0.0, f] for f in fractions]


def latency_summary(latencies_ms: Sequence[float]) -> DeliveryMs:
    """``delivery_ms``: p50/p95/p99/max/mean and the downsampled CDF (numbers are None if empty)."""
    return {
        "p50": rounded(percentile(latencies_ms, 50), 2),
        "p95": rounded(percentile(latencies_ms, 95), 2),
        "p99": rounded(percentile(latencies_ms, 99), 2),
        "max": max(latencies_ms) if latencies_ms else None,
        "mean": rounded(sum(latencies_ms) / len(latencies_ms), 2) if latencies_ms else None,
        "cdf": cdf_points(latencies_ms),
    }


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
