"""The core and its plug-ins: ``lab`` never imports ``strategies`` (outside the wiring), the
registry hands each strategy's publisher to the push seam (``lab.push``), and
``PUSHLAB_PUBLISH_ONLY`` chooses which ones are published to."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from lab import chat, push
from strategies import STRATEGIES
from tests.waiting import until

LAB = Path(__file__).resolve().parent.parent / "lab"
WIRING = {"settings.py", "urls.py", "asgi.py", "cli.py"}
"""The modules that may read the registry table: the entry points that wire the strategies
into the site and the command (the pages get the table from ``urls.py``)."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", [pytest.param(p, id=p.name) for p in sorted(LAB.rglob("*.py"))])
def test_the_core_never_imports_the_strategies(module: Path) -> None:
    if module.name in WIRING and module.parent == LAB:
        return
    plugins = {m for m in imported_modules(module) if m.split(".")[0] == "strategies"}
    assert not plugins, f"{module.relative_to(LAB.parent)} imports {sorted(plugins)}"


def test_every_strategy_package_is_an_installed_app() -> None:
    for strategy in STRATEGIES.values():
        assert apps.is_installed(strategy.app), strategy.key


def test_every_push_strategy_registered_its_hook_with_the_core() -> None:
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        registered = push.registered_publishers()
    for strategy in STRATEGIES.values():
        assert registered.get(strategy.key) == strategy.publisher(), strategy.key


def test_publish_only_narrows_the_hooks_to_the_named_strategies() -> None:
    with override_settings(PUSHLAB_PUBLISH_ONLY=("websocket",)):
        assert set(push.registered_publishers()) == {"websocket"}
        assert not push.wakeups_published()
    with override_settings(PUSHLAB_PUBLISH_ONLY=("short-polling",)):
        assert push.registered_publishers() == {}  # pull-only: nothing to push


def recording_relay(calls: list[tuple[str, int]], name: str) -> push.Relay:
    """A relay that notes each message it is given."""

    async def send(message: dict[str, Any]) -> None:
        calls.append((name, message["id"]))

    return push.Relay(send=send)


def test_a_relay_shared_by_several_strategies_runs_once_per_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []
    shared, own = recording_relay(calls, "shared"), recording_relay(calls, "own")
    monkeypatch.setattr(push, "_publishers", {"a": shared, "b": shared, "c": own})
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        push.publish({"id": 7, "room": "r"})
        async_to_sync(push.arelay)({"id": 8, "room": "r"})
    assert sorted(calls) == [("own", 7), ("own", 8), ("shared", 7), ("shared", 8)]
    calls.clear()
    with override_settings(PUSHLAB_PUBLISH_ONLY=("b",)):
        push.publish({"id": 9, "room": "r"})
    assert calls == [("shared", 9)]


def test_long_polling_and_sse_share_the_cores_wakeup_hub() -> None:
    assert STRATEGIES["long-polling"].publisher() is push.WAKE_UPS
    assert STRATEGIES["sse"].publisher() is push.WAKE_UPS
    assert isinstance(STRATEGIES["websocket"].publisher(), push.Relay)  # Channels' layer


def test_an_unknown_key_in_publish_only_stops_the_start() -> None:
    config = apps.get_app_config("strategies")
    unknown = override_settings(PUSHLAB_PUBLISH_ONLY=("websocket", "smoke-signals"))
    with unknown, pytest.raises(ImproperlyConfigured, match="smoke-signals"):
        config.ready()


def test_each_strategys_own_settings_are_read_into_django_settings() -> None:
    from django.conf import settings

    for strategy in STRATEGIES.values():
        for name, default in strategy.settings.items():
            assert name.startswith("PUSHLAB_"), name
            assert isinstance(getattr(settings, name), type(default)), name


def test_the_quick_profile_leaves_out_only_the_strategies_whose_row_says_so() -> None:
    from benchmarks.run.runner import default_strategies

    assert default_strategies("full") == tuple(STRATEGIES)
    quick = default_strategies("quick")
    assert quick == tuple(key for key, s in STRATEGIES.items() if s.in_quick_profile)
    assert "naive-long-polling" not in quick and "sse" in quick


