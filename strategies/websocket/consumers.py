"""The lecture's ``ChatConsumer``, made to share the store with the other strategies.

Protocol (the lecture's): the client sends ``{"message": "text"}``, optionally with a
``"client_id"`` that makes the send idempotent (``lab.chat.post``);
every socket in the room receives the stored message object, which has the
lecture's ``"message"`` key. Bad frames get ``{"error": "..."}`` back.

Close codes: a bad room name or a foreign Origin refuse the handshake (HTTP 403);
a bad ``?after=`` cursor gets an ``{"error": ...}`` frame and close code 4400; with
``PUSHLAB_REQUIRE_LOGIN`` an anonymous socket is accepted and closed with 4401; past
``PUSHLAB_MAX_WEBSOCKETS`` open sockets in this process, with 4013 ("try again later").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import redis
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from lab import access, chat
from lab.authors import scope_author
from lab.chat import ChatError, ChatMessage
from lab.inputs import message_object, whole_number
from lab.ratelimit import apost_client_message
from strategies.websocket.resync import current_watcher

log = logging.getLogger(__name__)

MAX_FRAME_CHARS = 16_384
"""Frames longer than this are refused before parsing (a message is at most 2000 characters)."""
BAD_CURSOR_CLOSE_CODE = 4400
"""Sent, after an ``{"error": ...}`` frame, when ``?after=`` is not a message id of the room
(not a number, or past its newest: the page holds ids from another database)."""
LAYER_RETRY_S = 0.5
"""Least wait before a socket's channel-layer receive is tried again after a Redis failure."""
TRY_AGAIN_LATER_CLOSE_CODE = 4013
"""Sent past ``PUSHLAB_MAX_WEBSOCKETS``: 1013 "Try Again Later" in the application range
(Daphne's autobahn lets an application send only 1000 and 3000-4999)."""


def group_name(room: str) -> str:
    """The channel-layer group of a room (group names must stay under 100 characters)."""
    if len(room) <= 90:
        return f"chat_{room}"
    return "chat_" + hashlib.sha256(room.encode()).hexdigest()


