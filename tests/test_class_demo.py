"""The class demo, executed: docs/instructor.md followed step by step (issue 21, point 2).

The guide's own commands start the server and Locust (``make serve`` and ``make locust`` as the
Makefile runs them, on free ports: the guide's "Port 8000 is busy" way), its pages are opened in
headless Chromium, and every figure it asks the class to predict (``<!-- predict: -->``) is
checked within the tolerance it states (``<!-- tolerance: -->``). A guide that no longer
matches the lab fails here.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from lab.serverproc import ServerProcess, free_port
from strategies import STRATEGIES
from tests.test_exercises import PREDICTION

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "instructor.md"
TOLERANCE = re.compile(r"<!-- tolerance: ([a-z-]+) -->(.*?)<!-- /tolerance -->")
ROOM = "demo"
"""The guide's room: its frame-size prediction is for a "hello" in room ``demo``."""
QUIET_S = 20
"""The guide's "Do nothing for 20 seconds"."""
DEMO_USERS = 30
LOCUST_CLASSES = {
    "ShortPollingUser": ("short-polling-rps", "short-polling-http"),
    "LongPollingUser": ("long-polling-rps",),
    "WebSocketUser": ("websocket-rps",),
}
"""The Locust users the guide starts, in its order, and the figures each is predicted by."""
MEASURE_S = 20.0
"""Seconds of Locust's counts each rate is read over, once every user sends in rhythm."""


def guide_figures(pattern: re.Pattern[str]) -> dict[str, float]:
    text = GUIDE.read_text(encoding="utf-8")
    return {name: float(re.sub(r"[^\d.]", "", value)) for name, value in pattern.findall(text)}


PREDICTED = guide_figures(PREDICTION)
TOLERATED = guide_figures(TOLERANCE)


def within_tolerance(measured: float, predicted: float) -> bool:
    return abs(measured - predicted) <= predicted * TOLERATED["rates"] / 100


def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail(f"not within {seconds} s: {what}")


def makefile_recipe(target: str) -> list[str]:
    """The command ``make TARGET`` runs, with the venv's tools (``$(BIN)/`` → ``.venv/bin/``)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(rf"^{target}:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert recipe, f"the Makefile has no {target} target"
    return shlex.split(recipe.group(1).replace("$(BIN)/", str(REPO / ".venv" / "bin") + "/"))


def test_the_guide_starts_with_make_serve_and_make_locust() -> None:
    before_class = GUIDE.read_text(encoding="utf-8").split("## The 15 minutes")[0]
    commands = re.findall(r"^make (\w+)", before_class, flags=re.MULTILINE)
    assert commands == ["serve", "locust"]
    assert makefile_recipe("serve")[-2:] == [str(REPO / ".venv/bin/pushlab"), "serve"]


def test_the_guides_arithmetic_and_its_last_step_hold() -> None:
    """2:00: "10 000 students online and nobody typing" cost 10 000 times 60 requests a
    minute, one per poll interval each; 13:00: the committed report and the home page's three
    answers are there to open."""
    guide = GUIDE.read_text(encoding="utf-8")
    per_minute = re.search(r"`10 000 \u00d7 (\d+)` requests per minute", guide)
    assert per_minute and int(per_minute.group(1)) == 60_000 / settings.PUSHLAB_POLL_INTERVAL_MS
    assert "results/reference/report.md" in guide
    assert (REPO / "results" / "reference" / "report.md").is_file()
    home = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    assert "index.md#the-three-answers" in guide and "## The three answers" in home
    assert '--8<-- "answers.md"' in home


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``make serve``: ``pushlab serve`` with every default (uvicorn, the pub/sub layer, a
    poll a second), a fresh database so room ``demo`` is new, this session's Redis."""
    var_dir = tmp_path_factory.mktemp("class-demo")
    env = {"REDIS_URL": settings.REDIS_URL, "PUSHLAB_VAR_DIR": str(var_dir)}
    server = ServerProcess(env=env, server="uvicorn", log_path=var_dir / "server.log")
    server.start()
    yield server
    server.stop()


