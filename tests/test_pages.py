"""The pages the lecture's Selenium tests and a person use: element ids, strategy choice,
compare panels, and 404s for bad rooms and unknown strategies."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from lab import chat
from strategies import DEFAULT_STRATEGY, STRATEGIES

pytestmark = pytest.mark.django_db(transaction=True)

LECTURE_IDS = ["chat-log", "chat-message-input", "chat-message-submit", "room-name"]
METER_IDS = [
    "connection-state",
    "meter-requests",
    "meter-bytes",
    "meter-messages",
    "meter-latency-last",
    "meter-latency-median",
    "chat-error",
]


def page_config(html: str) -> dict[str, object]:
    found = re.search(r'<script id="pushlab-config" type="application/json">(.*?)</script>', html)
    assert found, "the room page has no pushlab-config"
    return dict(json.loads(found.group(1)))


def test_root_redirects_to_the_index() -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"] == "/chat/"


def test_index_has_the_lectures_ids_and_a_choice_of_every_strategy() -> None:
    html = Client().get("/chat/").content.decode()
    assert 'id="room-name-input"' in html and 'id="room-name-submit"' in html
    for key in STRATEGIES:
        assert f'name="strategy" value="{key}"' in html
    assert re.search(rf'value="{DEFAULT_STRATEGY}"\s+checked', html)


@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in STRATEGIES])
def test_room_page_runs_the_chosen_strategys_client(key: str) -> None:
    html = Client().get(f"/chat/lobby/?strategy={key}").content.decode()
    for element_id in LECTURE_IDS + METER_IDS:
        assert f'id="{element_id}"' in html, element_id
    assert STRATEGIES[key].client_script in html
    others = [s.client_script for s in STRATEGIES.values() if s.key != key]
    assert not any(script in html for script in others)
    assert page_config(html)["strategy"] == key


def test_room_page_without_strategy_is_the_lectures_websocket() -> None:
    html = Client().get("/chat/lobby/").content.decode()
    assert page_config(html)["strategy"] == DEFAULT_STRATEGY == "websocket"


def test_room_page_shows_history_escaped_and_starts_after_it() -> None:
    chat.post_message(room="lobby", author="ann", text="</textarea><script>alert(1)</script>")
    chat.post_message(room="lobby", author="ann", text="second")
    html = Client().get("/chat/lobby/?strategy=short-polling").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;\nsecond\n</textarea>" in html
    assert page_config(html)["lastId"] == 2


def test_compare_page_has_one_panel_per_strategy() -> None:
    html = Client().get("/chat/lobby/compare/").content.decode()
    for key in STRATEGIES:
        assert f'id="panel-{key}"' in html
        assert f"/chat/lobby/?strategy={key}&amp;embed=1" in html


@pytest.mark.parametrize(
    "path",
    [
        "/chat/a.b/",
        "/chat/%C3%BCber/",
        "/chat/" + "x" * 101 + "/",
        "/chat/a.b/compare/",
        "/chat/lobby/?strategy=carrier-pigeon",
    ],
)
def test_bad_room_or_strategy_is_a_404_page(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_compare_page_gives_every_panel_one_session_and_csrf_cookie() -> None:
    """The panels load at once; had each to mint its own session, the last would win."""
    client = Client()
    client.get("/chat/lobby/compare/")
    assert "csrftoken" in client.cookies and "sessionid" in client.cookies
    names = {
        page_config(client.get(f"/chat/lobby/?strategy={key}&embed=1").content.decode())["author"]
        for key in STRATEGIES
    }
    assert len(names) == 1


def test_lecture_room_page_is_the_lectures_template_unchanged() -> None:
    """``/lecture/chat/<room>/`` serves the lecture's room.html, filled only with room_name."""
    template = (settings.BASE_DIR / "lab" / "templates" / "lecture" / "room.html").read_text()
    assert template.startswith("<!-- chat/templates/room.html -->")
    response = Client().get("/lecture/chat/lobby/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html == template.replace(
        '{{ room_name|json_script:"room-name" }}',
        '<script id="room-name" type="application/json">"lobby"</script>',
    )
    assert Client().get("/lecture/chat/no%20spaces/").status_code == 404


def test_metrics_adds_redis_only_when_the_live_panel_asks() -> None:
    """The benchmark reads /api/metrics without ?redis=1, so its probes add no Redis work."""
    plain = Client().get("/api/metrics").json()
    assert "redis_commands_processed" not in plain and "opened_by_route" in plain
    live = Client().get("/api/metrics?redis=1").json()
    assert isinstance(live["redis_commands_processed"], int)


def test_routes_are_counted_without_the_room_name() -> None:
    from lab.traffic import route_of

    http = {"type": "http", "method": "GET", "path": "/api/rooms/lobby/messages/wait"}
    assert route_of(http) == "GET /api/rooms/[room]/messages/wait"
    assert route_of({"type": "websocket", "path": "/ws/chat/lobby/"}) == "WS /ws/chat/[room]/"
    assert route_of({"type": "http", "method": "GET", "path": "/chat/lobby/"}) is None
