"""Security boundaries of issue 24, point 5, in-process: the WebSocket origin check compares
scheme, host and port; session-less sockets share one allowance per address; guest names do
not collide; minting sessions is rate-limited per address. (Forwarded headers need a real
server: tests/test_security_proxy.py.)"""

from __future__ import annotations

import re
import secrets
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from lab.asgi import application, trusting_proxies
from lab.authors import generated_name
from lab.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def somewhere() -> str:
    """A client address no other test uses: the buckets in the session's Redis outlive a test."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def handshake(
    origin: bytes, host: bytes = b"localhost:8000", *, scheme: str = "ws", room: str = "lobby"
) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application, f"/ws/chat/{room}/", headers=[(b"origin", origin), (b"host", host)]
    )
    socket.scope["scheme"] = scheme
    return socket


async def accepted(socket: WebsocketCommunicator) -> bool:
    ok, _ = await socket.connect()
    await socket.disconnect()
    return bool(ok)


@pytest.mark.parametrize(
    "origin",
    [
        b"http://localhost:3000",  # another local port: a page the user also has open
        b"http://localhost",  # port 80, not 8000
        b"https://localhost:8000",  # another scheme
        b"http://127.0.0.1:8000",  # another host name of the same machine
        b"http://localhost:8000.evil.example",
        b"null",
    ],
)
async def test_a_handshake_from_another_scheme_host_or_port_is_refused(origin: bytes) -> None:
    assert not await accepted(handshake(origin))


async def test_a_handshake_from_the_sites_own_origin_is_accepted() -> None:
    assert await accepted(handshake(b"http://localhost:8000"))
    assert await accepted(handshake(b"https://localhost:8000", scheme="wss"))
    assert await accepted(handshake(b"http://localhost", host=b"localhost"))


async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin() -> None:
    assert not await accepted(handshake(b"http://evil.example:8000", host=b"evil.example:8000"))


async def sessionless_sockets(
    stack: AsyncExitStack, room: str, address: str, count: int
) -> list[Any]:
    sockets = []
    for port in range(count):
        socket = handshake(b"http://localhost:8000", room=room)
        socket.scope["client"] = (address, 40000 + port)  # what a server puts there
        ok, _ = await socket.connect()
        assert ok
        stack.push_async_callback(socket.disconnect)
        sockets.append(socket)
    return sockets


async def answer_to(socket: Any, client_id: str) -> dict[str, Any]:
    """The frame that answers the frame ``client_id``: its stored message or an error."""
    while True:
        frame = dict(await socket.receive_json_from(timeout=5))
        if frame.get("client_id") == client_id:
            return frame


async def test_sessionless_sockets_of_one_address_share_one_allowance(settings: Any) -> None:
    """The attack in small: N sockets without a cookie, each a new author, each sending a
    burst. Before, every socket had an allowance of its own (N x burst stored)."""
    settings.PUSHLAB_RATE_LIMIT_BURST, settings.PUSHLAB_RATE_LIMIT_PER_S = 3, 0.01
    room, address = f"anon-{secrets.token_hex(4)}", somewhere()
    answers = []
    async with AsyncExitStack() as stack:
        sockets = await sessionless_sockets(stack, room, address, 4)
        for socket in sockets:
            for _ in range(2):
                client_id = uuid.uuid4().hex
                await socket.send_json_to({"message": "hi", "client_id": client_id})
                answers.append(await answer_to(socket, client_id))
        elsewhere = (await sessionless_sockets(stack, room, somewhere(), 1))[0]
        await elsewhere.send_json_to({"message": "from another address", "client_id": "x-1"})
        assert "error" not in await answer_to(elsewhere, "x-1")
    refused = [answer for answer in answers if "error" in answer]
    assert len(answers) - len(refused) == 3
    assert all("too many messages" in answer["error"] for answer in refused)
    assert await Message.objects.filter(room__name=room).acount() == 4


def test_guest_names_do_not_collide() -> None:
    """24 random bits collided 5 times in 16 485 sessions; 64 bits make it ~1e-11 here."""
    names = [generated_name() for _ in range(20_000)]
    assert all(re.fullmatch(r"guest-[0-9a-f]{16}", name) for name in names)
    assert len(set(names)) == len(names)


def open_page(address: str, client: Client | None = None) -> Any:
    return (client or Client(REMOTE_ADDR=address)).get("/chat/lobby/")


def test_minting_sessions_is_rate_limited_per_address(settings: Any) -> None:
    """A client that throws its cookie away gets a new session (and a new guest name) per
    request: past the mint bound it gets 429 JSON with Retry-After, and no session."""
    settings.PUSHLAB_SESSION_MINT_BURST, settings.PUSHLAB_SESSION_MINT_PER_S = 3, 0.01
    address = somewhere()
    keeper = Client(REMOTE_ADDR=address)
    assert open_page(address, keeper).status_code == 200  # mints the one session it keeps
    for _ in range(2):
        assert open_page(address).status_code == 200
    refused = open_page(address)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert "new sessions" in refused.json()["error"]
    assert int(refused["Retry-After"]) >= 1
    assert django_settings.SESSION_COOKIE_NAME not in refused.cookies
    posted = Client(REMOTE_ADDR=address).post(
        "/api/rooms/lobby/messages", {"message": "hi"}, content_type="application/json"
    )
    assert posted.status_code == 429 and "new sessions" in posted.json()["error"]
    assert Message.objects.count() == 0
    # A client that keeps its cookie mints nothing and is not refused.
    assert open_page(address, keeper).status_code == 200
    kept = keeper.post(
        "/api/rooms/lobby/messages", {"message": "kept"}, content_type="application/json"
    )
    assert kept.status_code == 201
    assert open_page(somewhere()).status_code == 200  # another address has its own bound


async def echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope_seen.append(scope)


scope_seen: list[dict[str, Any]] = []


async def test_forwarded_headers_are_read_only_from_a_named_proxy() -> None:
    """``PUSHLAB_TRUSTED_PROXIES`` empty: the app as it is; naming a proxy: its
    X-Forwarded-For is believed from that peer only."""
    assert trusting_proxies(echo_client, ()) is echo_client
    proxied = trusting_proxies(echo_client, ("10.9.9.9",))
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    for peer in ("10.9.9.9", "127.0.0.1"):
        scope = {"type": "http", "client": (peer, 5000), "headers": headers, "scheme": "http"}
        await proxied(scope, None, None)
    assert [seen["client"][0] for seen in scope_seen[-2:]] == ["203.0.113.7", "127.0.0.1"]
    assert [seen["scheme"] for seen in scope_seen[-2:]] == ["https", "http"]
