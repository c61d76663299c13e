"""What the docs take from the committed reference run (``results/reference/``).

``python -m benchmarks.reference_docs`` rewrites ``docs/_generated/*.md`` (the numbers
tables and the answers the home page gives) from ``results/reference/summary.json``;
``--check`` only reports drift, and tests/test_docs.py runs it. MkDocs also loads this file
as a hook: it serves the reference run's charts at ``reference/charts/`` and replaces each
``<!-- chart: NAME.png -->`` marker in a page with that chart (or a note while it is absent).
"""

# The Russian phrases are Cyrillic on purpose, and the tables use the multiplication sign.
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO / "results" / "reference"
GENERATED_DIR = REPO / "docs" / "_generated"
CHART_MARKER = re.compile(r"<!-- chart: ([a-z0-9_]+\.png) -->")
"""A chart marker on a page; lower-case names only, so prose can mention ``NAME.png``."""

Summary = dict[str, Any]
"""A parsed summary.json (see the results schema in docs/metrics.md)."""
StrategyResult = dict[str, Any]


@dataclass(frozen=True)
class Language:
    """Every phrase the generated pages use, so English and Russian pages share one renderer."""

    suffix: str
    """File name suffix before ``.md``: ``""`` for English, ``".ru"`` for Russian."""
    not_yet: str
    answers_not_yet: str
    columns: tuple[str, ...]
    """Headers of ``TABLE_COLUMNS``, in order."""
    strategy: str
    failed: str
    measure: str
    this_strategy: str
    best: str
    fewest: str
    fastest: str
    growth: str
    sweep: str
    measured: str
    idle: str
    costs_intro: str
    not_measured: str
    strategy_failed: str
    provenance: str
    units: dict[str, str]
    """Unit names of ``TABLE_COLUMNS`` (``ms``, ``B``) as this language writes them."""


ENGLISH = Language(
    suffix="",
    not_yet=(
        '!!! note "No reference run is committed yet"\n'
        "    The numbers appear here once `results/reference/` holds a run. Until then run\n"
        "    `make bench` and read your own in `results/latest/report.md`.\n"
    ),
    answers_not_yet=(
        "The answers, with the reference run's numbers, appear here once `results/reference/` "
        "holds a run. "
        "Your own `make bench` answers them in its table and charts; the reasons below hold "
        "either way.\n"
    ),
    columns=(
        "requests per delivery",
        "requests per client per min",
        "latency p50",
        "latency p95",
        "latency p99",
        "bytes per delivery",
        "server CPU per delivery",
        "Redis commands per delivery",
    ),
    strategy="strategy",
    failed="**failed**: {why}",
    measure="measure",
    this_strategy="this strategy",
    best="best of all",
    fewest=(
        "1. **Fewest requests per message: {title}**, {value} HTTP requests per delivered "
        "message (the others: {others})."
    ),
    fastest=(
        "2. **Lowest delivery latency: {title}**, median {p50} and p95 {p95} from send to "
        "receipt (medians of the others: {others})."
    ),
    growth=(
        "3. **Short polling's cost grows with clients even when nobody writes**, because "
        "every client asks every {interval} ms whether or not a message exists: {per_client} "
        "requests per client per minute, so N clients cost N × {per_client} requests per "
        "minute on a silent room."
    ),
    sweep=(
        " In the sweep, {first_clients} short-polling clients made {first_total} requests "
        "per minute and {last_clients} clients made {last_total}."
    ),
    measured=(
        " Measured in the busy chat scenario: {rate} requests per client per minute — the "
        "timer's share plus the senders' own POSTs."
    ),
    idle=(
        " In the idle scenario (about one message per room a minute) short polling cost "
        "{rate} requests per client per minute; long polling {long_rate}, WebSocket {ws_rate}."
    ),
    costs_intro=(
        "From the reference run `{run_id}` ({clients} clients, {sent} messages sent, "
        "{deliveries} deliveries):\n"
    ),
    not_measured="The reference run `{run_id}` did not measure `{key}`.\n",
    strategy_failed="In the reference run `{key}` **failed**: {why}\n",
    provenance=(
        "Reference run `{run_id}` ({created_at}, git `{sha}`): profile `{profile}`, {clients} "
        "clients per strategy for {duration} s, rooms of {room_size}, each client writing about "
        "every {send_interval} s, short-polling interval {interval} ms, server `{server}`; "
        "{cpus} CPUs, Python {python}, Django {django}, Channels {channels}, Locust {locust}.\n"
    ),
    units={"ms": " ms", "B": " B", "": ""},
)

