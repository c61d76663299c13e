"""The run timeline: what a few clients of each strategy did, second by second.

During a benchmark run the first ``SAMPLED_CLIENTS`` clients (by client number) of each
Locust process record when each HTTP request opened and was answered, when a socket or
event stream was held open, and when each message arrived (with the send time its text
carries). Each writes one line to ``timeline.jsonl`` beside deliveries.jsonl at stop (a
Locust worker sends it to its master instead); the runner keeps one ten-second window of
it in the strategy's results (``benchmarks.run.timeline_window.collect``), and
``benchmarks.report.timeline_chart`` draws it as swimlanes: polling, holding and pushing in
one image.

Every other client gets ``NOT_SAMPLED``, whose methods do nothing, so a call site costs
an attribute lookup. This module never imports Locust (the runner imports it too); the
Locust side hooks ``record_request`` to Locust's request event, which carries each
request's start and duration and the sampled user's ``context()``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.load.deliveries import sent_at_ms
from benchmarks.run.scenarios import DELIVERIES_DIR_ENV

SAMPLED_CLIENTS = 3
"""Clients per strategy whose traffic is recorded: lanes enough to see a rhythm, no more."""
WINDOW_S = 10.0
"""The seconds of each run the chart shows, the same seconds for every strategy."""
WINDOW_FROM_S = 10.0
"""Where the window starts (seconds after the first client started): past the joins."""
TIMELINE_FILE = "timeline.jsonl"
CONTEXT_KEY = "pushlab_timeline"
"""The key under which a sampled user's ``context()`` hands its recorder to ``record_request``."""

record_sink: Callable[[dict[str, Any]], None] | None = None
"""Where a Locust worker sends its sampled clients' timelines (to its master)."""


class NotSampled:
    """The recorder of a client outside the sample: every method does nothing."""

    def __init__(self) -> None:
        self.context: dict[str, Any] = {}
        """Merged into each of the client's Locust request events (nothing for this client)."""

    def request(self, opened: float, duration_ms: float, method: str) -> None:
        """Called by ``record_request`` when one of the client's HTTP requests is answered."""

    def opened(self) -> None:
        """Called when the client's socket or event stream opens."""

    def closed(self) -> None:
        """Called when the client's socket or event stream is closed or lost."""

    def arrived(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Called when messages reach the client (an answered poll, a frame, an event)."""

    def write(self) -> None:
        """Called at the client's stop: its record goes to timeline.jsonl (or the master)."""


NOT_SAMPLED = NotSampled()


class ClientTimeline(NotSampled):
    """What one sampled client did, in epoch seconds, until it stops."""

    def __init__(self, strategy: str, client: int, started_at: float, sends: bool) -> None:
        super().__init__()
        self.strategy, self.client, self.sends = strategy, client, sends
        self.started_at = started_at
        self.context[CONTEXT_KEY] = self
        self.requests: list[tuple[float, float, str]] = []
        self.connections: list[tuple[float, float]] = []
        self.open_since: float | None = None
        self.arrivals: list[tuple[float, float | None, bool]] = []
        """(arrived, sent, pushed): pushed when it came down a held socket or stream."""

    def request(self, opened: float, duration_ms: float, method: str) -> None:
        self.requests.append((opened, opened + duration_ms / 1000, method))

    def opened(self) -> None:
        self.open_since = time.time()

    def closed(self) -> None:
        if self.open_since is not None:
            self.connections.append((self.open_since, time.time()))
            self.open_since = None

    def arrived(self, messages: Iterable[Mapping[str, Any]]) -> None:
        now = time.time()
        pushed = self.open_since is not None
        for message in messages:
            sent_ms = sent_at_ms(str(message.get("message", "")))
            self.arrivals.append((now, None if sent_ms is None else sent_ms / 1000, pushed))

    def write(self) -> None:
        self.closed()  # a socket still open at stop was held until now
        append_timeline(
            {
                "strategy": self.strategy,
                "client": self.client,
                "started_at": self.started_at,
                "sends": self.sends,
                "requests": self.requests,
                "connections": self.connections,
                "arrivals": self.arrivals,
            }
        )


def for_client(strategy: str, client: int, started_at: float, sends: bool) -> NotSampled:
    """The recorder for a client: a ``ClientTimeline`` for the first few, else ``NOT_SAMPLED``."""
    if client >= SAMPLED_CLIENTS:
        return NOT_SAMPLED
    return ClientTimeline(strategy, client, started_at, sends)


def record_request(
    context: Mapping[str, Any] | None = None,
    start_time: float | None = None,
    response_time: float | None = None,
    request_type: str = "",
    **_: Any,
) -> None:
    """A listener of Locust's request event: a sampled client's HTTP request, opened to answered.

    A streamed request (the event stream) is answered when its headers arrive; the stream
    it then holds is recorded by ``opened``/``closed``."""
    recorder = context.get(CONTEXT_KEY) if context else None
    if recorder is not None and start_time is not None and response_time is not None:
        recorder.request(start_time, response_time, request_type)


def append_timeline(record: dict[str, Any]) -> None:
    """One line per sampled client in timeline.jsonl, locked against other Locust processes."""
    if record_sink is not None:
        record_sink(record)
        return
    directory = os.environ.get(DELIVERIES_DIR_ENV)
    if not directory:
        return  # run by hand (make locust): nothing collects it
    with open(Path(directory) / TIMELINE_FILE, "a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps(record) + "\n")
