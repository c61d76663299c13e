"""Every exercise of docs/exercises.md, executed: its *Change* made with the commands the page
prints (read from the page, on free ports and in temporary directories), its *Observe*
asserted against real servers. Where an exercise runs for minutes (a benchmark, Locust, a
25 s timeout), the test runs the reduced form the page states and asserts the same
observation. The Russian page prints the same commands; exercise 7 (a lost wake-up, an
in-process race) is run in ``test_exercises.py``, and exercise 11 (seven tabs of one browser,
on the session's shared server) in ``test_browser_tabs.py``."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from lab.serverproc import free_port
from strategies import STRATEGIES
from tests.clients import (
    ChatSession,
    LongPollingReceiver,
    Receiver,
    chat_log_lines,
    receiver_for,
    started,
    wait_until,
    wait_until_following,
)
from tests.exercise_pages import (
    REPO,
    bash_blocks,
    make_recipe,
    metrics,
    page_server_env,
    pushlab_argv,
    section,
    serving,
    serving_all,
    the_command,
    with_option,
)

pytestmark = pytest.mark.slow


# --- helpers of the browser exercises (3, 4, 8) ----------------------------------------


def in_panel(driver: Any, key: str, script: str) -> Any:
    driver.switch_to.frame(f"panel-{key}")
    try:
        return driver.execute_script(script)
    finally:
        driver.switch_to.default_content()


SEND_FROM_PAGE = """
const input = document.querySelector('#chat-message-input');
input.value = arguments[0];
document.querySelector('#chat-message-submit').click();
"""


# --- 1. Halve the poll interval, 5. Double the clients: benchmark runs -----------------------

BENCH_SECONDS = "8"
"""The reduced form of the exercises' benchmark runs: 8 s of load instead of the quick
profile's 30 s (the page says what each run's test checks)."""


def bench(command: str, out: Path, *extra: str) -> dict[str, Any]:
    """Run a ``pushlab bench`` command of the page into ``out``, reduced; its summary."""
    env, argv = pushlab_argv(command)
    argv = [*with_option(argv, "--out", str(out)), "--duration", BENCH_SECONDS, *extra]
    shell = page_server_env(out / "var", PUSHLAB_HOT_PATH_SECONDS="1", **env)
    finished = subprocess.run(argv, env=shell, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return dict(json.loads((out / "latest" / "summary.json").read_text()))


@pytest.fixture(scope="module")
def default_short_polling(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Exercise 1's command without its setting: the default run both exercises compare with."""
    command = the_command(1, "pushlab bench").split(" ", 1)[1]  # without its VAR=value
    summary = bench(command, tmp_path_factory.mktemp("default"))
    return dict(summary["strategies"]["short-polling"])


def ratio(changed: dict[str, Any], default: dict[str, Any], name: str) -> float:
    return float(changed[name]) / float(default[name])


def test_exercise_1_half_the_interval_doubles_the_polls_and_halves_the_latency(
    tmp_path: Path, default_short_polling: dict[str, Any]
) -> None:
    summary = bench(the_command(1, "pushlab bench"), tmp_path)
    changed, default = summary["strategies"]["short-polling"], default_short_polling
    assert summary["config"]["poll_interval_ms"] == 500
    assert 1.5 <= ratio(changed, default, "http_requests_per_client_per_min") <= 2.1
    median = changed["delivery_ms"]["p50"] / default["delivery_ms"]["p50"]
    assert 0.35 <= median <= 0.75, median
    assert 1.5 <= ratio(changed, default, "requests_per_delivery") <= 2.3
    assert 1.0 <= ratio(changed, default, "bytes_per_delivery") <= 1.5
    assert 1.1 <= ratio(changed, default, "server_cpu_ms_per_delivery") <= 3.0


def test_exercise_5_twice_the_clients_cost_twice_in_total_and_the_same_per_delivery(
    tmp_path: Path, default_short_polling: dict[str, Any]
) -> None:
    command = the_command(5, "pushlab bench --clients")
    summary = bench(command, tmp_path, "--strategies", "short-polling")
    changed, default = summary["strategies"]["short-polling"], default_short_polling
    assert changed["clients"] == 2 * default["clients"]
    assert 0.85 <= ratio(changed, default, "http_requests_per_client_per_min") <= 1.15
    assert 1.7 <= ratio(changed, default, "http_requests") <= 2.3
    assert 0.75 <= ratio(changed, default, "requests_per_delivery") <= 1.3
    if not changed["locust_saturated"]:
        median = changed["delivery_ms"]["p50"] / default["delivery_ms"]["p50"]
        assert 0.6 <= median <= 1.5, median