RUSSIAN = Language(
    suffix=".ru",
    not_yet=(
        '!!! note "Эталонный прогон ещё не добавлен в репозиторий"\n'
        "    Числа появятся здесь, когда в `results/reference/` будет прогон. А пока запустите\n"
        "    `make bench` и смотрите свои числа в `results/latest/report.md`.\n"
    ),
    answers_not_yet=(
        "Ответы с числами эталонного прогона появятся здесь, когда в `results/reference/` "
        "будет прогон. "
        "Ваш `make bench` отвечает на эти вопросы своей таблицей и графиками; объяснения ниже "
        "верны в любом случае.\n"
    ),
    columns=(
        "запросов на доставку",
        "запросов на клиента в минуту",
        "задержка p50",
        "задержка p95",
        "задержка p99",
        "байт на доставку",
        "CPU сервера на доставку",
        "команд Redis на доставку",
    ),
    strategy="способ",
    failed="**провал**: {why}",
    measure="величина",
    this_strategy="этот способ",
    best="лучший из всех",
    fewest=(
        "1. **Меньше всего запросов на сообщение: {title}** — {value} HTTP-запросов на "
        "доставленное сообщение (у остальных: {others})."
    ),
    fastest=(
        "2. **Самая низкая задержка доставки: {title}** — медиана {p50}, p95 {p95} от отправки "
        "до получения (медианы остальных: {others})."
    ),
    growth=(
        "3. **Стоимость короткого опроса растёт с числом клиентов, даже когда никто не "
        "пишет**: каждый клиент спрашивает раз в {interval} мс, есть сообщения или нет, — "
        "{per_client} запросов на клиента в минуту, и N клиентов стоят N × {per_client} "
        "запросов в минуту в пустой комнате."
    ),
    sweep=(
        " В серии прогонов {first_clients} клиентов короткого опроса сделали {first_total} "
        "запросов в минуту, а {last_clients} клиентов — {last_total}."
    ),
    measured=(
        " В оживлённом сценарии чата измерено {rate} запросов на клиента в минуту: доля таймера "
        "плюс собственные POST-запросы отправителей."
    ),
    idle=(
        " В сценарии тишины (примерно одно сообщение на комнату в минуту) короткий опрос "
        "стоил {rate} запросов на клиента в минуту, длинный опрос — {long_rate}, "
        "веб-сокеты — {ws_rate}."
    ),
    costs_intro=(
        "Из эталонного прогона `{run_id}` ({clients} клиентов, отправлено {sent} сообщений, "
        "{deliveries} доставок):\n"
    ),
    not_measured="Эталонный прогон `{run_id}` не измерял `{key}`.\n",
    strategy_failed="В эталонном прогоне `{key}` **провалился**: {why}\n",
    provenance=(
        "Эталонный прогон `{run_id}` ({created_at}, git `{sha}`): профиль `{profile}`, "
        "{clients} клиентов на способ в течение {duration} с, комнаты по {room_size}, каждый "
        "клиент пишет примерно раз в {send_interval} с, интервал короткого опроса {interval} мс, "
        "сервер `{server}`; {cpus} CPU, Python {python}, Django {django}, Channels {channels}, "
        "Locust {locust}.\n"
    ),
    units={"ms": " мс", "B": " байт", "": ""},
)

LANGUAGES = (ENGLISH, RUSSIAN)


