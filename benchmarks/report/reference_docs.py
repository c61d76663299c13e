"""What the docs take from the committed reference run (``results/reference/``).

``python -m benchmarks.report.reference_docs`` rewrites ``docs/_generated/*.md`` (the numbers
tables and the answers the home page gives) from ``results/reference/summary.json``; a
strategy's own costs table (``costs_page``) is drawn by the MkDocs hook while the docs
build, so a strategy added to the registry needs no generated file;
``--check`` only reports drift, and tests/test_docs.py runs it. Numbers a hand-written page
quotes mid-sentence sit between ``<!-- figure: PATH -->`` markers, and the same command
rewrites them (``FIGURE``). What MkDocs does with the
reference run's charts while it builds is ``benchmarks.report.docs_hook``.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.results.summary import (
    COSTS,
    FIGURES,
    StrategyResult,
    Summary,
    format_number,
    load_if_present,
    number,
)
from benchmarks.run.scenarios import CAPACITY_LOADS
from strategies import STRATEGIES

REPO = Path(__file__).resolve().parent.parent.parent
REFERENCE_DIR = REPO / "results" / "reference"
GENERATED_DIR = REPO / "docs" / "_generated"

PHRASES_DIR = Path(__file__).resolve().parent / "phrases"
"""One TOML file of sentences per language: the sentences read as sentences, not as code."""


def plural_form(shown: str, forms: Sequence[str], code: str) -> str:
    """The noun form that agrees with a number as shown (``"1"``, ``"0,65"``, ``"21"``).

    English: one | many. Russian: 1, 21, 101 → one; 2-4, 22-24 → few; 0, 5-20, 25 → many;
    a fraction takes the "few" form (0,65 запроса).
    """
    if code != "ru":
        return forms[0] if shown == "1" else forms[-1]
    one, few, many = [*forms, forms[-1], forms[-1]][:3]
    if not shown.lstrip("-").isdigit():
        return few
    n = abs(int(shown))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


class _PhraseFormatter(string.Formatter):
    """``{name}`` as usual, numbers with the language's decimal sign; ``{name:one|few|many}``
    is the number followed by the agreeing noun form."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return super().format_field(value, format_spec)
        shown = self.language.number(value)
        if not format_spec:
            return shown
        return f"{shown} {plural_form(shown, format_spec.split('|'), self.language.code)}"


@dataclass(frozen=True)
class Language:
    """One language of the generated pages, read from ``benchmarks/report/phrases/<code>.toml``."""

    code: str
    suffix: str
    """File name suffix before ``.md``: ``""`` for English, ``".ru"`` for Russian."""
    decimal: str
    """The decimal sign: ``.`` in English, ``,`` in Russian."""
    columns: dict[str, str]
    """Figure name (``COSTS``) → its header in this language."""
    units: dict[str, tuple[str, ...]]
    """Unit of a figure (``ms``, ``B``) → its forms (one, [few,] many)."""
    titles: dict[str, str]
    """Strategy key → its name in this language, from its row (``Strategy.titles``); the
    registry's title when the row has none for this language."""
    phrases: dict[str, str]

    @classmethod
    def load(cls, code: str) -> Language:
        data = tomllib.loads((PHRASES_DIR / f"{code}.toml").read_text(encoding="utf-8"))
        return cls(
            code=data["code"],
            suffix=data["suffix"],
            decimal=data["decimal"],
            columns=dict(data["columns"]),
            units={unit: tuple(forms) for unit, forms in data["units"].items()},
            titles={
                key: strategy.titles[code]
                for key, strategy in STRATEGIES.items()
                if code in strategy.titles
            },
            phrases=dict(data["phrases"]),
        )

    def text(self, phrase: str, **values: Any) -> str:
        return _PhraseFormatter(self).format(self.phrases[phrase], **values)

    def number(self, value: float | None, unit: str = "") -> str:
        """``format_number`` with this language's decimal sign and the unit's agreeing form;
        no thousands separator (a comma would read as a decimal sign in Russian)."""
        shown = format_number(value, missing="—", thousands="").replace(".", self.decimal)
        if value is None or not unit:
            return shown
        return f"{shown} {plural_form(shown, self.units[unit], self.code)}"

    def title(self, key: str, titles: dict[str, str]) -> str:
        """The strategy's name at the start of a table row."""
        return self.titles.get(key) or titles.get(key, key)

    def title_in_text(self, key: str, titles: dict[str, str]) -> str:
        """The name mid-sentence: Russian common nouns in lower case (короткий опрос); a
        name kept in Latin letters is a proper name and keeps its capital
        (Server-Sent Events)."""
        name = self.title(key, titles)
        russian_noun = "\u0430" <= name[:1].lower() <= "\u044f" and not name[1:2].isupper()
        if self.code == "ru" and russian_noun and key in self.titles:
            return name[0].lower() + name[1:]
        return name