def requested_cursor(query_string: bytes) -> int | None:
    """``?after=<id>`` if the client sent one (our page does, to resume); the lecture's does not."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values:
        return None
    return whole_number(values[0], "after")


def refusal(exc: ChatError, client_id: str | None) -> dict[str, str]:
    """The error frame for a refused frame: it names the frame's ``client_id`` (when it had a
    valid one), so a client drops that frame instead of sending it again on every reconnect."""
    if client_id is None:
        return {"error": str(exc)}
    return {"error": str(exc), "client_id": client_id}


class ChatConsumer(AsyncWebsocketConsumer):
    room: str
    last_id: int
    """The id of the newest message this socket has been sent: nothing is sent twice."""
    open_sockets = 0
    """Accepted sockets in this process, bounded by ``PUSHLAB_MAX_WEBSOCKETS``."""
    counted = False
    sending: asyncio.Lock
    """Held while this socket is sent messages: the socket watcher's catch-up after a Redis
    failure (``strategies/websocket/resync.py``) runs beside the consumer's own handlers."""

    async def connect(self) -> None:
        """Join the room's group BEFORE reading the cursor, so no message falls in between."""
        if access.refuses(self.scope.get("user")):
            await self.refuse_after_accept(access.LOGIN_REQUIRED_CLOSE_CODE)
            return
        if ChatConsumer.open_sockets >= settings.PUSHLAB_MAX_WEBSOCKETS:
            await self.refuse_after_accept(TRY_AGAIN_LATER_CLOSE_CODE)
            return
        try:
            self.room = chat.validate_room_name(self.scope["url_route"]["kwargs"]["room"])
        except ChatError:
            await self.close()  # before accept: the handshake is refused
            return
        try:
            after = requested_cursor(self.scope.get("query_string", b""))
        except ChatError as exc:
            await self.refuse_cursor(str(exc))
            return
        self.author, self.bucket = scope_author(self.scope)
        self.address = (self.scope.get("client") or [None])[0]
        self.group = group_name(self.room)
        await self.channel_layer.group_add(self.group, self.channel_name)
        newest = await chat.alast_message_id(self.room)
        if after is not None and after > newest:
            await self.refuse_cursor(
                f"after={after} is beyond this room's newest message id ({newest}); reload the page"
            )
            return
        self.last_id = newest if after is None else after
        await self.accept()
        ChatConsumer.open_sockets += 1
        self.counted = True
        current_watcher().add(self)
        await self.locked_catch_up()

    async def refuse_cursor(self, error: str) -> None:
        """Say what is wrong with ``?after=`` in a frame, then close: retrying cannot help."""
        await self.accept()
        await self.send(text_data=json.dumps({"error": error}))
        await self.close(code=BAD_CURSOR_CLOSE_CODE)

    async def refuse_after_accept(self, code: int) -> None:
        """Accept, then close with ``code``: unlike a refused handshake, the browser sees why."""
        await self.accept()
        await self.close(code=code)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__`` (channels 4.3), with three changes: the
        channel-layer side waits out a Redis failure instead of ending the consumer (which
        closed the socket), the socket is forgotten however the consumer ends, and the two
        sources are read by two long-lived tasks (``pump``) instead of channels'
        ``await_many_dispatch``."""
        self.scope = scope
        self.sending = asyncio.Lock()
        self.dispatching = asyncio.Lock()
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        assert self.channel_layer is not None, "CHANNEL_LAYERS must be configured"
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = self.receive_from_layer
        self.base_send = send
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self.pump(receive))
                pumps.create_task(self.pump(self.channel_receive))
        except* StopConsumer:
            pass
        finally:
            self.forget()

    async def pump(self, source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Dispatch ``source``'s messages, one handler at a time across both sources, as
        channels does. Channels' ``await_many_dispatch`` started a new task and an
        ``asyncio.wait`` for every message: a fifth to a quarter of a delivery's CPU
        (docs/decisions.md, "A WebSocket delivery without a task per message")."""
        while True:
            message = await source()
            async with self.dispatching:
                await self.dispatch(message)

    async def receive_from_layer(self) -> dict[str, Any]:
        """The next channel-layer message. While Redis fails, wait (at least
        ``LAYER_RETRY_S``, until the socket watcher sees it answer) and try again: the
        socket stays open, and the watcher's catch-up brings what the outage held back."""
        while True:
            try:
                return dict(await self.channel_layer.receive(self.channel_name))
            except (redis.RedisError, OSError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the consumer is ending: a cancelled read can surface as this error
                log.debug("channel layer receive failed (%s); waiting for Redis", exc)
                await current_watcher().until_answering(LAYER_RETRY_S)

    def forget(self) -> None:
        """Stop counting this socket and drop it from the socket watcher (idempotent)."""
        if self.counted:
            ChatConsumer.open_sockets -= 1
            self.counted = False
            current_watcher().discard(self)

    async def disconnect(self, code: int) -> None:
        self.forget()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A frame from the browser: store it through the one publish path, or say what is wrong."""
        if not self.counted:  # a frame racing the close of a refused socket
            return
        client_id = None
        try:
            frame = self.parse_frame(text_data, bytes_data)
            client_id = chat.client_id_of(frame)
            # Only "message" and "client_id" are read: an "author" key cannot spoof the sender.
            # A repeated client_id stores nothing: this socket gets (or got) the stored
            # message once, by the push or by its reconnect's catch-up.
            await apost_client_message(
                room=self.room,
                author=self.author,
                text=frame["message"],
                client_id=client_id,
                address=self.address,
                bucket=self.bucket,
            )
        except ChatError as exc:
            await self.send(text_data=json.dumps(refusal(exc, client_id)))

    @staticmethod
    def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
        """The frame's JSON object, which has a ``"message"`` key."""
        if text_data is None:
            raise ChatError('binary frames are not accepted; send JSON text: {"message": "..."}')
        if len(text_data) > MAX_FRAME_CHARS:
            raise ChatError(f"the frame is longer than {MAX_FRAME_CHARS} characters")
        return message_object(text_data, "the frame")

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message ``close_old_connections`` thread hop.

        That hop, once per socket per message, was most of a delivery's cost; the handlers
        that touch the database use ``database_sync_to_async``, which does it anyway.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def chat_message(self, event: dict[str, Any]) -> None:
        """A message published to the room's group (``type: "chat.message"``); ``text`` is
        it serialised once by the publisher, sent as it is when it is the next in line."""
        incoming = event["message"]
        async with self.sending:
            if "text" in event and incoming["id"] == self.last_id + 1:
                await self.send(text_data=event["text"])
                self.last_id = incoming["id"]
                return
            following = await chat.amessages_following(self.room, self.last_id, incoming)
            for message in following:
                await self.send_message(message)

    async def locked_catch_up(self) -> None:
        """Send everything stored after ``last_id``: a resuming client's missed messages, or
        (from the socket watcher) those stored while Redis failed."""
        async with self.sending:
            while batch := await chat.amessages_after(self.room, self.last_id):
                for message in batch:
                    await self.send_message(message)

    async def send_message(self, message: ChatMessage) -> None:
        await self.send(text_data=json.dumps(message))
        self.last_id = message["id"]