def load_summary(run_dir: Path) -> Summary | None:
    """The run's summary.json, or None when the directory holds no run."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    summary: Summary = json.loads(path.read_text(encoding="utf-8"))
    return summary


def number(value: float | None, unit: str = "") -> str:
    """A number as a reader wants it in a table: 0, 0.018, 0.56, 61.2, 1090; ``—`` for null.

    No thousands separator: a comma would read as a decimal point on the Russian pages.
    """
    if value is None:
        return "—"
    magnitude = abs(value)
    if value == 0:
        text = "0"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.2g}"
    return text + unit


def strategy_titles() -> dict[str, str]:
    """Registry key → title, in registry order (the docs' order everywhere)."""
    from strategies import STRATEGIES

    return {key: strategy.title for key, strategy in STRATEGIES.items()}


def valid_results(summary: Summary) -> dict[str, StrategyResult]:
    """The main scenario's strategies that ran cleanly: only these may be compared."""
    results: dict[str, StrategyResult] = summary.get("strategies", {})
    return {key: result for key, result in results.items() if result.get("status") == "ok"}


def provenance(summary: Summary, lang: Language) -> str:
    config = summary.get("config", {})
    machine = summary.get("machine", {})
    versions = summary.get("versions", {})
    return lang.provenance.format(
        run_id=summary.get("run_id"),
        created_at=summary.get("created_at", "?"),
        sha=str(summary.get("git_sha", "unknown"))[:10],
        profile=config.get("profile"),
        clients=config.get("clients"),
        duration=f"{config.get('duration_s', 0):g}",
        room_size=config.get("room_size"),
        send_interval=f"{config.get('send_interval_s', 0):g}",
        interval=config.get("poll_interval_ms"),
        server=config.get("server"),
        cpus=machine.get("cpus"),
        python=machine.get("python"),
        django=versions.get("django"),
        channels=versions.get("channels"),
        locust=versions.get("locust"),
    )


TABLE_COLUMNS: list[tuple[str, str]] = [
    # (key in StrategyResult or "delivery_ms.<percentile>", unit); headers: Language.columns
    ("requests_per_delivery", ""),
    ("http_requests_per_client_per_min", ""),
    ("delivery_ms.p50", "ms"),
    ("delivery_ms.p95", "ms"),
    ("delivery_ms.p99", "ms"),
    ("bytes_per_delivery", "B"),
    ("server_cpu_ms_per_delivery", "ms"),
    ("redis_commands_per_delivery", ""),
]


def field(result: StrategyResult, name: str) -> float | None:
    """A number of a result by name; ``delivery_ms.p50`` reaches into the latency block."""
    if name.startswith("delivery_ms."):
        value: float | None = (result.get("delivery_ms") or {}).get(name.split(".", 1)[1])
        return value
    got: float | None = result.get(name)
    return got


def comparison_table(summary: Summary, titles: dict[str, str], lang: Language) -> str:
    """One row per strategy of the main scenario; failed ones say why instead of numbers."""
    results: dict[str, StrategyResult] = summary.get("strategies", {})
    header = f"| {lang.strategy} | " + " | ".join(lang.columns) + " |\n"
    rule = "|---" * (len(TABLE_COLUMNS) + 1) + "|\n"
    rows = []
    for key in [*(k for k in titles if k in results), *(k for k in results if k not in titles)]:
        result = results[key]
        if result.get("status") != "ok":
            why = result.get("failure") or "report.md"
            cells = [lang.failed.format(why=why)] + [""] * (len(TABLE_COLUMNS) - 1)
        else:
            cells = [number(field(result, name), lang.units[unit]) for name, unit in TABLE_COLUMNS]
        rows.append(f"| {titles.get(key, key)} | " + " | ".join(cells) + " |\n")
    return header + rule + "".join(rows)


def reference_run_page(summary: Summary | None, titles: dict[str, str], lang: Language) -> str:
    if summary is None:
        return lang.not_yet
    return provenance(summary, lang) + "\n" + comparison_table(summary, titles, lang)


def cheapest(results: dict[str, StrategyResult], name: str) -> list[str]:
    """The keys sharing the smallest non-null value of ``name`` (empty if none has one)."""
    values = {key: value for key, r in results.items() if (value := field(r, name)) is not None}
    if not values:
        return []
    least = min(values.values())
    return [key for key, value in values.items() if value == least]


def names(keys: list[str], titles: dict[str, str]) -> str:
    return ", ".join(titles.get(key, key) for key in keys)


def others(
    results: dict[str, StrategyResult],
    titles: dict[str, str],
    best: list[str],
    name: str,
    unit: str,
) -> str:
    """The other strategies' values of ``name``, for the answer sentences."""
    return (
        "; ".join(
            f"{titles.get(key, key)} {number(field(result, name), unit)}"
            for key, result in results.items()
            if key not in best
        )
        or "—"
    )


def answers_page(summary: Summary | None, titles: dict[str, str], lang: Language) -> str:
    """The three questions the lab exists to answer, in so many words, from the run's numbers."""
    if summary is None:
        return lang.answers_not_yet
    results = valid_results(summary)
    lines: list[str] = []
    fewest = cheapest(results, "requests_per_delivery")
    if fewest:
        lines.append(
            lang.fewest.format(
                title=names(fewest, titles),
                value=number(field(results[fewest[0]], "requests_per_delivery")),
                others=others(results, titles, fewest, "requests_per_delivery", ""),
            )
        )
    fastest = cheapest(results, "delivery_ms.p50")
    if fastest:
        lines.append(
            lang.fastest.format(
                title=names(fastest, titles),
                p50=number(field(results[fastest[0]], "delivery_ms.p50"), lang.units["ms"]),
                p95=number(field(results[fastest[0]], "delivery_ms.p95"), lang.units["ms"]),
                others=others(results, titles, fastest, "delivery_ms.p50", lang.units["ms"]),
            )
        )
    lines.append(short_polling_growth(summary, lang))
    return "\n".join(lines) + "\n"


def requests_per_minute(result: StrategyResult) -> float:
    """All clients' requests per minute: the server's load from this strategy."""
    return float(result["http_requests_per_client_per_min"]) * float(result["clients"])


def short_polling_growth(summary: Summary, lang: Language) -> str:
    """Why short polling's cost grows with clients even when nobody writes, in numbers."""
    from strategies import STRATEGIES

    interval = summary.get("config", {}).get("poll_interval_ms") or 1000
    idle_rate = STRATEGIES["short-polling"].predictions({"poll_interval_ms": interval}, {})[0]
    per_client = f"{idle_rate.value:g}"  # the strategy's own arithmetic: one poll per interval
    text = lang.growth.format(interval=interval, per_client=per_client)
    points = [
        r for r in summary.get("sweep", {}).get("short-polling", []) if r.get("status") == "ok"
    ]
    if len(points) >= 2:
        text += lang.sweep.format(
            first_clients=points[0]["clients"],
            first_total=number(requests_per_minute(points[0])),
            last_clients=points[-1]["clients"],
            last_total=number(requests_per_minute(points[-1])),
        )
    idle = summary.get("scenarios", {}).get("idle", {})
    if all(idle.get(key, {}).get("status") == "ok" for key in KEYS_COMPARED_WHEN_IDLE):
        rates = [
            number(idle[key]["http_requests_per_client_per_min"]) for key in KEYS_COMPARED_WHEN_IDLE
        ]
        text += lang.idle.format(rate=rates[0], long_rate=rates[1], ws_rate=rates[2])
    measured = summary.get("strategies", {}).get("short-polling", {})
    if measured.get("status") == "ok":
        text += lang.measured.format(rate=number(measured["http_requests_per_client_per_min"]))
    return text


KEYS_COMPARED_WHEN_IDLE = ("short-polling", "long-polling", "websocket")
"""The idle-scenario sentence names these three, in this order (Language.idle)."""


def costs_page(summary: Summary | None, key: str, titles: dict[str, str], lang: Language) -> str:
    """One strategy's numbers, each beside the best of all, for its own page."""
    if summary is None:
        return lang.not_yet
    result = summary.get("strategies", {}).get(key)
    if result is None:
        return lang.not_measured.format(run_id=summary.get("run_id"), key=key)
    if result.get("status") != "ok":
        return lang.strategy_failed.format(key=key, why=result.get("failure"))
    results = valid_results(summary)
    lines = [
        lang.costs_intro.format(
            run_id=summary.get("run_id"),
            clients=result.get("clients"),
            sent=result.get("messages_sent"),
            deliveries=result.get("deliveries"),
        ),
        f"| {lang.measure} | {lang.this_strategy} | {lang.best} |",
        "|---|---|---|",
    ]
    for header, (name, unit) in zip(lang.columns, TABLE_COLUMNS, strict=True):
        best = cheapest(results, name)
        best_text = "—"
        if best:
            best_value = number(field(results[best[0]], name), lang.units[unit])
            best_text = f"{best_value} ({names(best, titles)})"
        value = number(field(result, name), lang.units[unit])
        lines.append(f"| {header} | {value} | {best_text} |")
    return "\n".join(lines) + "\n"


def render_pages(summary: Summary | None) -> dict[str, str]:
    """File name → Markdown for docs/_generated/, for a run's summary (None: no run yet)."""
    titles = strategy_titles()
    pages: dict[str, str] = {}
    for lang in LANGUAGES:
        pages[f"reference-run{lang.suffix}.md"] = reference_run_page(summary, titles, lang)
        pages[f"answers{lang.suffix}.md"] = answers_page(summary, titles, lang)
        for key in titles:
            pages[f"costs-{key}{lang.suffix}.md"] = costs_page(summary, key, titles, lang)
    return pages


def stale_files(pages: dict[str, str], out_dir: Path) -> list[str]:
    """Names whose committed text differs from ``pages`` or that no longer belong."""
    present = {path.name for path in out_dir.glob("*.md")} if out_dir.is_dir() else set()
    changed = [
        name
        for name, text in pages.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]
    return sorted(set(changed) | (present - set(pages)))


def write_pages(pages: dict[str, str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in out_dir.glob("*.md"):
        if path.name not in pages:
            path.unlink()
    for name, text in pages.items():
        (out_dir / name).write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reference_docs",
        description="Rewrite the docs' numbers (docs/_generated/) from a saved run.",
    )
    parser.add_argument("--results", type=Path, default=REFERENCE_DIR, help="a run directory")
    parser.add_argument("--out", type=Path, default=GENERATED_DIR, help="where the pages go")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the pages are stale"
    )
    args = parser.parse_args(argv)
    pages = render_pages(load_summary(args.results))
    stale = stale_files(pages, args.out)
    if args.check:
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    write_pages(pages, args.out)
    print(f"wrote {len(pages)} pages to {args.out} ({len(stale)} changed)")
    return 0


# --- MkDocs hook (mkdocs.yml: hooks) ---------------------------------------------------------


def chart_questions() -> dict[str, str] | None:
    """Chart file name → the question it answers, from ``benchmarks.report.CHARTS``.

    None while the report module is absent (this branch of history may predate it).
    """
    try:
        from benchmarks.report import CHARTS
    except ImportError:
        return None
    return {chart.file_name: chart.question for chart in CHARTS}


def chart_markdown(
    name: str, page_src_uri: str, charts_dir: Path, questions: dict[str, str] | None
) -> str:
    """A chart marker's replacement: the file, its question, and the reference run's image."""
    if questions is not None and name not in questions:
        raise ValueError(f"{page_src_uri} names {name}, which benchmarks.report.CHARTS lacks")
    text = f"`{name}`"
    if questions is not None:
        text += f" — *{questions[name]}*"
    if (charts_dir / name).is_file():
        target = posixpath.relpath(f"reference/charts/{name}", posixpath.dirname(page_src_uri))
        return f"{text}\n\n![{name}]({target})\n"
    return (
        f"{text}\n\n"
        f'!!! note "Not in the committed reference run"\n'
        f"    Run `make bench` and open `results/latest/charts/{name}`.\n"
    )


SCENARIOS_MARKER = "<!-- scenarios -->"
"""Replaced by the table of what each profile runs, read from ``benchmarks.scenarios``."""


def scenarios_markdown() -> str:
    """What each profile runs, from the runner's own tables, so the docs cannot restate it."""
    try:
        from benchmarks.scenarios import PROFILES, profile_runs
    except ImportError:
        return (
            '!!! note "The scenario table appears once benchmarks/scenarios.py exists"\n'
            "    `pushlab bench --help` lists the profiles.\n"
        )
    lines = [
        "| profile | scenario | clients | room size | who sends | each sender, about every "
        "| seconds of load |",
        "|---|---|---|---|---|---|---|",
    ]
    for profile in PROFILES.values():
        runs: dict[str, list[Any]] = {}
        for name, scenario in profile_runs(profile, None, None):
            runs.setdefault(name, []).append(scenario)
        for name, sized in runs.items():
            first = sized[0]
            lines.append(
                f"| `{profile.name}` | {name} "
                f"| {', '.join(str(scenario.clients) for scenario in sized)} "
                f"| {first.room_size or 'one room of all'} "
                f"| {'every client' if first.every_client_sends else 'one client per room'} "
                f"| {first.send_interval_s:g} s | {first.duration_s:g} |"
            )
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """Serve the reference run's charts at ``reference/charts/`` (they stay out of docs/)."""
    from mkdocs.structure.files import File

    charts_dir = REFERENCE_DIR / "charts"
    for png in sorted(charts_dir.glob("*.png")) if charts_dir.is_dir() else []:
        files.append(
            File(
                f"reference/charts/{png.name}",
                src_dir=str(REFERENCE_DIR.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- chart: NAME.png -->`` with the reference run's chart, and the
    ``<!-- scenarios -->`` marker with the profiles' scenario table."""
    if SCENARIOS_MARKER in markdown:
        markdown = markdown.replace(SCENARIOS_MARKER, scenarios_markdown())
    if not CHART_MARKER.search(markdown):
        return markdown
    charts_dir = REFERENCE_DIR / "charts"
    questions = chart_questions()
    return CHART_MARKER.sub(
        lambda match: chart_markdown(match.group(1), page.file.src_uri, charts_dir, questions),
        markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