ENGLISH = Language.load("en")
RUSSIAN = Language.load("ru")
LANGUAGES = (ENGLISH, RUSSIAN)


def strategy_titles() -> dict[str, str]:
    """Registry key → title, in registry order (the docs' order everywhere)."""
    return {key: strategy.title for key, strategy in STRATEGIES.items()}


def valid_results(summary: Summary) -> dict[str, StrategyResult]:
    """The main scenario's strategies that ran cleanly: only these may be compared."""
    results: dict[str, StrategyResult] = summary.get("strategies", {})
    return {key: result for key, result in results.items() if result.get("status") == "ok"}


def provenance(summary: Summary, lang: Language) -> str:
    config = summary.get("config", {})
    machine = summary.get("machine", {})
    versions = summary.get("versions", {})
    return lang.text(
        "provenance",
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


def comparison_table(summary: Summary, titles: dict[str, str], lang: Language) -> str:
    """One row per strategy of the main scenario; failed ones say why instead of numbers."""
    results: dict[str, StrategyResult] = summary.get("strategies", {})
    header = f"| {lang.phrases['strategy']} | " + " | ".join(lang.columns[n] for n in COSTS)
    header += " |\n"
    rule = "|---" * (len(COSTS) + 1) + "|\n"
    rows = []
    for key in [*(k for k in titles if k in results), *(k for k in results if k not in titles)]:
        result = results[key]
        if result.get("status") != "ok":
            why = result.get("failure") or "report.md"
            cells = [lang.text("failed", why=why)] + [""] * (len(COSTS) - 1)
        else:
            cells = [lang.number(number(result, name), FIGURES[name].unit) for name in COSTS]
        rows.append(f"| {lang.title(key, titles)} | " + " | ".join(cells) + " |\n")
    return header + rule + "".join(rows)


def reference_run_page(summary: Summary | None, titles: dict[str, str], lang: Language) -> str:
    if summary is None:
        return lang.text("not_yet")
    return provenance(summary, lang) + "\n" + comparison_table(summary, titles, lang)


def cheapest(results: dict[str, StrategyResult], name: str) -> list[str]:
    """The keys sharing the smallest non-null value of ``name`` (empty if none has one)."""
    values = {key: value for key, r in results.items() if (value := number(r, name)) is not None}
    if not values:
        return []
    least = min(values.values())
    return [key for key, value in values.items() if value == least]


def names(keys: list[str], titles: dict[str, str], lang: Language, in_text: bool = False) -> str:
    name = lang.title_in_text if in_text else lang.title
    return ", ".join(name(key, titles) for key in keys)


def others(
    results: dict[str, StrategyResult],
    titles: dict[str, str],
    best: list[str],
    name: str,
    unit: str,
    lang: Language,
) -> str:
    """The other strategies' values of ``name``, for the answer sentences."""
    return (
        "; ".join(
            f"{lang.title_in_text(key, titles)} {lang.number(number(result, name), unit)}"
            for key, result in results.items()
            if key not in best
        )
        or "—"
    )


def answers_page(summary: Summary | None, titles: dict[str, str], lang: Language) -> str:
    """The three questions the lab exists to answer, in so many words, from the run's numbers."""
    if summary is None:
        return lang.text("answers_not_yet")
    results = valid_results(summary)
    lines: list[str] = []
    fewest = cheapest(results, "requests_per_delivery")
    if fewest:
        lines.append(
            lang.text(
                "fewest",
                title=names(fewest, titles, lang),
                value=number(results[fewest[0]], "requests_per_delivery"),
                others=others(results, titles, fewest, "requests_per_delivery", "", lang),
            )
        )
    fastest = cheapest(results, "delivery_ms.p50")
    if fastest:
        lines.append(
            lang.text(
                "fastest",
                title=names(fastest, titles, lang),
                p50=lang.number(number(results[fastest[0]], "delivery_ms.p50"), "ms"),
                p95=lang.number(number(results[fastest[0]], "delivery_ms.p95"), "ms"),
                others=others(results, titles, fastest, "delivery_ms.p50", "ms", lang),
            )
        )
    lines.append(short_polling_growth(summary, lang))
    return "\n".join(lines) + "\n"


def requests_per_minute(result: StrategyResult) -> float:
    """All clients' requests per minute: the server's load from this strategy."""
    return (number(result, "http_requests_per_client_per_min") or 0.0) * result["clients"]


def short_polling_growth(summary: Summary, lang: Language) -> str:
    """Why short polling's cost grows with clients even when nobody writes, in numbers."""
    interval = summary.get("config", {}).get("poll_interval_ms") or 1000
    # The strategy's own arithmetic: one poll per interval.
    idle_rate = STRATEGIES["short-polling"].predictions({"poll_interval_ms": interval}, {})[0]
    text = lang.text("growth", interval=interval, per_client=idle_rate.value)
    points = [
        r for r in summary.get("sweep", {}).get("short-polling", []) if r.get("status") == "ok"
    ]
    if len(points) >= 2:
        text += lang.text(
            "sweep",
            first_clients=points[0]["clients"],
            first_total=requests_per_minute(points[0]),
            last_clients=points[-1]["clients"],
            last_total=requests_per_minute(points[-1]),
        )
    idle = summary.get("scenarios", {}).get("idle", {})
    if all(idle.get(key, {}).get("status") == "ok" for key in KEYS_COMPARED_WHEN_IDLE):
        rates = [idle[key]["http_requests_per_client_per_min"] for key in KEYS_COMPARED_WHEN_IDLE]
        text += lang.text("idle", rate=rates[0], long_rate=rates[1], ws_rate=rates[2])
    measured = summary.get("strategies", {}).get("short-polling", {})
    if measured.get("status") == "ok":
        text += lang.text("measured", rate=measured["http_requests_per_client_per_min"])
    return text


KEYS_COMPARED_WHEN_IDLE = ("short-polling", "long-polling", "websocket")
"""The idle-scenario sentence names these three, in this order (Language.idle)."""


def costs_page(summary: Summary | None, key: str, titles: dict[str, str], lang: Language) -> str:
    """One strategy's numbers, each beside the best of all, for its own page."""
    if summary is None:
        return lang.text("not_yet")
    result = summary.get("strategies", {}).get(key)
    if result is None:
        return lang.text("not_measured", run_id=summary.get("run_id"), key=key)
    if result.get("status") != "ok":
        return lang.text("strategy_failed", key=key, why=result.get("failure"))
    results = valid_results(summary)
    lines = [
        lang.text(
            "costs_intro",
            run_id=summary.get("run_id"),
            clients=result.get("clients"),
            sent=result.get("messages_sent"),
            deliveries=result.get("deliveries"),
        ),
        f"| {lang.phrases['measure']} | {lang.title(key, titles)} | {lang.phrases['best']} |",
        "|---|---|---|",
    ]
    for name in COSTS:
        header, unit = lang.columns[name], FIGURES[name].unit
        best = cheapest(results, name)
        best_text = "—"
        if best:
            best_value = lang.number(number(results[best[0]], name), unit)
            best_text = f"{best_value} ({names(best, titles, lang)})"
        value = lang.number(number(result, name), unit)
        lines.append(f"| {header} | {value} | {best_text} |")
    return "\n".join(lines) + "\n"


LOWER_BOUNDS = ("generator", "time budget")
"""Steps that ended on these say the server holds at least that many: Locust ran out of CPU
first, or the run's time for capacity was spent before a step broke."""


def unsplit(figures: Mapping[str, Any]) -> str:
    """``_unsplit`` for a step that broke on loss in a run older than the in-flight count,
    whose ``lost`` includes messages still on their way at stop."""
    steps = figures.get("steps") or []
    last = steps[-1] if steps and isinstance(steps[-1], Mapping) else {}
    return "_unsplit" if figures.get("broke") == "loss" and "in_flight" not in last else ""


def capacity_cell(figures: Mapping[str, Any] | None, lang: Language) -> str:
    """The last step that passed and what ended the steps ("at least" when the run, not the
    server, ended them), or ``—`` when this load did not run."""
    if not figures:
        return "—"
    clients = lang.number(figures.get("clients_at_slo") or 0)
    broke = figures.get("broke")
    if broke is None:
        return lang.text("capacity_held_every_step", clients=clients)
    reason = lang.phrases.get(f"broke_{broke.replace(' ', '_')}{unsplit(figures)}", broke)
    if broke in LOWER_BOUNDS:  # the run, not the server, ended the steps
        return lang.text("capacity_lower_bound", clients=clients, reason=reason)
    at = figures.get("broke_at_clients")
    if not figures.get("clients_at_slo"):  # not even the first step passed
        return lang.text("capacity_none", reason=reason, at=at)
    return lang.text("capacity_broke", clients=clients, reason=reason, at=at)


def capacity_page(summary: Summary | None, titles: dict[str, str], lang: Language) -> str:
    """How many clients one core holds with each technique, from the capacity scenario."""
    if summary is None:
        return lang.text("not_yet")
    capacity = summary.get("capacity") or {}
    if not capacity:
        return lang.text("capacity_not_measured", run_id=summary.get("run_id"))
    hold = summary.get("config", {}).get("capacity_hold_s")
    headers = [lang.phrases["strategy"]]
    headers += [lang.phrases[f"capacity_{load}"] for load in CAPACITY_LOADS]
    lines = [
        lang.text("capacity_intro", run_id=summary.get("run_id"), hold=hold),
        "| " + " | ".join(headers) + " |",
        "|---" * len(headers) + "|",
    ]
    for key in (key for key in titles if key in capacity):
        loads = capacity[key]
        cells = " | ".join(capacity_cell(loads.get(load), lang) for load in CAPACITY_LOADS)
        lines.append(f"| {lang.title(key, titles)} | {cells} |")
    lines += ["", lang.text("capacity_why"), ""]
    lines += [  # the techniques the table shows: a row the run did not climb has no reason here
        f"- **{lang.title(key, titles)}** {STRATEGIES[key].capacity_reason[lang.code]}"
        for key in titles
        if key in capacity and lang.code in STRATEGIES[key].capacity_reason
    ]
    lines += ["", lang.text("capacity_why_after"), ""]
    return "\n".join(lines) + "\n"


def render_pages(summary: Summary | None) -> dict[str, str]:
    """File name → Markdown for docs/_generated/, for a run's summary (None: no run yet)."""
    titles = strategy_titles()
    pages: dict[str, str] = {}
    for lang in LANGUAGES:
        pages[f"reference-run{lang.suffix}.md"] = reference_run_page(summary, titles, lang)
        pages[f"answers{lang.suffix}.md"] = answers_page(summary, titles, lang)
        pages[f"capacity{lang.suffix}.md"] = capacity_page(summary, titles, lang)
    return pages


FIGURE = re.compile(r"<!-- figure: ([\w.-]+) -->(.*?)<!-- /figure -->")
"""A number in a hand-written page that comes from the reference run:
``<!-- figure: strategies.websocket.delivery_ms.p50 -->3.31<!-- /figure --> ms``. The path
walks ``summary.json`` (list items by index, ``-1`` the last); the generator rewrites the
number between the markers, in the page's language."""


def hand_written_pages() -> list[Path]:
    """README.md and every docs page but the generated ones: where ``FIGURE`` markers live."""
    docs = sorted(p for p in (REPO / "docs").rglob("*.md") if "_generated" not in p.parts)
    return [REPO / "README.md", *docs]


def page_language(page: Path) -> Language:
    return RUSSIAN if (REPO / "docs" / "ru") in page.parents else ENGLISH


def reference_value(summary: Summary, path: str) -> float:
    """The number at ``path`` (``sweep.naive-long-polling.-1.server_cpu_percent``) in a run's
    summary; a clear error when the run has no such number."""
    value: Any = summary
    for part in path.split("."):
        if isinstance(value, list) and part.lstrip("-").isdigit():
            value = value[int(part)] if -len(value) <= int(part) < len(value) else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"the run has no number at {path!r}")
    return float(value)