def flaky_relay(refusals: int, pushed: list[tuple[str, int]]) -> push.Relay:
    """A relay whose first ``refusals`` pushes fail as if Redis were away."""
    left = [refusals]

    async def send(message: dict[str, Any]) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise ConnectionError("Redis is away")
        pushed.append((message["room"], message["id"]))

    return push.Relay(send=send)


@pytest.mark.parametrize("form", ["thread", "event loop"])
def test_a_failed_push_is_made_again_with_the_rooms_newest_message(
    monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """Redis refuses twice: nothing is lost, the relay is called again with each room's newest
    unpushed message once Redis takes it (receivers fill the rest from the database)."""
    from lab import broker
    from tests.waiting import wait_until

    pushed: list[tuple[str, int]] = []
    monkeypatch.setattr(push, "_publishers", {"a": flaky_relay(2, pushed)})
    monkeypatch.setattr(broker, "REPUSH_EVERY_S", 0.2)  # both publishes come before it
    publish = push.publish if form == "thread" else async_to_sync(push.arelay)
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        publish({"id": 1, "room": "r"})  # refused, owed
        publish({"id": 2, "room": "r"})  # refused, owed instead of 1
        wait_until(lambda: not broker.unpushed_rooms(), "the owed push was made", 10)
    assert pushed == [("r", 2)]


class GatedRelay:
    """A relay whose pushes wait for ``gate`` (a slow Redis)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered: list[int] = []
        self.pushed: list[int] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.entered.append(message["id"])
        await self.gate.wait()
        self.pushed.append(message["id"])

    def publisher(self) -> push.Relay:
        return push.Relay(send=self.send)


async def test_pushes_from_the_event_loop_keep_the_order_of_their_posts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second message cannot overtake a first whose push is still on its way."""
    relay = GatedRelay()
    monkeypatch.setattr(push, "_publishers", {"a": relay.publisher()})
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        first = asyncio.create_task(push.arelay({"id": 1, "room": "r"}))
        await until(lambda: relay.entered == [1], "the first push waits for Redis")
        second = asyncio.create_task(push.arelay({"id": 2, "room": "r"}))
        for _ in range(3):  # the second's first steps: it would push now if it could
            await asyncio.sleep(0)
        assert relay.entered == [1]
        relay.gate.set()
        await asyncio.gather(first, second)
    assert relay.pushed == [1, 2]


@pytest.mark.django_db(transaction=True)
async def test_a_post_whose_client_leaves_still_pushes_the_stored_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelling the request (the client went away) after the store does not cancel the push."""
    relay = GatedRelay()
    monkeypatch.setattr(push, "_publishers", {"a": relay.publisher()})
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        post = asyncio.create_task(chat.apost(room="left", author="ann", text="still pushed"))
        await until(lambda: relay.entered == [1], "the post is stored and its push under way")
        post.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await post
        relay.gate.set()
        await until(lambda: relay.pushed == [1], "the stored message is pushed")


class RecordingBackend(push.PushBackend):
    """A backend that notes the thread each message is published from."""

    def __init__(self) -> None:
        super().__init__("recording://")
        self.threads: list[str] = []

    def publish(self, message: dict[str, Any]) -> None:
        self.threads.append(threading.current_thread().name)


@pytest.mark.django_db(transaction=True)
async def test_the_servers_post_wakes_from_the_database_thread_and_relays_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wake-up is sent from the database thread, which stored the message and is not the
    loop's (a sync PUBLISH costs least there); a relay is awaited on the event loop."""
    where: dict[str, str] = {}
    loop_thread = threading.current_thread().name

    async def relay(message: dict[str, Any]) -> None:
        where["relay"] = threading.current_thread().name

    backend = RecordingBackend()
    monkeypatch.setattr(push, "backend", lambda: backend)
    monkeypatch.setattr(push, "_publishers", {"a": push.WAKE_UPS, "b": push.Relay(send=relay)})
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        await chat.apost_message(room="where", author="ann", text="pushed twice")
    assert where["relay"] == loop_thread
    assert len(backend.threads) == 1 and backend.threads[0] != loop_thread
