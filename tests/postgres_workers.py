"""Child processes of tests/test_postgres.py: each is a separate Django process on the
``DATABASE_URL`` database, as separate server processes would be.

    python -m tests.postgres_workers write ROOM COUNT NAME START_AT   # post COUNT messages
    python -m tests.postgres_workers follow ROOM TOTAL       # print the ids read, in order
"""

from __future__ import annotations

import json
import sys
import time


def write(room: str, count: int, name: str, start_at: float) -> None:
    """Post from ``start_at`` (a ``time.time()``), so that every writer contends at once."""
    from lab.chat import post_message

    time.sleep(max(0.0, start_at - time.time()))
    for n in range(count):
        post_message(room=room, author=name, text=f"{name} {n}")


def follow(room: str, total: int, deadline_s: float = 60.0) -> None:
    """Read with ``after=<last id seen>`` as a poller does, until ``total`` ids were seen."""
    from lab.chat import messages_after

    seen: list[int] = []
    deadline = time.monotonic() + deadline_s
    while len(seen) < total and time.monotonic() < deadline:
        batch = messages_after(room, seen[-1] if seen else 0)
        seen.extend(message["id"] for message in batch)
        if not batch:
            time.sleep(0.002)
    print(json.dumps(seen))


def main(argv: list[str]) -> None:
    import django

    django.setup()
    mode, room, number, *rest = argv
    if mode == "write":
        write(room, int(number), rest[0], float(rest[1]))
    else:
        follow(room, int(number))


if __name__ == "__main__":
    main(sys.argv[1:])
