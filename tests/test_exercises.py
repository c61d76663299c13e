"""What the instructor guide and the exercises tell people to expect is what the code does.

Each number a page predicts is either computed here from the settings that produce it, or
run in a reduced form against the real parts (a real server, real Redis, a real long poll),
or checked against the committed reference run. The pages mark predicted numbers as
``<!-- predict: NAME -->VALUE<!-- /predict -->`` so that a reworded page cannot drop one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, AsyncRequestFactory, override_settings

from benchmarks.report.reference_docs import REFERENCE_DIR
from benchmarks.results.summary import load_if_present
from benchmarks.run.scenarios import LIVE_DEMO
from lab import chat
from lab.authors import generated_name
from strategies.long_polling import views as long_polling_views
from tests.exercise_pages import commands

REPO = Path(__file__).resolve().parent.parent
GUIDES = [REPO / "docs" / "instructor.md", REPO / "docs" / "ru" / "instructor.md"]
EXERCISES = [REPO / "docs" / "exercises.md", REPO / "docs" / "ru" / "exercises.md"]
PREDICTION = re.compile(r"<!-- predict: ([a-z-]+) -->(.*?)<!-- /predict -->")
DEMO_USERS = 30
"""The guide starts 30 users of each class in Locust's web UI."""


def predictions(page: Path) -> dict[str, float]:
    found = PREDICTION.findall(page.read_text(encoding="utf-8"))
    return {name: float(re.sub(r"[^\d,.]", "", value).replace(",", ".")) for name, value in found}


def existing(pages: list[Path]) -> list[Path]:
    return [page for page in pages if page.is_file()]


def locust_rates_per_s() -> dict[str, float]:
    """What Locust's UI counts per second with 30 users of one class under the live demo's
    load (``LIVE_DEMO``: rooms of ``room_size``, each user sending every ``send_interval_s``)."""
    sends = DEMO_USERS / LIVE_DEMO.send_interval_s
    deliveries = sends * LIVE_DEMO.room_size  # every member of the room, the sender included
    polls = DEMO_USERS * 1000 / settings.PUSHLAB_POLL_INTERVAL_MS
    waits = deliveries  # each delivery ends a held poll and the client asks again
    return {
        "short-polling-http": polls + sends,
        "short-polling-rps": polls + sends + deliveries,
        "long-polling-rps": waits + sends + deliveries,
        "websocket-rps": deliveries,  # socket sends are not rows; DELIVER is
    }


@pytest.mark.parametrize("page", existing(GUIDES), ids=lambda page: page.parent.name)
def test_the_guides_locust_numbers_follow_from_the_users_settings(page: Path) -> None:
    predicted = predictions(page)
    for name, rate in locust_rates_per_s().items():
        assert name in predicted, f"{page.name} no longer predicts {name}"
        assert predicted[name] == pytest.approx(rate, rel=0.05), name
    assert f"{DEMO_USERS} " in page.read_text(encoding="utf-8")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", existing(GUIDES), ids=lambda page: page.parent.name)
def test_the_meters_bytes_per_websocket_message_are_the_whole_frame(page: Path) -> None:
    """The room page's meter adds each received frame's UTF-8 length (``countFrame``). The page
    sends each message with a ``client_id`` of 16 random bytes in hex (``newClientId`` in
    lab/static/lab/chat.js), and the stored message it gets back carries it."""
    page_sends = {"room": "demo", "author": generated_name(), "client_id": "0a" * 16}
    stored = chat.post_message(text="hello", **page_sends)
    frame = json.dumps(stored)  # what ChatConsumer.send_message writes
    assert predictions(page)["frame-bytes"] == pytest.approx(len(frame.encode()), abs=5)


@pytest.mark.parametrize("page", existing(EXERCISES), ids=lambda page: page.parent.name)
def test_every_exercise_asks_for_a_prediction_and_states_what_to_observe(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    assert len(sections) >= 10
    for section in sections:
        title = section.splitlines()[0]
        assert re.search(r"\*\*(Predict|Предскажите)\.\*\*", section), title
        observed = re.search(r"\*\*(Observe|Что увидите)\.\*\*(.*)", section, flags=re.DOTALL)
        assert observed and len(observed.group(2).split()) >= 20, title


def fenced_commands(page: Path, number: int) -> str:
    section = re.split(r"^## ", page.read_text(encoding="utf-8"), flags=re.MULTILINE)[number]
    return "\n".join([*re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL), section])


@pytest.mark.parametrize("page", existing(EXERCISES), ids=lambda page: page.parent.name)
def test_exercise_1_keeps_the_run_it_compares_against(page: Path) -> None:
    """``pushlab bench`` replaces ``--out``'s latest/: the exercise must write elsewhere."""
    commands = fenced_commands(page, 1)
    bench = next(line for line in commands.splitlines() if "pushlab bench" in line)
    out = re.search(r"--out (\S+)", bench)
    assert out and out.group(1).rstrip("/") not in {"results", "results/latest"}
    interval = int(re.search(r"PUSHLAB_POLL_INTERVAL_MS=(\d+)", bench).group(1))  # type: ignore[union-attr]
    doubled = 60_000 // interval
    assert f"60 → {doubled}" in commands, "the predicted rate is 60 000 / poll_interval_ms"


@pytest.mark.parametrize("page", existing(EXERCISES), ids=lambda page: page.parent.name)
def test_exercise_9_makes_one_big_room(page: Path) -> None:
    """``--clients`` adds rooms of 10; only the fan-out scenario puts many sockets in one."""
    from benchmarks.run.scenarios import FANOUT

    commands = fenced_commands(page, 9)
    assert "--scenarios chat,fanout" in commands
    assert FANOUT.room_size == 0 and f"{FANOUT.clients}" in commands


