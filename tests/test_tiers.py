"""Every test is in the tier it belongs to (tests/tiers.py): ``make test`` runs the fast one
and stays fast only while nothing that starts a server, Locust or a browser slips into it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab.embedded_redis import redis_server_binary
from tests import tiers

TESTS = Path(__file__).resolve().parent


def suite_modules() -> set[str]:
    return {f"tests/{path.name}" for path in TESTS.glob("test_*.py")}


@pytest.fixture
def described(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """The tier facts of every test this session collected, before ``-m`` deselected any:
    the whole suite under ``make test`` and ``make test-all``."""
    return request.config.stash[tiers.DESCRIBED_ITEMS]


def test_every_test_whose_fixtures_start_a_server_or_browser_is_marked(
    described: dict[str, dict[str, Any]],
) -> None:
    assert tiers.misplaced(described) == {}


def test_the_check_sees_browsers_and_servers_of_their_own(
    described: dict[str, dict[str, Any]],
) -> None:
    """The check is not blind: it finds the suite's browser tests, the tests that start a
    server of their own or build the docs, and leaves the shared server to the fast tier."""
    if {nodeid.split("::")[0] for nodeid in described} < suite_modules():
        pytest.skip("this session collected part of the suite; `make test` collects it all")
    needs = {nodeid: facts["needs"] for nodeid, facts in described.items()}

    def of(prefix: str) -> set[str | None]:
        return {need for nodeid, need in needs.items() if nodeid.startswith(prefix)}

    assert of("tests/test_browser.py::") == {tiers.BROWSER}
    assert of("tests/test_keep_alive.py::") == {tiers.SLOW}  # ServerProcess in the test
    assert of("tests/test_floor.py::") == {tiers.SLOW}  # a module-wide server fixture
    assert of("tests/test_docs.py::test_strict_build") == {tiers.SLOW}  # mkdocs build
    assert of("tests/test_contract.py::test_pair") == {None}  # the session's shared server


def test_misplaced_names_what_is_missing() -> None:
    described = {
        "a": {"marks": [], "needs": "browser"},
        "b": {"marks": ["slow"], "needs": "browser"},
        "c": {"marks": [], "needs": "slow"},
        "d": {"marks": ["browser"], "needs": "slow"},
        "e": {"marks": [], "needs": None},
    }
    assert set(tiers.misplaced(described)) == {"a", "b", "c"}


def test_a_fast_test_cannot_start_a_process() -> None:
    with pytest.raises(tiers.TierError, match="Mark it slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    with pytest.raises(tiers.TierError, match="Mark it slow"):
        subprocess.Popen("locust --headless", shell=True)


def test_a_fast_test_may_start_the_embedded_redis_server() -> None:
    version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=True
    )
    assert "Redis server" in version.stdout


def test_programs_are_told_by_their_first_word() -> None:
    assert tiers.program(["/x/bin/redis-server", "--port", "0"]) == "redis-server"
    assert tiers.program("chromedriver --port=9515") == "chromedriver"
    assert tiers.program([Path("/usr/bin/chromium")]) == "chromium"
