"""The WebSocket consumer through channels.testing's WebsocketCommunicator, on the real
ASGI application (origin check, sessions, routing) and the session's Redis channel layer;
the delivery tests run again on the in-memory layer (``PUSHLAB_CHANNEL_LAYER=memory``).
"""

from __future__ import annotations

import json
import runpy
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from lab import chat
from lab.asgi import application
from lab.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "lobby"
SETTINGS = Path(__file__).resolve().parent.parent / "lab" / "settings.py"


def layers_of_settings(kind: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """CHANNEL_LAYERS as lab/settings.py builds it for PUSHLAB_CHANNEL_LAYER=kind."""
    monkeypatch.setenv("PUSHLAB_CHANNEL_LAYER", kind)
    return dict(runpy.run_path(str(SETTINGS))["CHANNEL_LAYERS"])


@pytest.fixture(params=["session-layer", "memory"])
def layer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session's Redis layer, or the one PUSHLAB_CHANNEL_LAYER=memory configures."""
    if request.param == "session-layer":
        yield request.param
        return
    with override_settings(CHANNEL_LAYERS=layers_of_settings("memory", monkeypatch)):
        yield request.param


def communicator(room: str = ROOM, query: str = "", origin: bytes = b"http://127.0.0.1") -> Any:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    return WebsocketCommunicator(application, f"/ws/chat/{room}/{query}", headers=headers)


@asynccontextmanager
async def connected(room: str = ROOM, query: str = "") -> AsyncIterator[Any]:
    socket = communicator(room, query)
    accepted, _ = await socket.connect()
    assert accepted, "the handshake was refused"
    try:
        yield socket
    finally:
        await socket.disconnect()


async def test_a_sent_message_comes_back_stored_with_the_lectures_key(layer: str) -> None:
    assert isinstance(get_channel_layer(), InMemoryChannelLayer) == (layer == "memory")
    async with connected() as socket:
        await socket.send_to(text_data=json.dumps({"message": " hello "}))
        frame = await socket.receive_json_from(timeout=5)
    assert frame["message"] == "hello"  # the lecture's client reads data.message
    assert frame["id"] == 1 and frame["room"] == ROOM
    assert set(frame) >= {"id", "room", "author", "message", "created_at"}
    assert await Message.objects.acount() == 1


async def test_everyone_in_the_room_receives_it_and_other_rooms_do_not(layer: str) -> None:
    async with connected() as ann, connected() as bob, connected("elsewhere") as eve:
        await ann.send_json_to({"message": "for the lobby"})
        for socket in (ann, bob):
            assert (await socket.receive_json_from(timeout=5))["message"] == "for the lobby"
        assert await eve.receive_nothing(timeout=0.3)


async def test_a_message_posted_over_http_reaches_the_socket(layer: str) -> None:
    async with connected() as socket:
        stored = await chat.apost_message(room=ROOM, author="ann", text="from a poller")
        assert await socket.receive_json_from(timeout=5) == stored


async def test_messages_arrive_once_in_id_order(layer: str) -> None:
    async with connected() as sender, connected() as reader:
        for n in range(1, 11):
            await sender.send_json_to({"message": f"m{n}"})
        frames = [await reader.receive_json_from(timeout=5) for _ in range(10)]
        assert [f["id"] for f in frames] == list(range(1, 11))
        assert [f["message"] for f in frames] == [f"m{n}" for n in range(1, 11)]
        assert await reader.receive_nothing(timeout=0.3)


def test_the_memory_setting_is_channels_in_memory_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    layers = layers_of_settings("memory", monkeypatch)
    assert layers == {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with pytest.raises(ValueError, match="redis, pubsub or memory"):
        layers_of_settings("memcached", monkeypatch)


BAD_FRAMES = [
    pytest.param("{not json", id="malformed-json"),
    pytest.param('["message"]', id="json-array"),
    pytest.param("{}", id="no-message-key"),
    pytest.param('{"message": 7}', id="number-message"),
    pytest.param('{"message": ""}', id="empty-message"),
    pytest.param('{"message": "   "}', id="blank-message"),
    pytest.param(json.dumps({"message": "x" * 2001}), id="2001-chars"),
    pytest.param(json.dumps({"message": "x" * 20000}), id="oversized-frame"),
]


@pytest.mark.parametrize("frame", BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_the_socket_stays_open_nothing_stored(frame: str) -> None:
    async with connected() as socket:
        await socket.send_to(text_data=frame)
        answer = await socket.receive_json_from(timeout=5)
        assert set(answer) == {"error"} and answer["error"]
        assert await Message.objects.acount() == 0
        await socket.send_json_to({"message": "still here"})  # the connection is still usable
        assert (await socket.receive_json_from(timeout=5))["message"] == "still here"


async def test_a_binary_frame_gets_an_error() -> None:
    async with connected() as socket:
        await socket.send_to(bytes_data=b'{"message": "hi"}')
        assert "error" in await socket.receive_json_from(timeout=5)
    assert await Message.objects.acount() == 0


@pytest.mark.parametrize(
    "room", [pytest.param("a.b", id="dot"), pytest.param("x" * 101, id="101-chars")]
)
async def test_a_bad_room_name_refuses_the_handshake(room: str) -> None:
    socket = communicator(room)
    accepted, _ = await socket.connect()
    assert not accepted
    await socket.disconnect()


async def test_a_cross_origin_handshake_is_refused() -> None:
    socket = communicator(origin=b"http://evil.example")
    accepted, _ = await socket.connect()
    assert not accepted
    await socket.disconnect()


async def test_resume_with_after_sends_what_was_missed_first() -> None:
    for n in range(1, 4):
        await chat.apost_message(room=ROOM, author="ann", text=f"missed {n}")
    async with connected(query="?after=1") as socket:
        frames = [await socket.receive_json_from(timeout=5) for _ in range(2)]
        assert [f["id"] for f in frames] == [2, 3]
        await chat.apost_message(room=ROOM, author="ann", text="live")
        assert (await socket.receive_json_from(timeout=5))["id"] == 4
        assert await socket.receive_nothing(timeout=0.3)


async def test_without_after_the_socket_gets_only_new_messages_as_in_the_lecture() -> None:
    await chat.apost_message(room=ROOM, author="ann", text="history")
    async with connected() as socket:
        assert await socket.receive_nothing(timeout=0.3)
        await chat.apost_message(room=ROOM, author="ann", text="new")
        assert (await socket.receive_json_from(timeout=5))["message"] == "new"


@pytest.mark.parametrize(
    "query",
    [pytest.param("?after=5", id="beyond-newest"), pytest.param("?after=x", id="not-a-number")],
)
async def test_a_bad_cursor_gets_an_error_frame_and_close_code_4400(query: str) -> None:
    """Not a refused handshake: a browser could not tell why, and would retry forever."""
    socket = communicator(query=query)
    accepted, _ = await socket.connect()
    assert accepted
    assert "after" in (await socket.receive_json_from(timeout=5))["error"]
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4400}
    await socket.disconnect()
    assert await Message.objects.filter(room__name=ROOM).acount() == 0


async def test_the_author_comes_from_the_server_not_the_frame() -> None:
    async with connected() as socket:
        await socket.send_json_to({"message": "hi", "author": "mallory"})
        frame = await socket.receive_json_from(timeout=5)
    assert frame["author"] != "mallory"


async def test_a_room_with_the_longest_name_gets_its_messages() -> None:
    """Long names get a hashed group name; publish and subscribe must agree on it."""
    room = "r" * 100
    async with connected(room) as socket, connected("r" * 99) as neighbour:
        await chat.apost_message(room=room, author="ann", text="long room")
        assert (await socket.receive_json_from(timeout=5))["room"] == room
        assert await neighbour.receive_nothing(timeout=0.3)
