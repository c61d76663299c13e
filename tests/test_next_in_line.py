"""The push fast path: this module has no django_db mark, so any query here fails the test."""

from __future__ import annotations

import pytest

from lab import chat

INCOMING = {"id": 8, "room": "r", "author": "ann", "message": "hi", "created_at": "now"}


async def test_the_next_pushed_id_is_passed_on_without_touching_the_database() -> None:
    assert await chat.amessages_following("r", 7, INCOMING) == [INCOMING]
    assert await chat.amessages_following("r", 9, INCOMING) == []


def test_only_a_gap_or_a_bare_wake_up_needs_the_database() -> None:
    assert chat.next_in_line(6, INCOMING) is None
    assert chat.next_in_line(7, None) is None


async def test_a_gap_is_read_from_the_database() -> None:
    with pytest.raises(RuntimeError, match="Database access not allowed"):
        await chat.amessages_following("r", 6, INCOMING)
