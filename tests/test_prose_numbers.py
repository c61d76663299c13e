"""No hand-typed number (issue 21): every figure the prose states is accounted for.

A figure is a number with a unit (``25 s``, ``170 bytes``, ``49 %``, ``2000 clients``) in
README.md or a docs page, outside code, outside the generated pages and outside markers
whose number a test already checks (``<!-- figure: -->`` from the reference run,
``<!-- predict: -->`` from tests/test_exercises.py, ``<!-- poll-queries -->`` from
tests/test_docs.py, ``<!-- tolerance: -->`` from tests/test_class_demo.py). Every other
figure must be listed in tests/prose_figures.toml, tied to what makes it true, and checked
here:

- ``setting NAME``: the default of that setting in lab/settings.py (or a strategy's own
  ``Strategy.settings``), read from the source, so the environment cannot hide a change;
- ``const module:NAME``: a constant in the code (a tuple holds the figure among its items);
- ``test tests/test_x.py::test_name``: a test that asserts it (it must exist);
- ``choice: why``: a figure the page chooses (a schedule, an example to type), which states
  nothing about the code.

A new figure typed into a page fails here until it is listed, and a listed figure that no
page states any more fails too, so the table stays the pages' own. Pure file reading and
imports of plain modules: the fast tier.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
FIGURES_FILE = Path(__file__).resolve().parent / "prose_figures.toml"

NOT_SCANNED = {
    "docs/decisions.md": "measurement history: every figure is a dated record of a named run",
    "docs/exercises.md": "each exercise is executed by its own test (issue 21, point 1)",
}
"""Pages (and their Russian twins) this test does not read, and why."""

UNITS = {
    "ms": r"ms|мс|milliseconds?|миллисекунд\w*",
    "s": r"s|\u0441|seconds?|секунд\w*|сек",  # \u0441: the Cyrillic es
    "minutes": r"minutes?|минут\w*|min",
    "hours": r"hours?|час\w*",
    "%": r"%",
    "KB": r"KB|КБ|KiB|КиБ",
    "MB": r"MB|МБ|MiB|МиБ",
    "bytes": r"bytes?|байт\w*|B",
    "clients": r"clients?|клиент\w*",
    "users": r"users?|пользовател\w*",
    "requests": r"requests?|held requests|запрос\w*|удерживаемых запросов",
    "queries": r"quer(?:y|ies)",
    "messages": r"messages?|сообщени\w*",
    "connections": r"connections?|соединени\w*",
    "commands": r"commands?|команд\w*",
    "processes": r"processes|process|процесс\w*",
    "cores": r"cores?|ядр\w*",
    "lines": r"lines?|строк\w*",
    "polls": r"polls?|опрос\w*",
    "rooms": r"rooms?|комнат\w*",
    "steps": r"steps?|ступен\w*",
    "threads": r"threads?|поток\w*",
    "frames": r"frames?|кадр\w*",
    "deliveries": r"deliveries|delivery|доставк\w*",
    "members": r"members?|участник\w*",
    "times": r"times|\u00d7|x|раз|раза",  # \u00d7: the multiplication sign
    "per minute": r"per minute|в минуту",
    "per second": r"per second|в секунду",
    "senders": r"senders?|отправител\w*",
    "characters": r"characters?|символ\w*",
}
"""Canonical unit → how English and Russian pages write it."""

NUMBER = r"(?<![\w.,/#:-])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+(?:[.,]\d+)?)"
FIGURE = re.compile(
    NUMBER
    + r"(?:-|[ \t\u00a0\u202f]*\n?[ \t]*)(?:"
    + "|".join(f"(?P<u{i}>{forms})" for i, forms in enumerate(UNITS.values()))
    + r")(?![\w])"
)
CHECKED_MARKERS = re.compile(
    r"<!-- (figure|predict|poll-queries|tolerance)\b[^>]*-->.*?<!-- /\1 -->", flags=re.DOTALL
)


def prose(markdown: str) -> str:
    """What a reader reads as text: fenced and inline code, markers a test checks (with
    their numbers), other HTML comments, link targets and snippet includes left out."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.DOTALL | re.MULTILINE)
    text = CHECKED_MARKERS.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "CODE", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"^\s*--8<--.*$", "", text, flags=re.MULTILINE)


def figures(markdown: str) -> Iterator[str]:
    """Each figure as ``"25 s"``: the number as an English page writes it (no thousands
    separator, a decimal point) and its canonical unit."""
    units = list(UNITS)
    for match in FIGURE.finditer(prose(markdown)):
        number = re.sub(r"[ \u00a0\u202f]", "", match.group(1)).replace(",", ".")
        unit = next(units[i] for i in range(len(units)) if match.group(f"u{i}"))
        yield f"{number} {unit}"