# --- 2. Open 200 idle clients ----------------------------------------------------------------

EXERCISE_2_TIMEOUT_S = 6
"""The reduced form: the page's long polls wait 25 s, the test's 6 s."""


def short_poll_cpu_s(url: str, room: str, polls: int) -> float:
    """Server CPU seconds per short poll (``GET .../messages?after=0``), ``polls`` in a row."""
    session = requests.Session()
    before = metrics(url)["cpu_s"]
    for _ in range(polls):
        session.get(f"{url}/api/rooms/{room}/messages?after=0", timeout=10).raise_for_status()
    return (metrics(url)["cpu_s"] - before) / polls


def test_exercise_2_idle_long_polls_are_open_requests_that_cost_almost_nothing(
    tmp_path: Path,
) -> None:
    """The page's loop of curls, its timeout shortened: all are open at once (``http_open``),
    and the server's CPU while they wait and answer is a small part of what the same clients
    would cost short polling once a second over the same seconds."""
    (script,) = bash_blocks(2)
    clients = int(re.search(r"seq (\d+)", script).group(1))  # type: ignore[union-attr]
    port = free_port()
    env = page_server_env(tmp_path)
    argv = [*pushlab_argv(".venv/bin/pushlab serve")[1], "--port", str(port)]
    with serving(argv, env, tmp_path / "server.log") as url:
        script = script.replace("http://127.0.0.1:8000", url).replace(
            "timeout=25", f"timeout={EXERCISE_2_TIMEOUT_S}"
        )
        started_at = time.monotonic()
        finished = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=120
        )
        waited_s = time.monotonic() - started_at
        assert finished.returncode == 0, finished.stderr
        during = json.loads(finished.stdout)  # the metrics the page prints, 2 s in
        idle_cpu_s = metrics(url)["cpu_s"] - during["cpu_s"]
        poll_cpu_s = short_poll_cpu_s(url, "quiet", polls=clients)
    assert during["http_open"] - 1 >= clients * 0.95, during  # not the metrics request itself
    short_polling_cpu_s = clients * (waited_s - 2) * poll_cpu_s  # one poll a second each
    assert idle_cpu_s < short_polling_cpu_s / 3, (idle_cpu_s, short_polling_cpu_s)


# --- 3. Stop the server mid-chat -------------------------------------------------------------

RECORD_STATES = """
window.seenStates = [];
const state = document.querySelector('#connection-state');
new MutationObserver(() => window.seenStates.push(state.textContent))
    .observe(state, {childList: true, characterData: true, subtree: true});
"""
"""Keeps every text a panel's #connection-state shows, so no state is missed."""
OUTAGE_STATES = {
    "short-polling": "error; retrying in",
    "long-polling": "error; retrying in",
    "naive-long-polling": "error; retrying in",
    "websocket": "disconnected; reconnecting in",
    "sse": "reconnecting",
    "http-streaming": "disconnected; reconnecting in",
}
"""What exercise 3 says each panel shows while the server is down."""
DELAY = re.compile(r"in (\d+\.\d) s")
FAILED_SEND = """return [document.querySelector('#chat-message-input').value,
    document.querySelector('#chat-error').hidden];"""


def panels_logs(driver: Any) -> dict[str, list[str]]:
    script = "return document.querySelector('#chat-log').value"
    return {key: str(in_panel(driver, key, script)).splitlines() for key in STRATEGIES}


def outage_states(driver: Any, key: str) -> list[str]:
    seen = in_panel(driver, key, "return window.seenStates")
    return [state for state in seen if state.startswith(OUTAGE_STATES[key])]


def send_from(driver: Any, key: str, text: str) -> None:
    in_panel(driver, key, SEND_FROM_PAGE.replace("arguments[0]", json.dumps(text)))


def all_panels_show(driver: Any, lines: list[str]) -> bool:
    return all(log == lines for log in panels_logs(driver).values())