def test_exercise_9_directions_hold_in_the_reference_run() -> None:
    """Redis work per delivery shrinks in the big room on either layer; per message it grows
    on the lecture's layer (an entry queued per member) and far less than the room did on the
    pub/sub one (one PUBLISH a message). Checked for the layer the reference run used (runs
    older than the ``layer`` setting used the lecture's)."""
    summary = load_if_present(REFERENCE_DIR)
    fanout = (summary or {}).get("scenarios", {}).get("fanout", {}).get("websocket")
    if summary is None or not fanout or fanout.get("status") != "ok":
        pytest.skip("the committed reference run has no fan-out WebSocket result")
    chat_ws = summary["strategies"]["websocket"]
    room_of_chat = summary["config"]["room_size"]
    per_delivery = (chat_ws["redis_commands_per_delivery"], fanout["redis_commands_per_delivery"])
    assert per_delivery[1] < per_delivery[0]
    per_message = (per_delivery[0] * room_of_chat, per_delivery[1] * fanout["clients"])
    room_growth = fanout["clients"] / room_of_chat
    if summary["config"].get("layer", "redis") == "redis":
        assert per_message[1] > per_message[0]
    else:
        assert per_message[1] < per_message[0] * room_growth / 2


LongPollView = Callable[[HttpRequest, str], Awaitable[HttpResponse]]


async def poll_through_the_held_window(
    monkeypatch: pytest.MonkeyPatch, view: LongPollView, room: str, timeout_s: float
) -> tuple[list[Any], list[Any], float]:
    """Exercise 7's window held open: a message is stored right after the long poll's backlog
    read. The poll's answer, the message stored, and how long the answer took."""
    # Warm up in another room: after a read that found nothing the hub knows a room's newest
    # id and the next poll there skips the read, which would leave no gap to hold open.
    await AsyncClient().get(f"/api/rooms/{room}-warm/messages/wait?after=0&timeout=0.2")
    original = chat.aread_after  # the view's backlog read
    posted: list[dict[str, Any]] = []

    async def read_then_post(room_name: str, after: int, limit: int | None = None) -> Any:
        backlog = await original(room_name, after, limit)
        if not posted:
            posted.append(await chat.apost_message(room=room, author="ann", text="in the gap"))
        return backlog

    monkeypatch.setattr(chat, "aread_after", read_then_post)
    request = AsyncRequestFactory().get(
        f"/api/rooms/{room}/messages/wait", {"after": 0, "timeout": timeout_s}
    )
    started = time.monotonic()
    response = await asyncio.wait_for(view(request, room), timeout=timeout_s + 5)
    return json.loads(response.content)["messages"], posted, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
async def test_exercise_7_a_lost_wake_up_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold the window of exercise 7 open: a message stored right after the backlog read
    (before the wait) must still wake the poll at once; with the read moved before the
    subscription it would be lost and the poll would run to its timeout."""
    timeout_s = 20.0  # long, so "well before the timeout" holds on a busy machine too
    answer, posted, took_s = await poll_through_the_held_window(
        monkeypatch, long_polling_views.wait_for_messages, "lost-wake-up", timeout_s
    )
    assert answer == posted
    assert took_s < timeout_s / 2, "woken only by the timeout: lost wake-up"


def exercise_7_change(source: str) -> str:
    """The page's *Change*: the backlog read moved before the subscription."""
    read = "        messages = await hub.backlog(room, after)\n"
    subscribe = "    async with hub.subscribe(room, after) as wakeups:\n"
    moved, found = re.subn(f"^{re.escape(read)}", "", source, count=1, flags=re.MULTILINE)
    assert found and subscribe in source, "the view no longer reads as exercise 7 says"
    return moved.replace(subscribe, read[4:] + subscribe)


@pytest.mark.django_db(transaction=True)
async def test_exercise_7_the_change_loses_the_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exercise 7 performed: the view's source with the read moved before the subscription,
    run through the same held window, waits out its timeout (the hub's periodic check, which
    would also find the message, is set far beyond it)."""
    page = existing(EXERCISES)[0].read_text(encoding="utf-8")
    assert "`async with hub.subscribe(room, after)`" in page
    path = Path(long_polling_views.__file__)
    changed = types.ModuleType("changed_long_polling_views")
    changed.__dict__["__file__"] = str(path)
    exec(compile(exercise_7_change(path.read_text()), str(path), "exec"), changed.__dict__)
    timeout_s = 3.0
    with override_settings(PUSHLAB_MISSED_WAKEUP_CHECK_S=60):
        answer, posted, took_s = await poll_through_the_held_window(
            monkeypatch, changed.wait_for_messages, "lost-on-purpose", timeout_s
        )
    assert answer == posted  # found at last, by the read at the timeout
    assert took_s >= timeout_s * 0.9, "answered before its timeout: the wake-up was not lost"


EXERCISE_COUNT = 11
"""The exercises of docs/exercises.md: tests/test_exercises_run.py runs 1-10 (7 is run
here), tests/test_browser_tabs.py runs 11."""


@pytest.mark.parametrize("number", range(1, EXERCISE_COUNT + 1))
def test_both_languages_print_the_same_commands(number: int) -> None:
    """The exercise tests run the commands of the English page; the Russian one prints the
    same, so a student of either runs what was tested."""
    english, russian = EXERCISES
    assert commands(number, english) == commands(number, russian)
    assert (
        len(re.split(r"^## ", english.read_text(encoding="utf-8"), flags=re.M))
        == EXERCISE_COUNT + 1
    )