def page_key(page: Path) -> str:
    """A page and its Russian twin share one key: ``docs/ru/charts.md`` → ``docs/charts.md``."""
    relative = page.relative_to(REPO).as_posix()
    return relative.replace("docs/ru/", "docs/", 1)


def scanned_pages() -> list[Path]:
    pages = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [
        page
        for page in pages
        if "_generated" not in page.parts and page_key(page) not in NOT_SCANNED
    ]


# --- what a source says the figure is -------------------------------------------------------

SECONDS_PER = {"ms": 0.001, "s": 1.0, "minutes": 60.0, "hours": 3600.0}
"""A figure of time, in seconds, to compare with a constant whose name says its unit."""


def in_figure_unit(value: float, name: str, unit: str) -> float:
    """``value`` of the constant or setting ``name`` in the figure's unit: a name ending in
    ``_MS`` or ``_S`` holds milliseconds or seconds, converted to the figure's time unit."""
    held = "ms" if name.upper().endswith("_MS") else "s" if name.upper().endswith("_S") else None
    if held is None or unit not in SECONDS_PER:
        return value
    return value * SECONDS_PER[held] / SECONDS_PER[unit]


def arithmetic(node: ast.expr, names: dict[str, Any]) -> Any:
    """A constant expression from the source: numbers, strings, tuples, names already
    known, ``+ - * /`` (``28 * 60.0``, ``"10000,10,100"``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(arithmetic(item, names) for item in node.elts)
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        converters = {"float": float, "int": int, "str": str}
        return converters[node.func.id](arithmetic(node.args[0], names))
    if isinstance(node, ast.BinOp):
        left, right = arithmetic(node.left, names), arithmetic(node.right, names)
        operations = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
        return operations[type(node.op)] if type(node.op) in operations else left / right
    raise ValueError(f"not a constant expression: {ast.unparse(node)}")


def setting_defaults() -> dict[str, Any]:
    """Every ``PUSHLAB_*`` setting's default: lab/settings.py's ``env*("NAME", default)``
    calls, read from the source, and each strategy's own ``Strategy.settings``."""
    from strategies import STRATEGIES

    tree = ast.parse((REPO / "lab" / "settings.py").read_text(encoding="utf-8"))
    defaults: dict[str, Any] = {}
    for call in ast.walk(tree):  # in order: a default may name a setting read before it
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id.startswith("env")
            and len(call.args) == 2
            and isinstance(call.args[0], ast.Constant)
        ):
            defaults[call.args[0].value] = arithmetic(call.args[1], defaults)
    for either in ast.walk(tree):  # env("NAME", "") or OTHER: the default is OTHER's value
        if (
            isinstance(either, ast.BoolOp)
            and isinstance(either.op, ast.Or)
            and isinstance(call := either.values[0], ast.Call)
            and isinstance(call.args[0], ast.Constant)
            and isinstance(fallback := either.values[-1], ast.Name)
        ):
            defaults[call.args[0].value] = fallback.id
    for strategy in STRATEGIES.values():
        defaults.update(strategy.settings)
    return defaults


def module_constant(module: str, path: str) -> Any:
    """``NAME`` or ``NAME.attr.key`` of a module: a plain ``NAME = <constant expression>`` is
    read from the source; a longer path imports the module (plain ones only)."""
    name, *rest = path.split(".")
    if not rest:
        source = REPO.joinpath(*module.split(".")).with_suffix(".py")
        names: dict[str, Any] = {}
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    value = node.value
                    assert value is not None
                    try:
                        names[target.id] = arithmetic(value, names)
                    except (ValueError, KeyError, TypeError):
                        continue
        return names[name]
    value: Any = getattr(importlib.import_module(module), name)
    for part in rest:
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def js_constant(path: str, name: str) -> float:
    """``const NAME = <number>;`` in a browser script."""
    found = re.search(rf"\bconst {name} = ([\d_.]+);", (REPO / path).read_text(encoding="utf-8"))
    assert found, f"{path} has no const {name}"
    return float(found.group(1).replace("_", ""))


def has_test_function(reference: str) -> bool:
    path, _, name = reference.partition("::")
    if not (REPO / path).is_file():
        return False
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def matches(figure: str, value: Any, name: str) -> bool:
    """Whether a constant's ``value`` (a number, or a tuple holding it) is the figure."""
    number, unit = figure.split(" ", 1)
    values = value if isinstance(value, tuple) else (value,)
    return any(
        not isinstance(item, str | bool)
        and in_figure_unit(float(item), name, unit) == pytest.approx(float(number))
        for item in values
    )