@pytest.mark.browser
def test_exercise_3_every_panel_recovers_by_itself_and_loses_nothing(
    tmp_path: Path, fresh_browser: Any
) -> None:
    """The compare page through a stop and a start of ``make serve`` (SIGTERM, as Ctrl-C):
    each panel shows its outage state, the polling ones and WebSocket with growing delays; a
    send from the short-polling panel fails and keeps its text; every panel recovers by itself
    and shows each message once, in order, one sent by another client meanwhile included."""
    assert set(OUTAGE_STATES) == set(STRATEGIES), "exercise 3 says what each panel shows"
    argv = with_option(make_recipe("serve"), "--port", str(free_port()))
    env = page_server_env(tmp_path)
    with serving(argv, env, tmp_path / "server.log") as url:
        fresh_browser.get(f"{url}/chat/lobby/compare/")
        for key in STRATEGIES:
            fresh_browser.switch_to.frame(f"panel-{key}")
            wait_until_following(fresh_browser, key)
            fresh_browser.execute_script(RECORD_STATES)
            fresh_browser.switch_to.default_content()
        for text in ("a", "b"):
            send_from(fresh_browser, "websocket", text)
        wait_until(lambda: all_panels_show(fresh_browser, ["a", "b"]))
    send_from(fresh_browser, "short-polling", "while down")
    wait_until(
        lambda: in_panel(fresh_browser, "short-polling", FAILED_SEND) == ["while down", False], 30
    )
    wait_until(lambda: all(len(outage_states(fresh_browser, key)) >= 3 for key in STRATEGIES), 30)
    for key in STRATEGIES:
        delays = [
            float(DELAY.search(state).group(1))
            for state in outage_states(fresh_browser, key)
            if DELAY.search(state)
        ]
        assert key == "sse" or delays[2] > delays[0], (key, delays)  # 2 s ±50 % > 0.5 s ±50 %
    with serving(argv, env, tmp_path / "server.log") as url:
        ChatSession(url, "lobby").send("meanwhile")  # the panels are still backing off
        wait_until(lambda: all_panels_show(fresh_browser, ["a", "b", "meanwhile"]), 45)
        for key in STRATEGIES:
            fresh_browser.switch_to.frame(f"panel-{key}")
            wait_until_following(fresh_browser, key)
            fresh_browser.switch_to.default_content()
        in_panel(
            fresh_browser, "short-polling", "document.querySelector('#chat-message-submit').click()"
        )
        wait_until(lambda: all_panels_show(fresh_browser, ["a", "b", "meanwhile", "while down"]))


# --- 4. Lengthen and shorten the long-poll timeout -------------------------------------------

WAIT_ROWS = """return performance.getEntriesByType('resource')
    .filter((entry) => entry.name.includes('/messages/wait?')).map((entry) => entry.startTime);"""
"""The start times (ms) of the page's finished long polls, as the Network tab lists them."""


def exercise_4_servers(tmp_path: Path) -> list[tuple[int, list[str], dict[str, str]]]:
    """``PUSHLAB_LONG_POLL_TIMEOUT_S=5 make serve``, then ``=60``: (timeout, argv, env) each."""
    text = section(4)
    first = re.search(r"`(PUSHLAB_LONG_POLL_TIMEOUT_S)=(\d+) make serve`, then `=(\d+)`", text)
    assert first, "exercise 4 no longer sets the timeout as the test reads it"
    name, timeouts = first.group(1), [int(first.group(2)), int(first.group(3))]
    servers = []
    for timeout in timeouts:
        env = page_server_env(tmp_path / str(timeout), **{name: str(timeout)})
        argv = with_option(make_recipe("serve"), "--port", str(free_port()))
        servers.append((timeout, argv, env))
    return servers


@pytest.mark.browser
def test_exercise_4_the_timeout_sets_the_idle_cost_not_the_latency(
    tmp_path: Path, fresh_browser: Any
) -> None:
    """A long-polling page idles on each server at once: at 5 s it renews every 5 s (12 a
    minute), at 60 s its one request is still pending; a message reaches both at once."""
    (short, short_argv, short_env), (long, long_argv, long_env) = exercise_4_servers(tmp_path)
    for directory in (tmp_path / str(short), tmp_path / str(long)):
        directory.mkdir()
    with serving_all(
        (short_argv, short_env, tmp_path / "short.log"),
        (long_argv, long_env, tmp_path / "long.log"),
    ) as (short_url, long_url):
        windows = {}
        for url in (short_url, long_url):
            fresh_browser.switch_to.new_window("window")
            fresh_browser.get(f"{url}/chat/idle/?strategy=long-polling")
            wait_until_following(fresh_browser, "long-polling")
            windows[url] = fresh_browser.current_window_handle
        fresh_browser.switch_to.window(windows[short_url])
        wait_until(lambda: len(fresh_browser.execute_script(WAIT_ROWS)) >= 2, short * 4)
        starts = fresh_browser.execute_script(WAIT_ROWS)
        per_minute = 60_000 / (starts[1] - starts[0])
        assert 60 / short * 0.7 <= per_minute <= 60 / short * 1.1, per_minute
        fresh_browser.switch_to.window(windows[long_url])
        assert fresh_browser.execute_script(WAIT_ROWS) == [], "renewed before its 60 s"
        for url in (short_url, long_url):
            fresh_browser.switch_to.window(windows[url])
            sent_at = time.monotonic()
            ChatSession(url, "idle").send("at once")
            wait_until(lambda: chat_log_lines(fresh_browser) == ["at once"], 10)
            assert time.monotonic() - sent_at < short / 2, "a message ends the wait at once"


