"""Shared fixtures, and the tier checks (tests/tiers.py: what ``make test`` leaves out).

lab.settings starts a private Redis when REDIS_URL is unset and exports REDIS_URL,
so in-process tests and the server processes started here share one Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lab.serverproc import ServerProcess
from tests import tiers

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

# The bench runs the suite starts check the plumbing (every hot-path job runs and its figure is
# recorded), not the figures: each job runs 1 s instead of 2
# (benchmarks.run.locust_run.HOT_PATH_SECONDS).
# Set before any test module imports benchmarks.run.runner; the runs' subprocesses inherit it.
os.environ.setdefault("PUSHLAB_HOT_PATH_SECONDS", "1")


def _mint_sessions_freely() -> None:
    """Every test client, in-process and against the servers started here, comes from
    127.0.0.1 and shares one Redis, so the suite as a whole would meet the per-address bound
    on new sessions (PUSHLAB_SESSION_MINT_BURST) as the benchmark's clients would; it is off,
    as ``pushlab bench`` turns it off, and tests of the bound set their own
    (tests/test_security_boundaries.py)."""
    from django.conf import settings

    os.environ.setdefault("PUSHLAB_SESSION_MINT_BURST", "0")  # for the servers started here
    settings.PUSHLAB_SESSION_MINT_BURST = 0  # in-process: settings were read before this file


_mint_sessions_freely()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Describe every collected test's tier for tests/test_tiers.py, before ``-m`` deselects."""
    config.stash[tiers.DESCRIBED_ITEMS] = {item.nodeid: tiers.describe(item) for item in items}


@pytest.fixture(autouse=True)
def _fast_tests_start_no_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test not marked slow or browser fails if it starts a process (tests/tiers.py)."""
    if tiers.tier_marks(request.node):
        yield
        return
    with tiers.no_child_processes(request.node.nodeid):
        yield


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for server processes: this session's Redis and a fresh SQLite dir."""
    from django.conf import settings

    var_dir = tmp_path_factory.mktemp("server-var")
    env = {"REDIS_URL": settings.REDIS_URL, "PUSHLAB_VAR_DIR": str(var_dir)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **env},
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return env


@pytest.fixture(scope="session")
def live_server_process(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real `pushlab serve` (Daphne) for the session, on 127.0.0.1.

    Browser pages poll every 300 ms here, so the lecture's 2 s waits hold under load."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    env = {**server_env, "PUSHLAB_POLL_INTERVAL_MS": "300"}
    server = ServerProcess(env=env, log_path=log).start(migrate=False)
    yield server
    server.stop()


CHROME_OPTIONS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,900",
]
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing_browser() -> str | None:
    """Why headless Chromium cannot run here, or None when it can."""
    if not shutil.which("chromium") and not shutil.which("chromium-browser"):
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if not Path(CHROMEDRIVER).exists():
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    return None


def chrome_options() -> Any:
    """``CHROME_OPTIONS`` (headless, no sandbox or GPU, no shared-memory /dev/shm, nothing
    fetched in the background); every browser of the suite starts from these."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for argument in CHROME_OPTIONS:
        options.add_argument(argument)
    return options


@contextlib.contextmanager
def headless_chromium(
    *extra_arguments: str, capabilities: dict[str, Any] | None = None
) -> Iterator[WebDriver]:
    """A headless Chromium (``CHROME_OPTIONS`` plus ``extra_arguments`` and
    ``capabilities``), quit afterwards. Skips without one, unless PUSHLAB_REQUIRE_BROWSER=1
    (CI), where a missing browser is a failure."""
    reason = missing_browser()
    if reason:
        if os.environ.get("PUSHLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PUSHLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download
    options = chrome_options()
    for argument in extra_arguments:
        options.add_argument(argument)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session (see ``headless_chromium``)."""
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def fresh_browser() -> Iterator[WebDriver]:
    """A headless Chromium of this test's own: no cookies, windows or page state of others."""
    with headless_chromium() as driver:
        yield driver


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site as ``mkdocs build --strict`` makes it (strict fails on a broken link,
    anchor, nav entry or snippet path); built once for every test that reads or serves it."""
    site = tmp_path_factory.mktemp("docs") / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return site