def source_problem(figure: str, source: str, defaults: dict[str, Any]) -> str | None:
    """None when ``source`` still makes ``figure`` true, else what is wrong."""
    kind, _, what = source.partition(" ")
    if kind == "setting":
        names = re.findall(r"PUSHLAB_\w+", what)
        if any(name not in defaults for name in names):
            return f"no such setting in {what}"
        value = arithmetic(ast.parse(what, mode="eval").body, defaults)
        return None if matches(figure, value, names[0]) else f"{what} is {value}"
    if kind == "const":
        module, _, path = what.partition(":")
        value = module_constant(module, path)
        return None if matches(figure, value, path.split(".")[-1]) else f"{what} is {value!r}"
    if kind == "js":
        path, _, name = what.partition(":")
        value = js_constant(path, name)
        return None if matches(figure, value, name) else f"{what} is {value}"
    if kind == "test":
        return None if has_test_function(what) else f"there is no test {what}"
    if kind == "choice:":
        return None if what.strip() else "a choice says why it is one"
    return f"unknown kind of source {source!r}"


# --- the table and the pages ----------------------------------------------------------------


def load_figures() -> dict[str, dict[str, str]]:
    """Page key → figure → where it comes from (tests/prose_figures.toml)."""
    return tomllib.loads(FIGURES_FILE.read_text(encoding="utf-8"))


def stated() -> dict[str, set[str]]:
    """Page key → the figures it (or its Russian twin) states."""
    found: dict[str, set[str]] = {}
    for page in scanned_pages():
        found.setdefault(page_key(page), set()).update(figures(page.read_text(encoding="utf-8")))
    return found


def test_every_figure_in_the_prose_is_accounted_for() -> None:
    table = load_figures()
    unlisted = {
        f"{key}: {figure}"
        for key, found in stated().items()
        for figure in found
        if figure not in table.get(key, {})
    }
    assert sorted(unlisted) == [], (
        "these figures are typed by hand: take them from the reference run "
        "(<!-- figure: PATH -->), or list them in tests/prose_figures.toml with the constant, "
        "setting or test that makes them true"
    )


def test_every_listed_figure_is_still_stated() -> None:
    found = stated()
    orphans = [
        f"{key}: {figure}"
        for key, listed in load_figures().items()
        for figure in listed
        if figure not in found.get(key, set())
    ]
    assert orphans == [], "no page states these any more: drop them from the table"


def test_every_listed_figure_is_what_its_source_says() -> None:
    defaults = setting_defaults()
    problems = [
        f"{key}: {figure} ({source}): {problem}"
        for key, listed in load_figures().items()
        for figure, sources in listed.items()
        for source in (sources if isinstance(sources, list) else [sources])
        if (problem := source_problem(figure, source, defaults)) is not None
    ]
    assert problems == []


def test_a_new_figure_or_a_changed_constant_fails() -> None:
    """The checks above catch what they exist for: an unlisted figure, and a source that no
    longer gives the figure."""
    assert list(
        figures("held for 25 s, then `60 s` in code, <!-- figure: x -->3.3<!-- /figure --> ms")
    ) == ["25 s"]
    assert list(figures("до 2 000 клиентов, кадр в 4 байта и 2,4 в минуту")) == [
        "2000 clients",
        "4 bytes",
        "2.4 per minute",
    ]
    defaults = setting_defaults()
    assert source_problem("25 s", "setting PUSHLAB_LONG_POLL_TIMEOUT_S", defaults) is None
    assert source_problem("26 s", "setting PUSHLAB_LONG_POLL_TIMEOUT_S", defaults)
    assert source_problem("1 s", "setting PUSHLAB_POLL_INTERVAL_MS", defaults) is None
    assert (
        source_problem("28 minutes", "const benchmarks.run.capacity:CAPACITY_BUDGET_S", {}) is None
    )
    assert source_problem("5 s", "test tests/test_none.py::test_nothing", {})


# --- figures the pages state that only a test can make true ----------------------------------


def test_a_websocket_frames_header_is_2_bytes_then_4() -> None:
    """What the charts and WebSocket pages say a frame adds to its message (RFC 6455: the
    server's frames are not masked): 2 bytes below 126 bytes of payload, 4 below 64 KiB."""
    from websockets.frames import Frame, Opcode

    def header(payload_bytes: int) -> int:
        frame = Frame(Opcode.TEXT, b"x" * payload_bytes).serialize(mask=False)
        return len(frame) - payload_bytes

    assert [header(125), header(126), header(64 * 1024 - 1), header(64 * 1024)] == [2, 4, 4, 10]


def test_room_names_and_group_names_are_bounded_at_100_characters() -> None:
    """The lecture page: a room name is 1-100 characters, and a channel-layer group name must
    stay under Channels' limit of 100, so the group is named by the room's hash."""
    from channels.layers import BaseChannelLayer

    from lab.chat import RoomNotFound, validate_room_name
    from strategies.websocket.consumers import group_name

    assert validate_room_name("r" * 100) == "r" * 100
    with pytest.raises(RoomNotFound):
        validate_room_name("r" * 101)
    assert BaseChannelLayer.MAX_NAME_LENGTH == 100
    assert len(group_name("r" * 100)) < 100


