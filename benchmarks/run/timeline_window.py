"""The runner's side of the timeline: ten seconds of the sampled clients, for summary.json.

The Locust users record (``benchmarks.load.timeline``); after the run, ``collect`` cuts the
same window out of every strategy's records, in seconds since its first client started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.load.timeline import SAMPLED_CLIENTS, TIMELINE_FILE, WINDOW_FROM_S, WINDOW_S


def read_timeline(directory: Path) -> list[dict[str, Any]]:
    """The records the Locust processes wrote in ``directory`` (none if nobody was sampled)."""
    path = directory / TIMELINE_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def window_of(duration_s: float, drain_s: float) -> tuple[float, float]:
    """The ten seconds shown: from ``WINDOW_FROM_S``, or earlier when the run's sending
    ends sooner; the same for every strategy of a run."""
    start = max(0.0, min(WINDOW_FROM_S, duration_s - drain_s - WINDOW_S))
    return start, start + WINDOW_S


def collect(records: list[dict[str, Any]], duration_s: float, drain_s: float) -> dict[str, Any]:
    """The run's sampled clients over its window, in seconds since the first client started.

    With Locust workers each numbers its own clients, so the first worker's are kept: one
    room, one clock. ``sent`` is every message whose arrival a lane shows, at its send time.
    """
    start, end = window_of(duration_s, drain_s)
    first_worker = min((record.get("worker", -1) for record in records), default=-1)
    lanes = sorted(
        (record for record in records if record.get("worker", -1) == first_worker),
        key=lambda record: int(record["client"]),
    )[:SAMPLED_CLIENTS]
    clients: list[dict[str, Any]] = []
    sent: set[float] = set()

    def seconds(at: float, zero: float) -> float:
        return round(at - zero, 3)

    for record in lanes:
        zero = float(record["started_at"])
        arrivals = []
        for arrived_at, sent_at, pushed in record["arrivals"]:
            at = seconds(arrived_at, zero)
            if start <= at <= end:
                sent_s = None if sent_at is None else seconds(sent_at, zero)
                arrivals.append({"at": at, "sent": sent_s, "pushed": bool(pushed)})
                if sent_s is not None and start <= sent_s <= end:
                    sent.add(sent_s)
        clients.append(
            {
                "client": int(record["client"]),
                "sends": bool(record["sends"]),
                "requests": [
                    {"start": seconds(opened, zero), "end": seconds(answered, zero), "method": m}
                    for opened, answered, m in record["requests"]
                    if opened - zero <= end and answered - zero >= start
                ],
                "connections": [
                    [seconds(opened, zero), seconds(closed, zero)]
                    for opened, closed in record["connections"]
                    if opened - zero <= end and closed - zero >= start
                ],
                "arrivals": arrivals,
            }
        )
    return {"window_s": [start, end], "clients": clients, "sent": sorted(sent)}