# --- 6. Run two server processes without a shared Redis --------------------------------------

CHECK_S = 2.0
"""PUSHLAB_MISSED_WAKEUP_CHECK_S for the test's servers (25 s by default)."""


class HeldLongPoll(LongPollingReceiver):
    """Held longer than the hub's check, as the page's 25 s: a delivery before its timeout is
    the check's doing, not the poll's renewal."""

    timeout_s = 8


EXERCISE_6_TECHNIQUES = {
    "short-polling", "long-polling", "websocket", "sse", "naive-long-polling", "http-streaming"
}  # fmt: skip
"""The techniques whose behaviour across the two processes exercise 6 describes."""


def exercise_6_servers(tmp_path: Path) -> list[list[str]]:
    """The page's two ``pushlab serve`` lines, each on a free port."""
    lines = [line for line in bash_blocks(6)[0].splitlines() if "pushlab serve" in line]
    assert len(lines) == 2 and "--no-migrate" in lines[1]
    return [with_option(pushlab_argv(line)[1], "--port", str(free_port())) for line in lines]


def receivers_on(url: str, room: str) -> dict[str, Receiver]:
    """One receiver per technique, long polls held as the page's are."""
    return {
        key: (HeldLongPoll if key == "long-polling" else receiver_for(key))(url, room)
        for key in STRATEGIES
    }


def delivered_within(receivers: dict[str, Receiver], keys: list[str], seconds: float) -> None:
    for key in keys:
        receivers[key].wait_for(1, timeout=seconds)


def test_exercise_6_without_a_shared_redis_what_reads_the_database_delivers(
    tmp_path: Path,
) -> None:
    """Two ``pushlab serve`` on one SQLite file, each with its own private Redis: a message
    sent to the first reaches the second's polls at once, its long polls and event streams
    at the hub's next check, and its WebSockets only with the next message pushed there."""
    first_argv, second_argv = exercise_6_servers(tmp_path)
    env = page_server_env(tmp_path, PUSHLAB_MISSED_WAKEUP_CHECK_S=str(CHECK_S))
    with (
        serving(first_argv, env, tmp_path / "first.log") as first,
        serving(second_argv, env, tmp_path / "second.log") as second,
    ):
        receivers = receivers_on(second, "lobby")
        assert set(receivers) == EXERCISE_6_TECHNIQUES, "exercise 6 says what each one does"
        with started(receivers.values()):
            sent_at = time.monotonic()
            unannounced = ChatSession(first, "lobby").send("sent to 8000")
            delivered_within(receivers, ["short-polling", "naive-long-polling"], 5)
            delivered_within(receivers, ["long-polling", "sse", "http-streaming"], CHECK_S + 4)
            assert time.monotonic() - sent_at < HeldLongPoll.timeout_s, "at the poll's timeout"
            assert receivers["websocket"].messages == [], "the socket heard another Redis"
            pushed = ChatSession(second, "lobby").send("sent to 8001")
            for receiver in receivers.values():
                assert receiver.wait_for(2) == [unannounced, pushed], receiver


def test_exercise_6_with_one_shared_redis_everything_is_instant(tmp_path: Path) -> None:
    """The page's last step: both servers with the same ``REDIS_URL`` (the hub's check left at
    its default, 25 s), and every technique on the second gets the first's message at once."""
    from django.conf import settings

    assert "REDIS_URL=" in section(6)
    first_argv, second_argv = exercise_6_servers(tmp_path)
    env = {**page_server_env(tmp_path), "REDIS_URL": settings.REDIS_URL}
    with (
        serving(first_argv, env, tmp_path / "first.log") as first,
        serving(second_argv, env, tmp_path / "second.log") as second,
    ):
        receivers = receivers_on(second, "lobby")
        with started(receivers.values()):
            sent = ChatSession(first, "lobby").send("shared broker")
            delivered_within(receivers, list(receivers), 5)
            assert all(receiver.messages == [sent] for receiver in receivers.values())


