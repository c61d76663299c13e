"""WebSockets: one connection per client; the server pushes each message down it.

Django Channels' ``AsyncWebsocketConsumer`` holds the sockets; the channel layer
(``channels_redis``) carries each message to every process's sockets in the room.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.urls import URLPattern, path

from strategies.base import HotPath, Strategy

if TYPE_CHECKING:
    from lab.push import Publisher


class WebSocket(Strategy):
    key = "websocket"
    title = "WebSocket"
    colour = "#2ca02c"
    summary = "One long-lived connection per browser; the server pushes each message as it comes."
    client_script = "strategies/websocket.js"
    locust_user = "strategies.websocket.locust_user:WebSocketUser"
    test_receiver = "tests.clients:WebSocketReceiver"
    sends_over = "websocket"
    healthy_state = "connected"
    hot_path = HotPath(job="broadcast", load="broadcast", path="/ws/chat/{room}/")
    settings = {"PUSHLAB_MAX_WEBSOCKETS": 2000}
    """Open sockets one server process accepts; past it a handshake is closed with 4013."""
    titles = {"ru": "Веб-сокеты"}
    capacity_reason = {
        "en": "pays per delivery, a frame down a connection already open, so deliveries per "
        "second set its limit, not the number of idle clients; memory per connection is what "
        "caps idle ones.",
        "ru": "платят за доставку — кадр по уже открытому соединению, поэтому их предел "
        "задаёт число доставок в секунду, а не число молчащих клиентов; молчащих ограничивает "
        "память на соединение.",
    }

    def page_config(self) -> dict[str, Any]:
        """The close codes websocket.js must tell apart from "the server went away"."""
        from lab.access import LOGIN_REQUIRED_CLOSE_CODE
        from strategies.websocket.consumers import BAD_CURSOR_CLOSE_CODE

        return {
            "closeCodes": {
                "loginRequired": LOGIN_REQUIRED_CLOSE_CODE,
                "badCursor": BAD_CURSOR_CLOSE_CODE,
            }
        }

    def websocket_urls(self) -> list[URLPattern]:
        from strategies.websocket.consumers import ChatConsumer

        return [path("ws/chat/<str:room>/", ChatConsumer.as_asgi())]

    def publisher(self) -> Publisher:
        """A relay of its own: the channel layer, which the lecture's consumers listen on."""
        from lab.push import Relay

        return Relay(send=send_to_sockets)


async def send_to_sockets(message: dict[str, Any]) -> None:
    """Hand a stored message to the room's group on the channel layer (every process).

    Bounded: a stalled Redis must not hold the post. Past ``PUSHLAB_REDIS_COMMAND_TIMEOUT_S``
    it goes on without the push (the message is stored and owed: ``lab.push``)."""
    from strategies.websocket.consumers import group_name

    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS must be configured"
    # Serialised once here, not once per socket (ChatConsumer.chat_message sends "text").
    event = {"type": "chat.message", "message": message, "text": json.dumps(message)}
    await asyncio.wait_for(
        layer.group_send(group_name(message["room"]), event),
        settings.PUSHLAB_REDIS_COMMAND_TIMEOUT_S,
    )
