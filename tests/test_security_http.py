"""Security at the protocol level (issue point 5): CSRF, WebSocket origins, author spoofing."""

from __future__ import annotations

import contextlib
import json
import re
import secrets

import pytest
import websocket

from lab.serverproc import ServerProcess
from tests.clients import ChatSession, receive_json

pytestmark = pytest.mark.slow


@pytest.fixture
def client(live_server_process: ServerProcess) -> ChatSession:
    return ChatSession(live_server_process.url, f"sec-{secrets.token_hex(3)}")


def page_config(client: ChatSession) -> dict[str, object]:
    """The ``pushlab-config`` JSON the room page hands its script."""
    html = client.http.get(f"{client.base_url}/chat/{client.room}/", timeout=10).text
    found = re.search(r'<script id="pushlab-config" type="application/json">(.*?)</script>', html)
    assert found, "the room page has no pushlab-config"
    return dict(json.loads(found.group(1)))


def test_a_post_without_the_csrf_token_gets_json_403_and_stores_nothing(
    client: ChatSession,
) -> None:
    for answer in (
        client.post_raw(json.dumps({"message": "no token"}), csrf=False),
        client.http.post(
            client.messages_url,
            data=json.dumps({"message": "wrong token"}),
            headers={"X-CSRFToken": "x" * 32},
            timeout=10,
        ),
    ):
        assert answer.status_code == 403
        assert answer.headers["Content-Type"].startswith("application/json")
        assert "CSRF" in answer.json()["error"]
    assert client.last_id() == 0


def test_the_page_hands_its_script_the_csrf_token(client: ChatSession) -> None:
    token = page_config(client)["csrfToken"]
    assert isinstance(token, str) and token
    answer = client.http.post(
        client.messages_url,
        data=json.dumps({"message": "as the page sends it"}),
        headers={"X-CSRFToken": token},
        timeout=10,
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1.evil.example", "null", None]
)
def test_cross_origin_websocket_handshakes_are_refused(
    client: ChatSession, origin: str | None
) -> None:
    options = {"suppress_origin": True} if origin is None else {"origin": origin}
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        client.websocket(**options)
    assert refused.value.status_code == 403


def test_the_client_cannot_choose_its_author(client: ChatSession) -> None:
    """An "author" key in a POST body or a WebSocket frame is ignored; the session decides."""
    me = page_config(client)["author"]
    assert me != "admin"
    posted = client.post("over http", author="admin")
    assert posted.status_code == 201
    assert posted.json()["author"] == me
    with contextlib.closing(client.websocket()) as socket:
        socket.send(json.dumps({"message": "over a websocket", "author": "admin"}))
        assert receive_json(socket)["author"] == me
    assert [m["author"] for m in client.read().json()["messages"]] == [me, me]


def test_room_names_never_reach_a_page_as_markup(client: ChatSession) -> None:
    answer = client.http.get(f"{client.base_url}/chat/%3Cscript%3Ealert(1)%3C/script%3E/")
    assert answer.status_code == 404
    assert "<script>alert" not in answer.text
