"""Waiting for a condition with a deadline: the only way a test here waits for anything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(0.01)


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """``wait_until`` for async tests: yields to the event loop between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        await asyncio.sleep(0.005)


async def until_waiting(room: str, count: int = 1, timeout: float = 10.0) -> None:
    """Until ``count`` requests wait on this event loop's wake-up hub in ``room``: from then
    on their subscription is live, so a message posted now must wake them."""
    from lab.wakeups import current_hub

    hub = current_hub()
    await until(
        lambda: len(hub.waiters.get(room, ())) == count,
        f"{count} request(s) wait in room {room!r}",
        timeout,
    )
