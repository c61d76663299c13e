"""A soak run: steady chat for many minutes, too long for the suite, so opt-in.

    PUSHLAB_SOAK_MINUTES=10 .venv/bin/pytest tests/test_reliability_soak.py -s

Writers post one message a second each (well under the rate limit) while clients of
every strategy listen. At the end every client must have every message once, in
order; the server's open connections must drop back to none once the clients leave;
and its memory must level off (the last samples no more than half again the first).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

import pytest

from tests.clients import ChatSession, one_receiver_of_each_kind, wait_until
from tests.services import own_server

MINUTES = float(os.environ.get("PUSHLAB_SOAK_MINUTES", "0"))
WRITERS = 3
LISTENERS_PER_KIND = 2
SAMPLE_EVERY_S = 10

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MINUTES <= 0, reason="opt-in: set PUSHLAB_SOAK_MINUTES"),
]


def write_steadily(session: ChatSession, count: int, tag: str) -> None:
    for n in range(count):
        started = time.monotonic()
        session.post(f"{tag}-{n}").raise_for_status()
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def test_a_steady_chat_for_minutes_keeps_every_promise(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with own_server(server_env, tmp_path) as server:
        room = f"soak-{secrets.token_hex(3)}"
        per_writer = int(MINUTES * 60)
        total = per_writer * WRITERS
        receivers = [
            receiver
            for _ in range(LISTENERS_PER_KIND)
            for receiver in one_receiver_of_each_kind(server.url, room)
        ]
        for receiver in receivers:
            receiver.start()
        writers = [
            threading.Thread(
                target=write_steadily, args=(ChatSession(server.url, room), per_writer, f"w{i}")
            )
            for i in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        rss_kb = []
        while any(writer.is_alive() for writer in writers):
            rss_kb.append(server.metrics()["max_rss_kb"])
            time.sleep(SAMPLE_EVERY_S)
        for receiver in receivers:
            receiver.wait_for(total, timeout=120)
        for receiver in receivers:
            received = receiver.stop()  # late repeats included
            assert [m["id"] for m in received] == list(range(1, total + 1)), receiver
        # Once every client has left, nothing stays open but the metrics request itself.
        wait_until(
            lambda: (
                server.metrics().get("websocket_open", 0) == 0
                and server.metrics().get("http_open", 0) <= 1
            ),
            timeout=60,
        )
        quarter = max(1, len(rss_kb) // 4)
        print(f"\nsoak: {total} messages, peak RSS samples (kB): {rss_kb}")
        assert max(rss_kb[-quarter:]) <= 1.5 * max(rss_kb[:quarter]), rss_kb