# --- the settings tables -------------------------------------------------------------------

SETTING_ROW = re.compile(r"^\| ((?:`PUSHLAB_\w+`(?:, )?)+)[^|]*\| ([^|]+) \|", re.MULTILINE)
NOT_READ_BY_ENV = {"PUSHLAB_VAR_DIR": "a path, read before the settings' env() exists"}


def stated_defaults(cell: str) -> list[str]:
    """A table's default cell as values: its code spans (```10`, `2``), else the number
    leading each comma-separated part (``20 s, 30 s``; ``10 messages at once, 2 per second``);
    empty for a default in words (``empty (all)``)."""
    if cell.lstrip().startswith("`"):
        return re.findall(r"`([^`]*)`", cell)
    return [part.replace(" ", "") for part in re.findall(r"(?:^|, )(\d[\d ]*(?:[.,]\d+)?)", cell)]


def same_default(shown: str, default: Any) -> bool:
    if isinstance(default, bool):
        default = int(default)
    try:
        return float(shown.replace(",", ".")) == float(default)
    except (TypeError, ValueError):
        return shown == str(default)


def settings_rows() -> Iterator[tuple[str, list[str], list[str]]]:
    """Each row of a settings table in README.md and the docs: page, names, stated defaults."""
    for page in [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for names, cell in SETTING_ROW.findall(page.read_text(encoding="utf-8")):
            shown = stated_defaults(cell)
            if shown:
                yield page.relative_to(REPO).as_posix(), re.findall(r"PUSHLAB_\w+", names), shown


def test_the_settings_tables_state_the_codes_defaults() -> None:
    """README's settings table (and every other one) says what lab/settings.py defaults to."""
    defaults = setting_defaults()
    rows = list(settings_rows())
    assert any(page == "README.md" for page, _, _ in rows), "README has a settings table"
    wrong = []
    for page, names, shown in rows:
        if len(names) != len(shown):
            wrong.append(f"{page}: {names} but defaults {shown}")
            continue
        for name, value in zip(names, shown, strict=True):
            if name in NOT_READ_BY_ENV:
                continue
            default = defaults[name] if name in defaults else module_constant("lab.settings", name)
            if not same_default(value, default):
                wrong.append(f"{page}: {name} is {default!r} in the code, {value!r} on the page")
    assert wrong == []


# --- how many techniques -------------------------------------------------------------------

NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "два": 2, "две": 2, "три": 3, "трёх": 3, "четыре": 4, "четырёх": 4, "пять": 5, "пяти": 5,
    "шесть": 6, "шести": 6,
}  # fmt: skip
COUNTED = re.compile(
    r"\b(\w+) (techniques|strategies|ways|transports|panels|meters|способ\w*|панел\w*)\b",
    re.IGNORECASE,
)
NOT_A_COUNT_OF_TECHNIQUES = (
    "three answers",  # the lecture's own three, which pushlab builds first
    "three ways to deliver",
    "три способа доставить",
    "all three ways",
    "two panels on one scale",  # a chart's two panels
    "две панели в одном масштабе",
)
"""Phrases that count something else than the registry's techniques."""


def counted_texts() -> Iterator[tuple[str, str]]:
    """Where a count of techniques could be written: the pages, pyproject.toml's description,
    the notebooks' markdown and ``pushlab --help``."""
    import json

    from lab.cli import description

    for page in scanned_pages():
        yield page_key(page), prose(page.read_text(encoding="utf-8"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    yield "pyproject.toml", project["description"]
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        yield (
            notebook.name,
            "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"),
        )
    yield "pushlab --help", description()


def test_a_count_of_techniques_is_the_registrys() -> None:
    """ "Five techniques", "three panels": a count of the techniques is the registry's count,
    so a technique added to the registry cannot leave a page saying the old number
    (``NOT_A_COUNT_OF_TECHNIQUES`` lists what else is counted)."""
    from strategies import STRATEGIES

    wrong = [
        f"{where}: {match.group(0)!r}"
        for where, text in counted_texts()
        for match in COUNTED.finditer(text)
        if NUMBER_WORDS.get(match.group(1).lower(), len(STRATEGIES)) != len(STRATEGIES)
        and not any(
            phrase in text[max(0, match.start() - 12) : match.start() + 40].lower()
            for phrase in NOT_A_COUNT_OF_TECHNIQUES
        )
    ]
    assert wrong == []


def test_pushlab_help_names_every_technique_of_the_registry() -> None:
    from lab.cli import description
    from strategies import STRATEGIES

    assert all(strategy.title in description() for strategy in STRATEGIES.values())