# --- 8. Watch the wire in the browser --------------------------------------------------------


def chromium_recording_the_network() -> contextlib.AbstractContextManager[Any]:
    """Headless Chromium whose DevTools Network events (what the Network tab draws its rows
    from) are kept in its ``performance`` log."""
    from tests.conftest import headless_chromium

    return headless_chromium(capabilities={"goog:loggingPrefs": {"performance": "ALL"}})


class NetworkTab:
    """The rows of the Network tab, rebuilt from the DevTools events read so far."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.events: list[dict[str, Any]] = []

    def read(self) -> NetworkTab:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"].startswith("Network."):
                self.events.append(message)
        return self

    def of(self, method: str, url_part: str = "") -> list[dict[str, Any]]:
        """``Network.<method>`` events, those of requests whose URL holds ``url_part``."""
        urls = self.urls()
        return [
            event["params"]
            for event in self.events
            if event["method"] == f"Network.{method}"
            and url_part in urls.get(event["params"].get("requestId"), "")
        ]

    def urls(self) -> dict[str, str]:
        found = {}
        for event in self.events:
            params = event["params"]
            url = params.get("url") or params.get("request", {}).get("url")
            if url and "requestId" in params:
                found.setdefault(params["requestId"], url)
        return found

    def rows(self, url_part: str, method: str = "GET") -> list[str]:
        """Request ids of the HTTP rows whose URL holds ``url_part``."""
        return [
            sent["requestId"]
            for sent in self.of("requestWillBeSent", url_part)
            if sent["request"]["method"] == method
        ]

    def finished(self, request_id: str) -> bool:
        return any(
            event["params"].get("requestId") == request_id
            for event in self.events
            if event["method"] in ("Network.loadingFinished", "Network.loadingFailed")
        )

    def body(self, request_id: str) -> str:
        return str(
            self.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})[
                "body"
            ]
        )


@pytest.mark.browser
def test_exercise_8_the_network_tab_shows_each_technique_s_rows(tmp_path: Path) -> None:
    """Every technique's room page at once (the compare page holds one per technique), read
    through the DevTools Network events: while idle, short polling adds a row a second, each
    answering no messages; long polling, naive long polling and SSE hold one pending row;
    WebSocket is one 101 row whose frames carry each message, both directions."""
    assert "Network" in section(8)
    argv = with_option(make_recipe("serve"), "--port", str(free_port()))
    with (
        serving(argv, page_server_env(tmp_path), tmp_path / "server.log") as url,
        chromium_recording_the_network() as driver,
    ):
        driver.get(f"{url}/chat/wire/compare/")
        for key in STRATEGIES:
            driver.switch_to.frame(f"panel-{key}")
            wait_until_following(driver, key)
            driver.switch_to.default_content()
        network = NetworkTab(driver).read()
        polls_before, started_at = len(network.rows("/messages?after=")), time.monotonic()
        wait_until(lambda: len(network.read().rows("/messages?after=")) >= polls_before + 4, 15)
        idle_s = time.monotonic() - started_at
        idle_polls = network.rows("/messages?after=")[polls_before:]
        assert len(idle_polls) <= idle_s + 2, "short polling: about one row a second"
        for request_id in idle_polls[:-1]:
            assert json.loads(network.body(request_id))["messages"] == []
        for held in ("/messages/wait?", "/messages/naive-wait?", "/events"):
            rows = network.rows(held)
            assert len(rows) == 1 and not network.finished(rows[0]), (held, rows)
        (socket,) = network.of("webSocketCreated")
        assert "/ws/chat/wire/" in socket["url"]
        (handshake,) = network.of("webSocketHandshakeResponseReceived")
        assert handshake["response"]["status"] == 101
        assert network.of("webSocketFrameSent") == []

        for text in ("one", "two"):
            in_panel(driver, "websocket", SEND_FROM_PAGE.replace("arguments[0]", json.dumps(text)))
        wait_until(lambda: len(network.read().of("eventSourceMessageReceived")) >= 2, 15)
        wait_until(lambda: len(network.read().of("webSocketFrameReceived")) >= 2, 15)
        sent = [json.loads(f["response"]["payloadData"]) for f in network.of("webSocketFrameSent")]
        got = [
            json.loads(f["response"]["payloadData"]) for f in network.of("webSocketFrameReceived")
        ]
        assert [frame["message"] for frame in sent] == ["one", "two"]
        assert [frame["message"] for frame in got] == ["one", "two"]
        wait_until(lambda: network.finished(network.read().rows("/messages/wait?")[0]), 15)
        meter = int(
            in_panel(
                driver,
                "short-polling",
                "return document.querySelector('#meter-requests').textContent",
            )
        )
        assert meter == len(network.read().rows("/messages?after=")), "the meter counts each row"


# --- 9. Make the channel layer the bottleneck ------------------------------------------------


def redis_work(summary: dict[str, Any]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Redis commands per delivery and per message, (chat, fan-out), from a run of exercise 9."""
    chat_ws, fanout = (
        summary["strategies"]["websocket"],
        summary["scenarios"]["fanout"]["websocket"],
    )
    per_delivery = (chat_ws["redis_commands_per_delivery"], fanout["redis_commands_per_delivery"])
    sizes = (summary["config"]["room_size"], fanout["clients"])
    return per_delivery, (per_delivery[0] * sizes[0], per_delivery[1] * sizes[1])


