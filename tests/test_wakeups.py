"""The wake-up hub's per-waiter mailbox: every wake-up, in order, to its one reader."""

from __future__ import annotations

import asyncio

import pytest

from lab.wakeups import Mailbox


async def test_a_mailbox_hands_out_wake_ups_in_the_order_they_came() -> None:
    mailbox = Mailbox()
    mailbox.put_nowait({"id": 1})
    mailbox.put_nowait(None)
    mailbox.put_nowait({"id": 2})
    assert [await mailbox.get() for _ in range(3)] == [{"id": 1}, None, {"id": 2}]


async def test_a_waiting_reader_is_woken_by_the_next_wake_up() -> None:
    mailbox = Mailbox()
    reader = asyncio.create_task(mailbox.get())
    await asyncio.sleep(0)
    assert not reader.done()  # nothing to take yet: it waits
    mailbox.put_nowait({"id": 7})
    assert await asyncio.wait_for(reader, timeout=5) == {"id": 7}


async def test_a_reader_that_gave_up_leaves_the_wake_ups_for_the_next_get() -> None:
    mailbox = Mailbox()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await mailbox.get()
    assert mailbox.waiter is None
    mailbox.put_nowait({"id": 3})  # no reader waiting: kept, nothing to wake
    assert await mailbox.get() == {"id": 3}
