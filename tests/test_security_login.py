"""``PUSHLAB_REQUIRE_LOGIN=1`` (issue point 5): every strategy refuses anonymous users the
same way, and signed-in users chat as themselves."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from lab.access import LOGIN_REQUIRED_CLOSE_CODE
from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import (
    ChatSession,
    chat_log_lines,
    close_code,
    receive_json,
    wait_until,
    wait_until_following,
)
from tests.services import own_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
USERNAME, PASSWORD = "ann", secrets.token_urlsafe(12)
CREATE_USER = (
    "from django.contrib.auth.models import User; "
    # is_staff: the login form used here is the admin's (LOGIN_URL = /admin/login/).
    "User.objects.create_user({!r}, password={!r}, is_staff=True)"
)


@pytest.fixture(scope="module")
def login_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    var_dir = tmp_path_factory.mktemp("login")
    login = {"PUSHLAB_REQUIRE_LOGIN": "1"}
    with own_server(server_env, var_dir, **login) as server:
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", CREATE_USER.format(USERNAME, PASSWORD)],
            env={**os.environ, **server_env, "PUSHLAB_VAR_DIR": str(var_dir), **login},
            cwd=REPO,
            check=True,
        )
        yield server


@pytest.fixture
def anonymous(login_server: ServerProcess) -> ChatSession:
    return ChatSession(login_server.url, f"private-{secrets.token_hex(3)}", open_page=False)


def signed_in(server: ServerProcess, room: str) -> ChatSession:
    """Sign in through the admin's login form, as a person would, then open the room page."""
    client = ChatSession(server.url, room, open_page=False)
    login_url = f"{server.url}/admin/login/"
    client.http.get(login_url, timeout=10).raise_for_status()
    form = {
        "username": USERNAME,
        "password": PASSWORD,
        "csrfmiddlewaretoken": client.http.cookies["csrftoken"],
        "next": f"/chat/{room}/",
    }
    answer = client.http.post(login_url, data=form, headers={"Referer": login_url}, timeout=10)
    assert answer.status_code == 200 and answer.url.endswith(f"/chat/{room}/"), answer.url
    return client


def assert_401_json(answer: requests.Response) -> None:
    assert answer.status_code == 401, (answer.status_code, answer.text[:200])
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "sign in" in answer.json()["error"]


def test_the_api_answers_anonymous_users_401_json(anonymous: ChatSession) -> None:
    assert_401_json(anonymous.read())
    assert_401_json(anonymous.wait(after=0, timeout=1))  # the long poll
    assert_401_json(anonymous.post_raw(json.dumps({"message": "let me in"}), csrf=False))


def test_pages_send_anonymous_users_to_the_login_form(anonymous: ChatSession) -> None:
    for page in (f"/chat/{anonymous.room}/?strategy=long-polling", "/chat/"):
        answer = anonymous.http.get(anonymous.base_url + page, allow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/admin/login/?next=")


def test_websockets_of_anonymous_users_are_closed_with_4401(anonymous: ChatSession) -> None:
    with contextlib.closing(anonymous.websocket()) as socket:
        assert close_code(socket) == LOGIN_REQUIRED_CLOSE_CODE


def test_metrics_stay_open_for_the_benchmark(anonymous: ChatSession) -> None:
    assert anonymous.http.get(anonymous.base_url + "/api/metrics").status_code == 200


def test_signed_in_users_chat_as_themselves_over_every_transport(
    login_server: ServerProcess,
) -> None:
    client = signed_in(login_server, f"private-{secrets.token_hex(3)}")
    assert client.http.get(f"{client.base_url}/chat/{client.room}/").status_code == 200
    posted = client.post("hello over http", author="somebody-else")
    assert posted.status_code == 201 and posted.json()["author"] == USERNAME
    with contextlib.closing(client.websocket()) as socket:
        socket.send(json.dumps({"message": "hello over a websocket", "author": "x"}))
        assert receive_json(socket)["author"] == USERNAME
    assert client.wait(after=1, timeout=5).json()["messages"][0]["author"] == USERNAME
    assert [m["author"] for m in client.read().json()["messages"]] == [USERNAME, USERNAME]


@pytest.mark.browser
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pages_chat_as_the_signed_in_user_and_stop_when_signed_out(
    strategy: str, login_server: ServerProcess, fresh_browser: Any
) -> None:
    room = f"private-{secrets.token_hex(3)}"
    page = f"/chat/{room}/?strategy={strategy}"
    fresh_browser.delete_all_cookies()
    fresh_browser.get(login_server.url + page)  # anonymous: sent to the login form
    assert fresh_browser.current_url.startswith(f"{login_server.url}/admin/login/")
    fresh_browser.find_element(By.ID, "id_username").send_keys(USERNAME)
    fresh_browser.find_element(By.ID, "id_password").send_keys(PASSWORD + Keys.ENTER)
    wait_until(lambda: fresh_browser.current_url == login_server.url + page)

    state = wait_until_following(fresh_browser, strategy)
    fresh_browser.find_element(By.ID, "chat-message-input").send_keys("signed in" + Keys.ENTER)
    wait_until(lambda: chat_log_lines(fresh_browser) == ["signed in"])
    reader = signed_in(login_server, room)
    assert [m["author"] for m in reader.read().json()["messages"]] == [USERNAME]

    # The sign-in goes away (an expired session); the next request or reconnect is refused,
    # and the page says so instead of retrying forever.
    fresh_browser.delete_cookie("sessionid")
    login_server.restart()
    wait_until(lambda: state.text == "signed out", timeout=30)
    assert "Sign in" in fresh_browser.find_element(By.ID, "chat-error").text
