"""No known secret: each install signs sessions with a random key of its own, and a server
that is unsafe to expose refuses to listen beyond loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.sessions.serializers import JSONSerializer
from django.core import signing

from lab.authors import SESSION_KEY
from lab.secret_key import OLD_BUILTIN_KEY, exposure_problem, install_secret_key
from tests.clients import ChatSession, receive_json
from tests.services import own_server


def test_a_key_is_made_once_per_install_readable_only_by_its_owner(tmp_path: Path) -> None:
    key = install_secret_key(tmp_path)
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 50 and key != OLD_BUILTIN_KEY
    assert install_secret_key(tmp_path) == key  # reused, not remade
    (tmp_path / "other").mkdir()
    assert install_secret_key(tmp_path / "other") != key  # another install, another key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "secret_key"]  # no leftovers


def test_a_key_file_with_a_lax_mode_is_made_private(tmp_path: Path) -> None:
    key = install_secret_key(tmp_path)
    (tmp_path / "secret_key").chmod(0o644)
    assert install_secret_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[str] = []
    go = threading.Barrier(8)

    def start() -> None:
        go.wait()
        keys.append(install_secret_key(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 8 and len(set(keys)) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_is_always_allowed(host: str) -> None:
    assert exposure_problem(host, OLD_BUILTIN_KEY, debug=True) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "lab-server.local"])
def test_beyond_loopback_the_old_key_or_debug_is_refused(host: str) -> None:
    assert "old built-in key" in (exposure_problem(host, OLD_BUILTIN_KEY, debug=False) or "")
    assert "DEBUG" in (exposure_problem(host, "a" * 50, debug=True) or "")
    assert exposure_problem(host, "a" * 50, debug=False) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "settings", [{"PUSHLAB_SECRET_KEY": OLD_BUILTIN_KEY}, {"PUSHLAB_DEBUG": "1"}], ids=str
)
def test_serve_refuses_a_public_address_when_unsafe(
    settings: dict[str, str], server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, **server_env, "PUSHLAB_VAR_DIR": str(tmp_path), **settings}
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing to serve on 0.0.0.0" in done.stderr


def minted_session_cookie(key: str, author: str) -> str:
    """A signed-cookie session naming ``author``, as Django's backend would sign it."""
    return signing.dumps(
        {SESSION_KEY: author},
        key=key,
        salt="django.contrib.sessions.backends.signed_cookies",
        serializer=JSONSerializer,
        compress=True,
    )


@pytest.mark.slow
def test_a_session_minted_with_the_old_key_is_not_honoured(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**server_env, "PUSHLAB_SECRET_KEY": ""}  # empty: the install's own key
    with own_server(env, tmp_path) as server:
        install_key = (tmp_path / "secret_key").read_text().strip()
        for key, author, honoured in [
            (OLD_BUILTIN_KEY, "forged-by-anyone", False),
            (install_key, "signed-by-the-install", True),  # the minting itself is right
        ]:
            session = ChatSession(server.url, "forged")
            session.http.cookies.set("sessionid", minted_session_cookie(key, author))
            stored = session.send(f"over HTTP as {author}")
            assert (stored["author"] == author) is honoured, stored
            with_socket = session.websocket(after=session.last_id())
            try:
                with_socket.send(json.dumps({"message": f"over a socket as {author}"}))
                assert (receive_json(with_socket)["author"] == author) is honoured
            finally:
                with_socket.close()
