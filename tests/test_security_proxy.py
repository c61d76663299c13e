"""Forwarded headers on a real server (issue 24, point 5): uvicorn believed
``X-Forwarded-For`` from 127.0.0.1, so a local client (or a proxy passing the header on) chose
the address its rate limit counted against, and reset it at will. Now only the peers
``PUSHLAB_TRUSTED_PROXIES`` names are believed, on either server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.clients import ChatSession
from tests.services import own_server

pytestmark = pytest.mark.slow

ADDRESS_BOUND = {
    "PUSHLAB_RATE_LIMIT_ADDRESS_BURST": "3",
    "PUSHLAB_RATE_LIMIT_ADDRESS_PER_S": "0.01",  # no refill worth counting during the test
}

LOOPBACK_BUCKET = "pushlab:ratelimit:address:127.0.0.1"


@pytest.fixture(autouse=True)
def loopback_bucket_full(server_env: dict[str, str]) -> Iterator[None]:
    """Every test client posts from 127.0.0.1: this test's small bound starts full, and the
    bucket it empties is not left to the tests that follow."""
    client = redis.Redis.from_url(server_env["REDIS_URL"])
    client.delete(LOOPBACK_BUCKET)
    yield
    client.delete(LOOPBACK_BUCKET)


def posts_with_forged_addresses(base_url: str, count: int) -> list[int]:
    """The attack in small: a new session for every post (the session's bucket is fresh)
    and a new ``X-Forwarded-For`` (so would be the address's, if it were believed)."""
    statuses = []
    for n in range(count):
        session = ChatSession(base_url, "forwarded")
        answer = session.http.post(
            session.messages_url,
            data=json.dumps({"message": f"post {n}"}),
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": session.http.cookies.get("csrftoken", ""),
                "X-Forwarded-For": f"198.51.100.{n + 1}",
            },
            timeout=10,
        )
        statuses.append(answer.status_code)
    return statuses


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_a_forged_forwarded_for_does_not_reset_the_address_bound(
    server_env: dict[str, str], tmp_path: Path, server: str
) -> None:
    with own_server(server_env, tmp_path, server, **ADDRESS_BOUND) as process:
        assert posts_with_forged_addresses(process.url, 5) == [201, 201, 201, 429, 429]


def test_a_named_proxy_is_believed(server_env: dict[str, str], tmp_path: Path) -> None:
    """Behind a proxy on 127.0.0.1 named in the setting, each forwarded client has its own
    address bound, as a proxy's clients should."""
    trusted = {**ADDRESS_BOUND, "PUSHLAB_TRUSTED_PROXIES": "127.0.0.1"}
    with own_server(server_env, tmp_path, "uvicorn", **trusted) as process:
        assert posts_with_forged_addresses(process.url, 5) == [201] * 5
