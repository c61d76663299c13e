"""The built docs work without internet: a page's sequence diagram renders from the script the
site carries, in a Chromium that can reach nothing but 127.0.0.1 (a class on bad Wi-Fi)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import headless_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
"""Every host name but 127.0.0.1 fails to resolve: the CDNs are as far away as offline."""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output to its failures."""


@pytest.fixture(scope="module")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site, served on 127.0.0.1 as a static server would serve it."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[WebDriver]:
    with headless_chromium(NO_NETWORK) as driver:
        yield driver


def outside_requests(driver: WebDriver, origin: str) -> list[str]:
    """Every resource the page asked for from anywhere but its own server."""
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)"
    )
    return [name for name in names if not name.startswith(origin)]


def rendered_diagrams(driver: WebDriver) -> list[str]:
    """The SVG markup of each rendered diagram. The theme draws a diagram into a closed
    shadow root of a ``div.mermaid`` (page scripts cannot see it; WebDriver can)."""
    svgs = []
    for host in driver.find_elements(By.CSS_SELECTOR, "div.mermaid"):
        for svg in host.shadow_root.find_elements(By.CSS_SELECTOR, "svg"):
            svgs.append(str(svg.get_attribute("outerHTML")))
    return svgs


@pytest.mark.parametrize("page", ["strategies/websocket/", "ru/strategies/long-polling/"])
def test_a_sequence_diagram_renders_without_network(
    offline_browser: WebDriver, site_url: str, page: str
) -> None:
    offline_browser.get(f"{site_url}/{page}")
    try:
        WebDriverWait(offline_browser, 20).until(rendered_diagrams)
    except TimeoutException:
        text = offline_browser.find_element(By.TAG_NAME, "body").text
        pytest.fail(
            f"/{page} rendered no diagram offline; raw `sequenceDiagram` text shown: "
            f"{'sequenceDiagram' in text}"
        )
    svg = rendered_diagrams(offline_browser)[0]
    assert "sequenceDiagram" not in offline_browser.find_element(By.TAG_NAME, "body").text
    assert 'aria-roledescription="sequence"' in svg, svg[:300]
    assert outside_requests(offline_browser, site_url) == []
