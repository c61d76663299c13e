"""Reading what a client sends, for every transport in one place: a POST body or a WebSocket
frame as a JSON object, and a whole number from a query (``after=``, ``limit=``), a header
(``Last-Event-ID``) or a WebSocket handshake's ``?after=``.

Any malformed input becomes a ``ChatError`` (a JSON 4xx, or an error frame on the socket),
never an exception of the parser: ``json.loads`` raises ``RecursionError`` on deep nesting
and ``ValueError`` on an integer of more than 4300 digits, as ``int()`` does.
"""

from __future__ import annotations

import json
from typing import Any

from lab.chat import ChatError

LARGEST_WHOLE_NUMBER = 2**63 - 1
"""The largest cursor or count read: the database's signed 64-bit integers."""
MOST_DIGITS = len(str(LARGEST_WHOLE_NUMBER))
MESSAGE_SHAPE = '{"message": "..."}'


def whole_number(raw: str, name: str, *, low: int = 0, high: int = LARGEST_WHOLE_NUMBER) -> int:
    """``raw`` as an ``int`` from ``low`` to ``high``: ASCII digits only, and no more of them
    than ``high`` has, so ``int()`` never meets a number of thousands of digits."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > MOST_DIGITS:
        raise ChatError(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ChatError(f"{name} must be a whole number from {low} to {high}, not {raw[:40]}")
    return value


def message_object(raw: str | bytes, what: str) -> dict[str, Any]:
    """``raw`` (a POST body, or a frame: ``what`` names it in the error) parsed as a JSON object
    with a ``"message"`` key. Its values are checked by ``lab.chat``'s ``clean_*``."""
    try:
        parsed = json.loads(raw)
    except RecursionError:
        raise ChatError(f"{what} is nested too deeply; send {MESSAGE_SHAPE}") from None
    except ValueError as exc:  # not JSON, not UTF-8, or a number of more than 4300 digits
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            raise ChatError(f"{what} must be JSON: {MESSAGE_SHAPE}") from None
        raise ChatError(f"{what} holds a number too long to read; send {MESSAGE_SHAPE}") from None
    if not isinstance(parsed, dict) or "message" not in parsed:
        raise ChatError(f'{what} must be a JSON object with a "message" key')
    return parsed
