"""The chat core that every strategy shares: validation, storage, reading and publishing.

A strategy never writes to the database itself: it calls ``post_message`` (the one
publish path: it stores, then hands the message to the push seam, ``lab.push``) and reads
with ``messages_after`` / ``messages_following``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from lab import push
from lab.models import Message, Room, message_json

ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
ChatMessage = dict[str, Any]


class ChatError(ValueError):
    """Bad input from a client: answered with ``{"error": str(exc)}`` and ``status``."""

    status = 400
    retry_after_s: float | None = None
    """Set when waiting helps (rate limit, a full server): sent as ``Retry-After``."""


class RoomNotFound(ChatError):
    status = 404


class ServerBusy(ChatError):
    """A per-process bound is reached (``PUSHLAB_MAX_LONG_POLLS``): 503, come back later."""

    status = 503
    retry_after_s = 1.0


def admit_held(held: int) -> None:
    """The one bound on requests held open (long polls, event streams, naive long polls):
    with ``held`` of them held already, refuse one more at ``PUSHLAB_MAX_LONG_POLLS``. The
    caller counts the new one before its next ``await``, so the bound is exact."""
    if held >= settings.PUSHLAB_MAX_LONG_POLLS:
        raise ServerBusy(
            f"this server holds {settings.PUSHLAB_MAX_LONG_POLLS} waiting requests already "
            "(long polls and event streams)"
        )


def validate_room_name(name: object) -> str:
    """The room name if it is 1-100 ASCII letters, digits, ``_`` or ``-``."""
    if not isinstance(name, str) or not ROOM_NAME.fullmatch(name):
        raise RoomNotFound("room names are 1-100 characters of A-Z, a-z, 0-9, _ and -")
    return name


def clean_message_text(text: object) -> str:
    """The text stripped of surrounding white space, if 1-2000 characters remain."""
    if not isinstance(text, str):
        raise ChatError('"message" must be a string')
    text = text.strip()
    limit = settings.PUSHLAB_MAX_MESSAGE_LENGTH
    if not text:
        raise ChatError("the message is empty")
    if len(text) > limit:
        raise ChatError(f"the message is longer than {limit} characters")
    return unicode_text(text, '"message"')


def unicode_text(text: str, name: str) -> str:
    """``text`` if every database can store it: no lone surrogate in it (JSON's ``"\\ud800"``
    parses to one, and UTF-8 cannot encode it) and no NUL (``"\\u0000"``: PostgreSQL refuses
    it in text). ASCII, the common case, is two quick scans."""
    if "\x00" in text:
        raise ChatError(f"{name} contains a NUL character (\\u0000), which is not stored")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ChatError(f"{name} is not valid Unicode text (a lone surrogate)") from None
    return text


MAX_CLIENT_ID_LENGTH = 64


def clean_client_id(client_id: object) -> str | None:
    """``None`` (the lecture's protocol sends no id), or a string of 1-64 characters."""
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID_LENGTH:
        raise ChatError(f'"client_id" must be a string of 1-{MAX_CLIENT_ID_LENGTH} characters')
    return unicode_text(client_id, '"client_id"')


def client_id_of(payload: dict[str, Any]) -> str | None:
    """The ``"client_id"`` of a POST body or a WebSocket frame: ``None`` when the key is
    absent; when present it must be valid (``null`` too is refused, not ignored)."""
    if "client_id" not in payload:
        return None
    if payload["client_id"] is None:
        return clean_client_id(0)  # raises the same clear error
    return clean_client_id(payload["client_id"])


class Posted(NamedTuple):
    """What ``post`` did: the message as stored, and whether this call stored it."""

    message: ChatMessage
    created: bool
    """False for a repeat: the room already held this author's message with this ``client_id``."""


def post_message(*, room: str, author: str, text: str, client_id: str | None = None) -> ChatMessage:
    """Validate, store and publish one message to every strategy; return it as stored.

    With a ``client_id`` the send is idempotent: a repeat by the same author in the same room
    stores and publishes nothing and returns the message stored the first time (same ``id``).
    The key is the author's: another author's ``client_id`` never answers with, or
    suppresses, someone else's message.
    """
    return post(room=room, author=author, text=text, client_id=client_id).message


def post(*, room: str, author: str, text: str, client_id: object = None) -> Posted:
    """``post_message``, also saying whether this call stored the message: ``store``, then
    ``publish`` once the message is committed (at once, or when the caller's transaction
    commits). The server's own posts take the async twin, ``apost``."""
    posted = store(room=room, author=author, text=text, client_id=client_id)
    if posted.created:
        transaction.on_commit(lambda: push.publish(posted.message))
    return posted


def store(*, room: str, author: str, text: str, client_id: object = None) -> Posted:
    """Validate and store one message, publishing nothing (``post`` and ``apost`` do).

    The room's counter is bumped first, which locks the room's row until commit,
    so ids within a room are handed out in the order they become visible.
    A repeat of an author's ``client_id`` in the room is refused by the unique constraint
    (room, author, client_id): the block rolls back
    (the bumped counter too, so ids keep no gaps) and the stored message is the answer.
    The common case, a new message, costs two queries: the bump and the insert.
    """
    room = validate_room_name(room)
    text = clean_message_text(text)
    client_id = clean_client_id(client_id)
    try:
        with transaction.atomic():
            room_id, number = bump_room_counter(room)
            message = Message.objects.create(
                room_id=room_id, number=number, author=author, text=text, client_id=client_id
            ).as_json(room)
    except IntegrityError:
        if client_id is None or not (stored := stored_with_client_id(room, author, client_id)):
            raise
        return Posted(stored, created=False)  # a repeat, or lost the race to a concurrent one
    return Posted(message, created=True)


def store_in_thread(check: Callable[[], None] | None, **message: Any) -> Posted:
    """The database thread's part of ``apost``: ``check`` (a rate limit: raise to refuse),
    ``store``, then the wake-ups of held requests (``push.publish_wakeup``), from this thread,
    which is there anyway."""
    if check is not None:
        check()
    posted = store(**message)
    if posted.created:
        push.publish_wakeup(posted.message)
    return posted


astore_in_thread = database_sync_to_async(store_in_thread)


async def apost(
    *,
    room: str,
    author: str,
    text: str,
    client_id: object = None,
    check: Callable[[], None] | None = None,
) -> Posted:
    """``post`` for the server's event loop, HTTP and WebSocket: one hop to the database
    thread (``store_in_thread``: it has committed when it returns, since the async path has
    no outer transaction, and it sent the wake-ups), then the strategies' relays here
    (``push.arelay``), so the thread never waits for the loop (docs/decisions.md,
    "Publishing from the event loop").

    The relay is shielded: a client that leaves mid-post cancels its request, not the push
    of a message already stored.
    """
    posted = await astore_in_thread(check, room=room, author=author, text=text, client_id=client_id)
    if posted.created and (relays := push.relays()):
        await asyncio.shield(push.arelay(posted.message, relays))
    return posted


async def apost_message(
    *, room: str, author: str, text: str, client_id: str | None = None
) -> ChatMessage:
    """``post_message`` for async callers (tests, consumers): ``apost``'s message."""
    return (await apost(room=room, author=author, text=text, client_id=client_id)).message


BUMP_SQL = (
    f"UPDATE {Room._meta.db_table} SET last_message_id = last_message_id + 1 "
    "WHERE name = %s RETURNING id, last_message_id"
)
"""One round trip for the room's row id and its next message id (SQLite 3.35+, PostgreSQL)."""


def bump_room_counter(room: str) -> tuple[int, int]:
    """Add one to the room's counter (creating the room on its first message) and return the
    room's row id and the new counter: the id of the message being stored."""
    for _ in range(2):  # a second pass only for the room's first message
        if connection.features.can_return_columns_from_insert:  # RETURNING is understood
            with connection.cursor() as cursor:
                cursor.execute(BUMP_SQL, [room])
                row = cursor.fetchone()
            if row is not None:
                return int(row[0]), int(row[1])
        else:
            bump = Room.objects.filter(name=room)
            if bump.update(last_message_id=F("last_message_id") + 1):
                room_id, number = bump.values_list("id", "last_message_id").get()
                return room_id, number
        Room.objects.get_or_create(name=room)
    raise AssertionError(f"room {room!r} was created and is not there")


def stored_with_client_id(room: str, author: str, client_id: str) -> ChatMessage | None:
    """The room's message that ``author`` sent with ``client_id``, if there is one."""
    found = Message.objects.filter(room__name=room, author=author, client_id=client_id).first()
    return None if found is None else found.as_json(room)


def last_message_id(room: str) -> int:
    """The id of the room's newest message, 0 for a room nobody has written to."""
    found = Room.objects.filter(name=room).values_list("last_message_id", flat=True).first()
    return found or 0


NEWEST_IDS_ROOMS_PER_QUERY = 900
"""Rooms named in one ``newest_ids`` query: well under SQLite's bound on a statement's
parameters (999 before SQLite 3.32)."""


def newest_ids(rooms: Collection[str]) -> dict[str, int]:
    """The newest message id of each of ``rooms`` (0 for a room nobody has written to): one
    query for up to ``NEWEST_IDS_ROOMS_PER_QUERY`` rooms, read from the room counters that
    every store bumps (``store``), the same newest id ``read_after`` checks cursors against."""
    names = sorted(rooms)
    newest = dict.fromkeys(names, 0)
    for start in range(0, len(names), NEWEST_IDS_ROOMS_PER_QUERY):
        chunk = names[start : start + NEWEST_IDS_ROOMS_PER_QUERY]
        rows = Room.objects.filter(name__in=chunk).values_list("name", "last_message_id")
        newest.update((name, int(last_id)) for name, last_id in rows)
    return newest


def read_after(room: str, after: int, limit: int | None = None) -> list[ChatMessage]:
    """``messages_after``, once ``after`` is checked against the room's newest id.

    A cursor past the newest id is refused (``ChatError``), not waited on: it means the
    client holds ids from another database, and would otherwise never see a message.
    One query answers both (the newest id and the messages), so a poll is one round trip
    and an async caller hops to a thread once; it is the hot path of every poll.
    """
    limit = limit or settings.PUSHLAB_PAGE_LIMIT
    with connection.cursor() as cursor:
        cursor.execute(READ_AFTER_SQL, [after, room, limit])
        rows = cursor.fetchall()
    newest = int(rows[0][0]) if rows else 0
    if after > newest:
        raise ChatError(f"after={after} is beyond this room's newest message id ({newest})")
    return [
        message_json(room, int(number), author, text, stored_datetime(created_at), client_id)
        for _, number, author, text, created_at, client_id in rows
        if number is not None
    ]


READ_AFTER_SQL = (
    "SELECT r.last_message_id, m.number, m.author, m.text, m.created_at, m.client_id "
    f"FROM {Room._meta.db_table} r LEFT JOIN {Message._meta.db_table} m "
    "ON m.room_id = r.id AND m.number > %s "
    "WHERE r.name = %s ORDER BY m.number LIMIT %s"
)
"""The room's newest id on every row, and its messages after the cursor (none: one row of
NULLs; no room: no row). Plain SQL that SQLite and PostgreSQL both run."""


def stored_datetime(value: datetime | str) -> datetime:
    """A ``created_at`` as the database returns it (SQLite: naive UTC text) made aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def messages_after(room: str, after: int, limit: int | None = None) -> list[ChatMessage]:
    """The room's messages with ``id > after``, oldest first, at most ``limit``."""
    limit = limit or settings.PUSHLAB_PAGE_LIMIT
    rows = Message.objects.filter(room__name=room, number__gt=after).order_by("number")[:limit]
    return [m.as_json(room) for m in rows]


def recent_messages(room: str, count: int) -> list[ChatMessage]:
    """The room's newest ``count`` messages, oldest first (the history shown on a page)."""
    rows = Message.objects.filter(room__name=room).order_by("-number")[:count]
    return [m.as_json(room) for m in reversed(rows)]


def next_in_line(after: int, incoming: ChatMessage | None) -> list[ChatMessage] | None:
    """What a client holding everything up to ``after`` gets from ``incoming`` alone.

    Pushed messages can arrive out of order when several processes publish at
    once. Ids in a room have no gaps, so the next id is sent as it is (``[incoming]``)
    and an old one is dropped (``[]``). ``None``: a gap, or a wake-up without a
    message, which only the database can fill.
    """
    if incoming is None:
        return None
    if incoming["id"] <= after:
        return []
    if incoming["id"] == after + 1:
        return [incoming]
    return None


def messages_following(room: str, after: int, incoming: ChatMessage | None) -> list[ChatMessage]:
    """``next_in_line``, with gaps filled from the database."""
    known = next_in_line(after, incoming)
    return messages_after(room, after) if known is None else known


# Async twins for consumers and async views. database_sync_to_async also closes
# stale database connections around each call, as a request cycle would: an async view's
# request_finished runs in the event loop (lab.asgi), not in the thread that holds them.
amessages_after = database_sync_to_async(messages_after)
aread_after = database_sync_to_async(read_after)
alast_message_id = database_sync_to_async(last_message_id)
anewest_ids = database_sync_to_async(newest_ids)


async def amessages_following(
    room: str, after: int, incoming: ChatMessage | None
) -> list[ChatMessage]:
    """``messages_following`` for consumers and async views: the common case, the next
    id, is answered here without a database query or a hop to a worker thread."""
    known = next_in_line(after, incoming)
    return await amessages_after(room, after) if known is None else known