# --- the compare page (0:00-10:00) ----------------------------------------------------------


class ComparePage:
    """The compare page of room ``demo`` in headless Chromium: one panel (iframe) per
    technique, each with its own meter."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> None:
        self.driver.get(f"{self.url}/chat/{ROOM}/compare/")
        for key, strategy in STRATEGIES.items():
            WebDriverWait(self.driver, 10).until(
                lambda _, key=key, strategy=strategy: (
                    self.read(key, "#connection-state") == strategy.healthy_state
                ),
                f"the {key} panel never started",
            )

    def read(self, key: str, selector: str) -> str:
        self.driver.switch_to.frame(f"panel-{key}")
        try:
            element = self.driver.find_element(By.CSS_SELECTOR, selector)
            return str(element.get_property("value") or element.text)
        finally:
            self.driver.switch_to.default_content()

    def meter(self, key: str, name: str) -> float:
        shown = self.read(key, f"#meter-{name}")
        return float(shown) if re.fullmatch(r"\d+(\.\d+)?", shown) else -1.0

    def type_in(self, key: str, text: str) -> None:
        self.driver.switch_to.frame(f"panel-{key}")
        try:
            self.driver.find_element(By.CSS_SELECTOR, "#chat-message-input").click()
            ActionChains(self.driver).send_keys(text, Keys.ENTER).perform()
        finally:
            self.driver.switch_to.default_content()

    def wait_everywhere(self, text: str, seconds: float) -> None:
        for key in STRATEGIES:
            wait_until(
                lambda key=key: f"{text}\n" in self.read(key, "#chat-log"),
                seconds,
                f"{text!r} in the {key} panel",
            )


@pytest.mark.browser
def test_the_compare_page_shows_what_the_guide_says(
    browser: WebDriver, demo_server: ServerProcess
) -> None:
    page = ComparePage(browser, demo_server.url)
    interval_s = settings.PUSHLAB_POLL_INTERVAL_MS / 1000
    page.open()
    # 0:00: "Point at the panels, one per technique"
    panels = browser.find_elements(By.CSS_SELECTOR, "iframe[id^='panel-']")
    assert [panel.get_attribute("id") for panel in panels] == [f"panel-{k}" for k in STRATEGIES]

    # 2:00: "Do nothing for 20 seconds": short polling's counter climbs one a poll interval,
    # the others stand still (a held request renews at most once a long-poll timeout).
    before = {key: page.meter(key, "requests") for key in STRATEGIES}
    started = time.monotonic()
    wait_until(lambda: time.monotonic() - started >= QUIET_S, QUIET_S + 5, "the quiet time")
    grown = {key: page.meter(key, "requests") - before[key] for key in STRATEGIES}
    assert within_tolerance(grown.pop("short-polling"), QUIET_S / interval_s)
    assert all(0 <= requests <= 1 for requests in grown.values()), grown

    # 0:00 and 8:00: "hello" appears in every panel; the WebSocket panel's bytes grow by the
    # whole frame the server pushes.
    socket_bytes = page.meter("websocket", "bytes")
    page.type_in("websocket", "hello")
    page.wait_everywhere("hello", interval_s * 3)
    frame_bytes = page.meter("websocket", "bytes") - socket_bytes
    assert abs(frame_bytes - PREDICTED["frame-bytes"]) <= TOLERATED["bytes"], frame_bytes

    # 2:00 and 5:00: "the short-polling panel lags by up to a second"; long polling's latency
    # is "a few milliseconds", well below it.
    for n in range(3):
        page.type_in("websocket", f"typed {n}")
        page.wait_everywhere(f"typed {n}", interval_s * 3)
        short_lag = page.meter("short-polling", "latency-last")
        assert 0 <= short_lag <= interval_s * 1000 * (1 + TOLERATED["rates"] / 100), short_lag
        assert 0 <= page.meter("long-polling", "latency-last") < interval_s * 1000 / 2

    # 8:00: the lecture's own room.html chats with every panel.
    browser.execute_script(f'window.open("{demo_server.url}/lecture/chat/{ROOM}/", "_blank");')
    browser.switch_to.window(browser.window_handles[-1])
    try:
        WebDriverWait(browser, 10).until(
            lambda _: browser.find_element(By.CSS_SELECTOR, "#chat-message-input")
        )
        wait_until(
            lambda: browser.execute_script(
                "return typeof chatSocket !== 'undefined' && chatSocket.readyState === 1"
            ),
            10,
            "the lecture page's socket",
        )
        browser.find_element(By.CSS_SELECTOR, "#chat-message-input").send_keys(
            "from the lecture", Keys.ENTER
        )
    finally:
        browser.execute_script("window.close();")
        browser.switch_to.window(browser.window_handles[0])
    page.wait_everywhere("from the lecture", interval_s * 3)


# --- Locust's web UI (10:00-13:00) ----------------------------------------------------------


class LocustUI:
    """``make locust``, pointed at the demo server, driven through the web UI's own API."""

    def __init__(self, server_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = makefile_recipe("locust")
        command[command.index("--host") + 1] = server_url
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [*command, "--web-port", str(self.port)], cwd=REPO, stdout=out, stderr=out
            )

    def call(self, path: str, form: dict[str, str] | None = None) -> Any:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with urllib.request.urlopen(self.url + path, data=data, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body.startswith(b"{") else body

    def stats(self) -> dict[str, Any]:
        return dict(self.call("/stats/requests"))

    def counts(self) -> tuple[float, float]:
        """All rows' requests (what the RPS graph counts) and the HTTP rows' alone."""
        rows = self.stats()["stats"]
        total = next(row["num_requests"] for row in rows if row["name"] == "Aggregated")
        http = sum(
            row["num_requests"]
            for row in rows
            if row["method"] in {"GET", "POST"} and row["name"] != "Aggregated"
        )
        return float(total), float(http)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def rates_per_s(ui: LocustUI, user_class: str) -> tuple[float, float]:
    """Start 30 users of one class (as the guide does, all at once), wait until every one
    sends in rhythm, then read the rows added over ``MEASURE_S``; stop and wait."""
    ui.call("/stats/reset", {})
    answer = ui.call(
        "/swarm",
        {"user_count": str(DEMO_USERS), "spawn_rate": str(DEMO_USERS), "user_classes": user_class},
    )
    assert answer["success"], answer
    wait_until(lambda: ui.stats().get("user_count") == DEMO_USERS, 60, f"{DEMO_USERS} users")
    settled = time.monotonic()
    rhythm_s = 2 * 5.0  # a sender's first message comes within one send interval
    wait_until(lambda: time.monotonic() - settled >= rhythm_s, rhythm_s + 5, "the rhythm")
    first, first_http, started = *ui.counts(), time.monotonic()
    wait_until(lambda: time.monotonic() - started >= MEASURE_S, MEASURE_S + 5, "the window")
    last, last_http = ui.counts()
    elapsed = time.monotonic() - started
    ui.call("/stop", {})
    wait_until(lambda: ui.stats().get("state") == "stopped", 90, "Locust to stop")
    return (last - first) / elapsed, (last_http - first_http) / elapsed


def test_locusts_rates_are_what_the_class_predicts(
    demo_server: ServerProcess, tmp_path: Path
) -> None:
    ui = LocustUI(demo_server.url, tmp_path / "locust.log")
    try:
        wait_until(lambda: _answers(ui), 60, "Locust's web UI")
        measured: dict[str, float] = {}
        for user_class, names in LOCUST_CLASSES.items():
            rps, http = rates_per_s(ui, user_class)
            measured[names[0]] = rps
            if len(names) > 1:
                measured[names[1]] = http
        wrong = {
            name: (round(rate, 1), PREDICTED[name])
            for name, rate in measured.items()
            if not within_tolerance(rate, PREDICTED[name])
        }
        assert wrong == {}, f"measured against predicted: {wrong}"
    finally:
        ui.stop()


def _answers(ui: LocustUI) -> bool:
    try:
        ui.stats()
    except OSError:
        return False
    return True
