"""The MkDocs hook (mkdocs.yml: ``hooks``): what the docs take from the code while they build.

It serves the reference run's charts at ``reference/charts/`` and replaces four markers in
a page, in the page's language (``docs/ru/`` is Russian): ``<!-- chart: NAME.png -->`` with
that chart and the question it answers (or a note while it is absent),
``<!-- scenarios -->`` with what each profile runs (``benchmarks.run.scenarios``),
``<!-- results-schema -->`` with the tables of ``summary.json``'s records
(``benchmarks.results.summary``) and ``<!-- costs: KEY -->`` with that strategy's numbers in
the reference run beside the best of all (or a note that the run did not measure it), so no
page restates what the code defines and a new strategy's page needs no generated file.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from benchmarks.report.chart_language import question_in
from benchmarks.report.reference_docs import (
    LANGUAGES,
    REFERENCE_DIR,
    Language,
    costs_page,
    strategy_titles,
)
from benchmarks.results.summary import load_if_present, schema_markdown

CHART_MARKER = re.compile(r"<!-- chart: ([a-z0-9_]+\.png) -->")
"""A chart marker on a page; lower-case names only, so prose can mention ``NAME.png``."""
COSTS_MARKER = re.compile(r"<!-- costs: ([a-z0-9-]+) -->")
"""A strategy page's table of its numbers in the reference run (``reference_docs.costs_page``)."""
SCHEMA_MARKER = "<!-- results-schema -->"
"""Replaced by ``benchmarks.results.summary.schema_markdown()`` in the page's language."""


def chart_questions(language: str = "en") -> dict[str, str] | None:
    """Chart file name → the question it answers in ``language``, from
    ``benchmarks.report.markdown.CHARTS`` (Russian: ``chart_language.RUSSIAN_QUESTIONS``).

    None while the report module is absent (this branch of history may predate it).
    """
    try:
        from benchmarks.report.markdown import CHARTS
    except ImportError:
        return None
    return {chart.file_name: question_in(language, chart.question) for chart in CHARTS}


def phrases_of(language: str) -> Language:
    """The generated docs' phrases (``benchmarks/report/phrases/``) of a page's language."""
    return next(lang for lang in LANGUAGES if lang.code == language)


def chart_markdown(
    name: str, page_src_uri: str, charts_dir: Path, questions: dict[str, str] | None
) -> str:
    """A chart marker's replacement: the file, its question, and the reference run's image."""
    if questions is not None and name not in questions:
        raise ValueError(
            f"{page_src_uri} names {name}, which benchmarks.report.markdown.CHARTS lacks"
        )
    text = f"`{name}`"
    if questions is not None:
        text += f" — *{questions[name]}*"
    language = page_language(page_src_uri)
    if language == "ru" and (charts_dir / "ru" / name).is_file():
        name_in_run = f"ru/{name}"  # drawn with Russian labels (pushlab charts DIR --lang ru)
    else:
        name_in_run = name
    if (charts_dir / name_in_run).is_file():
        target = posixpath.relpath(
            f"reference/charts/{name_in_run}", posixpath.dirname(page_src_uri)
        )
        return f"{text}\n\n![{name}]({target})\n"
    return f"{text}\n\n" + phrases_of(language).text("chart_absent", name=name).lstrip("\n")


SCENARIOS_MARKER = "<!-- scenarios -->"
"""Replaced by the table of what each profile runs, read from ``benchmarks.run.scenarios``."""


def scenarios_markdown(language: str = "en") -> str:
    """What each profile runs, from the runner's own tables, so the docs cannot restate it."""
    try:
        from benchmarks.run.scenarios import PROFILES, profile_runs
    except ImportError:
        return (
            '!!! note "The scenario table appears once benchmarks/run/scenarios.py exists"\n'
            "    `pushlab bench --help` lists the profiles.\n"
        )
    lang = phrases_of(language)
    phrases = lang.phrases
    senders = {True: phrases["scenarios_every_client"], False: phrases["scenarios_one_sender"]}
    lines = [phrases["scenarios_header"], "|---|---|---|---|---|---|---|"]
    for profile in PROFILES.values():
        runs: dict[str, list[Any]] = {}
        for name, scenario in profile_runs(profile, None, None):
            runs.setdefault(name, []).append(scenario)
        for name, sized in runs.items():
            first = sized[0]
            lines.append(
                f"| `{profile.name}` | {name} "
                f"| {', '.join(str(scenario.clients) for scenario in sized)} "
                f"| {first.room_size or phrases['scenarios_one_room']} "
                f"| {senders[bool(first.every_client_sends)]} "
                f"| {lang.number(first.send_interval_s, 's')} | {first.duration_s:g} |"
            )
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    """Serve the reference run's charts at ``reference/charts/`` (they stay out of docs/)."""
    from mkdocs.structure.files import File

    charts_dir = REFERENCE_DIR / "charts"
    for png in sorted(charts_dir.rglob("*.png")) if charts_dir.is_dir() else []:
        files.append(
            File(
                f"reference/charts/{png.relative_to(charts_dir).as_posix()}",
                src_dir=str(REFERENCE_DIR.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def page_language(page_src_uri: str) -> str:
    """``ru`` for the Russian pages (``docs/ru/``), else ``en``."""
    return "ru" if page_src_uri.startswith("ru/") else "en"


def costs_markdown(markdown: str, language: str) -> str:
    """Each ``<!-- costs: KEY -->`` replaced by that strategy's costs in the reference run."""
    if not COSTS_MARKER.search(markdown):
        return markdown
    summary, titles, lang = load_if_present(REFERENCE_DIR), strategy_titles(), phrases_of(language)
    return COSTS_MARKER.sub(lambda found: costs_page(summary, found[1], titles, lang), markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- chart: NAME.png -->`` with the reference run's chart, the
    ``<!-- scenarios -->`` marker with the profiles' scenario table, the
    ``<!-- results-schema -->`` marker with the records of summary.json and each
    ``<!-- costs: KEY -->`` with that strategy's costs in the reference run."""
    language = page_language(page.file.src_uri)
    markdown = costs_markdown(markdown, language)
    if SCENARIOS_MARKER in markdown:
        markdown = markdown.replace(SCENARIOS_MARKER, scenarios_markdown(language))
    if SCHEMA_MARKER in markdown:
        markdown = markdown.replace(SCHEMA_MARKER, schema_markdown(language))
    if not CHART_MARKER.search(markdown):
        return markdown
    charts_dir = REFERENCE_DIR / "charts"
    questions = chart_questions(language)
    return CHART_MARKER.sub(
        lambda match: chart_markdown(match.group(1), page.file.src_uri, charts_dir, questions),
        markdown,
    )