def fill_figures(markdown: str, summary: Summary | None, lang: Language) -> str:
    """``markdown`` with every ``FIGURE`` marker's number as the run gives it (unchanged
    without a run: the last reference's numbers stay until a new one is committed)."""
    if summary is None:
        return markdown
    return FIGURE.sub(
        lambda marker: (
            f"<!-- figure: {marker[1]} -->"
            f"{lang.number(reference_value(summary, marker[1]))}<!-- /figure -->"
        ),
        markdown,
    )


def figure_pages(summary: Summary | None) -> dict[Path, str]:
    """Hand-written page → its text with the run's figures, for the pages that have any."""
    pages: dict[Path, str] = {}
    for page in hand_written_pages():
        text = page.read_text(encoding="utf-8")
        if FIGURE.search(text):
            pages[page] = fill_figures(text, summary, page_language(page))
    return pages


def stale_figure_pages(summary: Summary | None) -> list[str]:
    """Hand-written pages whose committed figures differ from the run's."""
    return sorted(
        str(page.relative_to(REPO))
        for page, text in figure_pages(summary).items()
        if page.read_text(encoding="utf-8") != text
    )


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
        prog="python -m benchmarks.report.reference_docs",
        description="Rewrite the docs' numbers (docs/_generated/) from a saved run.",
    )
    parser.add_argument("--results", type=Path, default=REFERENCE_DIR, help="a run directory")
    parser.add_argument("--out", type=Path, default=GENERATED_DIR, help="where the pages go")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the pages are stale"
    )
    args = parser.parse_args(argv)
    summary = load_if_present(args.results)
    pages = render_pages(summary)
    stale = stale_files(pages, args.out)
    # The hand-written pages' figures follow the docs' own run only, never another run's.
    figures = figure_pages(summary) if args.out.resolve() == GENERATED_DIR.resolve() else {}
    stale_figures = [p for p, text in figures.items() if p.read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        for page in stale_figures:
            print(f"stale figures: {page.relative_to(REPO)}", file=sys.stderr)
        return 1 if stale or stale_figures else 0
    write_pages(pages, args.out)
    for page in stale_figures:
        page.write_text(figures[page], encoding="utf-8")
    print(
        f"wrote {len(pages)} pages to {args.out} ({len(stale)} changed); "
        f"figures in {len(stale_figures)} hand-written pages changed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
