"""The core and its plug-ins: ``lab`` never imports ``strategies`` (outside the wiring), the
registry hands each strategy's publish hook to ``lab.chat``, and ``PUSHLAB_PUBLISH_ONLY``
chooses which hooks run."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from lab import chat
from lab.wakeups import publish_wakeup
from strategies import STRATEGIES

LAB = Path(__file__).resolve().parent.parent / "lab"
WIRING = {"settings.py", "urls.py", "asgi.py", "views.py"}
"""The modules that may read the registry table: they wire the strategies into the site."""


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
        registered = chat.registered_publishers()
    for strategy in STRATEGIES.values():
        assert registered.get(strategy.key) == strategy.publisher(), strategy.key


def test_publish_only_narrows_the_hooks_to_the_named_strategies() -> None:
    with override_settings(PUSHLAB_PUBLISH_ONLY=("websocket",)):
        assert set(chat.registered_publishers()) == {"websocket"}
    with override_settings(PUSHLAB_PUBLISH_ONLY=("short-polling",)):
        assert chat.registered_publishers() == {}  # pull-only: nothing to push


def test_a_hook_shared_by_several_strategies_runs_once_per_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []

    def shared(message: dict[str, Any]) -> None:
        calls.append(("shared", message["id"]))

    def own(message: dict[str, Any]) -> None:
        calls.append(("own", message["id"]))

    monkeypatch.setattr(chat, "_publishers", {"a": shared, "b": shared, "c": own})
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        chat.publish({"id": 7, "room": "r"})
    assert sorted(calls) == [("own", 7), ("shared", 7)]
    calls.clear()
    with override_settings(PUSHLAB_PUBLISH_ONLY=("b",)):
        chat.publish({"id": 8, "room": "r"})
    assert calls == [("shared", 8)]


def test_long_polling_uses_the_cores_wakeup_hub() -> None:
    assert STRATEGIES["long-polling"].publisher() is publish_wakeup


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


def test_a_failed_push_is_made_again_with_the_rooms_newest_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis refuses twice: nothing is lost, the hook is called again with each room's newest
    unpushed message once Redis takes it (receivers fill the rest from the database)."""
    from lab import broker
    from tests.waiting import wait_until

    refusals = [2]
    pushed: list[tuple[str, int]] = []

    def flaky(message: dict[str, Any]) -> None:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise ConnectionError("Redis is away")
        pushed.append((message["room"], message["id"]))

    monkeypatch.setattr(chat, "_publishers", {"a": flaky})
    monkeypatch.setattr(broker, "REPUSH_EVERY_S", 0.2)  # both publishes come before it
    with override_settings(PUSHLAB_PUBLISH_ONLY=()):
        chat.publish({"id": 1, "room": "r"})  # refused, owed
        chat.publish({"id": 2, "room": "r"})  # refused, owed instead of 1
        wait_until(lambda: not broker.unpushed_rooms(), "the owed push was made", 10)
    assert pushed == [("r", 2)]