def test_exercise_9_on_the_lecture_s_layer_redis_work_per_message_grows(tmp_path: Path) -> None:
    """The page's command (the lecture's layer): per delivery the big room needs less Redis
    work, per message more. The pub/sub layer's case is checked on the reference run
    (``test_exercises.py``): in a run of a few seconds its sockets' joining outweighs the
    few messages, as the page says."""
    summary = bench(the_command(9, "--layer redis"), tmp_path)
    assert summary["config"]["layer"] == "redis"
    (chat, fanout), (chat_message, fanout_message) = redis_work(summary)
    assert fanout < chat, "per delivery, the big room shares its fixed cost"
    assert fanout_message > chat_message, "queued once per member channel"


# --- 10. Switch the ASGI server --------------------------------------------------------------

LOCUST_USERS = re.compile(r"run (\d+)\s+short-polling users")
LOCUST_SECONDS = "10s"
"""The reduced form: 10 s of Locust instead of the page's minute."""


def headless_locust(url: str, users: int, csv: Path) -> list[str]:
    """``make locust``'s command line, headless: the page's users of the short-polling class."""
    argv = [word for word in make_recipe("locust") if word != "--class-picker"]
    argv = with_option(argv, "--host", url)
    at = argv.index("--web-host")
    argv = [*argv[:at], *argv[at + 2 :]]
    return [*argv, "--headless", "-u", str(users), "-r", str(users), "-t", LOCUST_SECONDS,
            "--csv", str(csv), "--only-summary", "ShortPollingUser"]  # fmt: skip


def short_poll_row(csv: Path) -> dict[str, str]:
    import csv as csv_module

    with open(f"{csv}_stats.csv", newline="") as stats:
        rows = list(csv_module.DictReader(stats))
    (row,) = [r for r in rows if r["Type"] == "GET" and r["Name"] == "/api/rooms/[room]/messages"]
    return row


def test_exercise_10_locust_measures_short_polls_on_both_servers(tmp_path: Path) -> None:
    """``pushlab serve --server daphne`` (and the default, uvicorn), ``make locust`` with the
    page's short-polling users each time: both serve every poll, and Locust gives a median
    for each, which is what the page asks the student to write down (not which is faster)."""
    serve = the_command(10, "pushlab serve --server daphne")
    users = int(LOCUST_USERS.search(section(10)).group(1))  # type: ignore[union-attr]
    medians = {}
    for server in ("daphne", "uvicorn"):
        env, argv = pushlab_argv(serve.replace("--server daphne", f"--server {server}"))
        argv = with_option(argv, "--port", str(free_port()))
        shell = page_server_env(tmp_path / server, **env)
        (tmp_path / server).mkdir()
        with serving(argv, shell, tmp_path / f"{server}.log") as url:
            csv = tmp_path / server / "locust"
            finished = subprocess.run(
                headless_locust(url, users, csv), env=shell, cwd=REPO,
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        assert finished.returncode in (0, 1), finished.stderr[-3000:]  # 1: a failure counted
        row = short_poll_row(csv)
        assert int(row["Request Count"]) >= users and row["Failure Count"] == "0", row
        medians[server] = float(row["Median Response Time"])
    assert all(median > 0 for median in medians.values()), medians
