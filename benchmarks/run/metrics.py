"""The arithmetic of a benchmark result: percentiles, per-delivery and per-client ratios, the
latency summary and its CDF.

Pure functions of plain numbers the runner measured, so the unit tests can check them
without a server; the rounding for summary.json is ``benchmarks.results.summary.rounded``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchmarks.results.summary import DeliveryMs, rounded

CDF_MAX_POINTS = 101


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
