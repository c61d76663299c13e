"""The docs cannot drift: they build strictly, and every strategy, command, chart, file and
name they mention exists in the code; their numbers match the committed reference run."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from benchmarks.report import docs_hook, reference_docs
from benchmarks.results.summary import load_if_present
from lab import chat
from strategies import STRATEGIES
from tests.synthetic_summary import build_summary

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
MKDOCS_YML = REPO / "mkdocs.yml"
LANGUAGE_DIRS = {"en": DOCS, "ru": DOCS / "ru"}


def doc_pages() -> list[Path]:
    """Every hand-written page (the generated snippets are checked by their own test)."""
    return sorted(p for p in DOCS.rglob("*.md") if "_generated" not in p.parts)


def docs_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in doc_pages())


def notebooks_text() -> str:
    """Every cell's source of every notebook (markdown and code alike)."""
    return "\n".join(
        "".join(cell["source"])
        for path in sorted((REPO / "notebooks").glob("*.ipynb"))
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
    )


@pytest.mark.slow
def test_strict_build_has_no_broken_links(built_site: Path) -> None:
    assert (built_site / "strategies" / "websocket" / "index.html").is_file()
    assert (built_site / "ru" / "exercises" / "index.html").is_file()


EXTERNAL_ASSET = re.compile(
    r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*', re.IGNORECASE
)


@pytest.mark.slow
def test_the_built_pages_load_nothing_from_the_internet(built_site: Path) -> None:
    """No script, stylesheet, font or image from another host: the site must work offline
    (tests/test_docs_offline.py checks in a browser what the theme's scripts fetch)."""
    external = {
        str(html.relative_to(built_site)): EXTERNAL_ASSET.findall(html.read_text(encoding="utf-8"))
        for html in built_site.rglob("*.html")
    }
    assert {page: found for page, found in external.items() if found} == {}


def theme_phrases(language: str) -> dict[str, str]:
    """The theme's chrome strings (search box, table of contents, footer...) in a language."""
    import material

    table = Path(material.__file__).parent / f"templates/partials/languages/{language}.html"
    return dict(re.findall(r'^\s*"([\w.]+)": "(.*)",?$', table.read_text(encoding="utf-8"), re.M))


class _ChromeOfHtml(HTMLParser):
    """What the theme adds around a page's article: text and labels outside ``<article>``."""

    LABELS = ("aria-label", "title", "placeholder")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_article = 0
        self.strings: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_article += tag == "article"
        if not self.in_article:
            self.strings.update(v.strip() for k, v in attrs if k in self.LABELS and v)

    def handle_endtag(self, tag: str) -> None:
        self.in_article -= tag == "article"

    def handle_data(self, data: str) -> None:
        if not self.in_article and data.strip():
            self.strings.add(data.strip())


def chrome_strings(html: str) -> set[str]:
    parser = _ChromeOfHtml()
    parser.feed(html)
    config = re.search(r'<script id="__config" type="application/json">(.*?)</script>', html)
    assert config, "the theme's config (its scripts' strings) is on the page"
    return parser.strings | set(json.loads(config.group(1))["translations"].values())


ENGLISH_ONLY_CHROME = {"Built with Material for MkDocs", "Made with"}


@pytest.mark.slow
def test_russian_pages_have_the_theme_chrome_in_russian(built_site: Path) -> None:
    """A Russian reader sees no English search box, table of contents or footer: every
    string the theme has in English and Russian is the Russian one on /ru/ pages."""
    russian = set(theme_phrases("ru").values())
    english = (set(theme_phrases("en").values()) - russian) | ENGLISH_ONLY_CHROME
    english_home = chrome_strings((built_site / "index.html").read_text(encoding="utf-8"))
    assert english_home & english, "the English pages keep the theme's English chrome"
    pages = sorted((built_site / "ru").rglob("*.html"))
    assert len(pages) == len([p for p in doc_pages() if p.is_relative_to(DOCS / "ru")])
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert '<html lang="ru"' in html, page.relative_to(built_site)
        assert chrome_strings(html) & english == set(), page.relative_to(built_site)
        assert "Поиск" in chrome_strings(html)


MERMAID = DOCS / "assets" / "vendor" / "mermaid" / "mermaid.min.js"


def test_the_vendored_mermaid_is_the_version_the_theme_and_decisions_name() -> None:
    """The theme falls back to a CDN's ``mermaid@MAJOR``; the vendored file must be of that
    major, and mkdocs.yml and the decisions (en, ru) must name its exact version."""
    import material

    version = re.search(
        r'version:"(\d+)\.(\d+\.\d+)"\}[^}]{0,40}"getVersion"', MERMAID.read_text(encoding="utf-8")
    )
    assert version, "docs/assets/vendor/mermaid/mermaid.min.js states its version"
    bundles = (Path(material.__file__).parent / "templates/assets/javascripts").glob("bundle.*.js")
    theme = "".join(bundle.read_text(encoding="utf-8") for bundle in bundles)
    assert f"mermaid@{version.group(1)}/" in theme, "the theme expects another Mermaid major"
    exact = f"{version.group(1)}.{version.group(2)}"
    for text in (MKDOCS_YML, DOCS / "decisions.md", DOCS / "ru" / "decisions.md"):
        assert f"Mermaid {exact}" in text.read_text(encoding="utf-8"), text.relative_to(REPO)


class _TextOfHtml(HTMLParser):
    """The text a reader sees: tags dropped (highlighting splits code into many spans)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def page_text(html_file: Path) -> str:
    parser = _TextOfHtml()
    parser.feed(html_file.read_text(encoding="utf-8"))
    return "".join(parser.parts)


def built_page(site: Path, page: Path) -> Path:
    """``docs/ru/charts.md`` → ``site/ru/charts/index.html`` (``index.md`` → ``index.html``)."""
    relative = page.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        return site / relative.parent / "index.html"
    return site / relative / "index.html"


INCLUDE_MARKER = re.compile(r"--8\s*<\s*--")
SOURCE_INCLUDE = re.compile(r'^\s*--8<-- "((?:lab|strategies|benchmarks)/[^"]+)"\s*$', re.MULTILINE)


@pytest.mark.slow
def test_no_page_shows_an_unrendered_include(built_site: Path) -> None:
    """A mangled include (``--8 < --"x"``) is not an include: it lands on the page as text."""
    shown = {
        str(html.relative_to(built_site)): len(INCLUDE_MARKER.findall(page_text(html)))
        for html in built_site.rglob("*.html")
    }
    assert {name: count for name, count in shown.items() if count} == {}


def source_includes() -> list[tuple[Path, str]]:
    return [
        (page, source)
        for page in doc_pages()
        for source in SOURCE_INCLUDE.findall(page.read_text(encoding="utf-8"))
    ]


def test_the_strategy_pages_include_their_server_code() -> None:
    included = {(page.relative_to(DOCS).as_posix(), source) for page, source in source_includes()}
    for language in LANGUAGE_DIRS:
        prefix = "" if language == "en" else f"{language}/"
        for key, strategy in STRATEGIES.items():
            package = type(strategy).__module__.rsplit(".", 1)[0].replace(".", "/")
            page = f"{prefix}strategies/{key}.md"
            assert any(p == page and s.startswith(package + "/") for p, s in included), (
                f"{page} shows none of {package}/"
            )


SECTION_MARKER = re.compile(r"--8<-- \[(start|end):([a-z][-_0-9a-z]*)\]")
"""A pymdownx.snippets section marker in a source file: ``# --8<-- [start:name]``."""


def included_lines(source: str) -> list[str]:
    """The lines an include shows: the whole file, or between ``[start:name]`` and
    ``[end:name]`` for ``path:name``; marker lines are left out either way, as snippets does."""
    path, _, section = source.partition(":")
    lines = (REPO / path).read_text(encoding="utf-8").splitlines()
    if section:
        starts = [i for i, line in enumerate(lines) if f"[start:{section}]" in line]
        ends = [i for i, line in enumerate(lines) if f"[end:{section}]" in line]
        assert len(starts) == len(ends) == 1, f"{path} marks section {section!r} once"
        lines = lines[starts[0] + 1 : ends[0]]
    return [line for line in lines if not SECTION_MARKER.search(line)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "source"),
    [pytest.param(p, s, id=f"{p.relative_to(DOCS)}:{s}") for p, s in source_includes()],
)
def test_every_included_source_file_is_on_its_page(
    built_site: Path, page: Path, source: str
) -> None:
    """Each line of the included file (or of its marked section, ``file:name``) is in the
    built page's text, in the file's order; the section markers themselves are not shown."""
    text = page_text(built_page(built_site, page))
    position = 0
    for line in included_lines(source):
        if not line.strip():
            continue
        found = text.find(line.strip(), position)
        assert found >= 0, f"{source}: {line.strip()!r} is not on {page.relative_to(DOCS)}"
        position = found + len(line.strip())


def english_pages() -> list[Path]:
    return [page for page in doc_pages() if "ru" not in page.relative_to(DOCS).parts]


def heading_counts(markdown: str) -> dict[int, int]:
    """Headings per level (``#`` = 1), fenced code left out (a shell comment is no heading)."""
    prose = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.DOTALL | re.MULTILINE)
    counts: dict[int, int] = {}
    for hashes in re.findall(r"^(#{1,6}) \S", prose, flags=re.MULTILINE):
        counts[len(hashes)] = counts.get(len(hashes), 0) + 1
    return counts


@pytest.mark.parametrize(
    "page", [pytest.param(p, id=str(p.relative_to(DOCS))) for p in english_pages()]
)
def test_every_english_page_has_a_russian_twin_kept_in_step(page: Path) -> None:
    """Same path under ru/, in the nav, and the same number of headings at every level: a
    section added in one language cannot be forgotten in the other."""
    twin = DOCS / "ru" / page.relative_to(DOCS)
    assert twin.is_file(), f"{page.relative_to(REPO)} has no Russian twin {twin.relative_to(REPO)}"
    english = heading_counts(page.read_text(encoding="utf-8"))
    russian = heading_counts(twin.read_text(encoding="utf-8"))
    assert russian == english, f"headings per level: en {english}, ru {russian}"
    nav_entry = twin.relative_to(DOCS).as_posix()
    assert nav_entry in MKDOCS_YML.read_text(encoding="utf-8"), f"{nav_entry} is not in the nav"


def test_every_russian_page_has_an_english_twin() -> None:
    russian = {p.relative_to(DOCS / "ru") for p in doc_pages() if p.is_relative_to(DOCS / "ru")}
    english = {p.relative_to(DOCS) for p in english_pages()}
    assert russian - english == set()


def test_russian_pages_show_the_charts_the_english_pages_show() -> None:
    for page in english_pages():
        twin = DOCS / "ru" / page.relative_to(DOCS)
        english = docs_hook.CHART_MARKER.findall(page.read_text(encoding="utf-8"))
        if twin.is_file():
            russian = docs_hook.CHART_MARKER.findall(twin.read_text(encoding="utf-8"))
            assert russian == english, twin.relative_to(REPO)


@pytest.mark.slow
def test_russian_pages_caption_the_charts_in_russian(built_site: Path) -> None:
    """Each chart's question under it is Russian on the Russian charts page, as are the table
    of what each profile runs and the notes the docs hook writes."""
    from benchmarks.report.markdown import CHARTS

    text = page_text(built_site / "ru" / "charts" / "index.html")
    for chart in CHARTS:
        assert chart.question not in text, f"{chart.file_name}'s caption is English"
        assert docs_hook.chart_questions("ru")[chart.file_name] in text  # type: ignore[index]
    metrics = page_text(built_site / "ru" / "metrics" / "index.html")
    assert "каждый пишущий, примерно раз в" in metrics and "who sends" not in metrics


@pytest.mark.slow
def test_russian_pages_use_russian_charts_when_the_run_has_them(built_site: Path) -> None:
    charts = reference_docs.REFERENCE_DIR / "charts"
    html = (built_site / "ru" / "charts" / "index.html").read_text(encoding="utf-8")
    shown = re.findall(r'src="([^"]*reference/charts/[^"]+\.png)"', html)
    assert shown, "the Russian charts page shows charts"
    if (charts / "ru").is_dir():
        assert all("/charts/ru/" in src for src in shown), shown


@pytest.mark.parametrize("language", sorted(LANGUAGE_DIRS))
@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in STRATEGIES])
def test_every_strategy_has_its_page_in_both_languages(key: str, language: str) -> None:
    strategy = STRATEGIES[key]
    page = LANGUAGE_DIRS[language] / "strategies" / f"{key}.md"
    assert page.is_file(), f"the registry has {key!r} but there is no {page.relative_to(REPO)}"
    text = page.read_text(encoding="utf-8")
    assert f"`{key}`" in text, "the page names its registry key"
    assert Path(strategy.client_script).name in text, "the page shows the browser client"
    assert strategy.locust_user in text, "the page names the strategy's Locust user"
    assert f"<!-- costs: {key} -->" in text, "the page shows its costs table"
    assert "```mermaid" in text and "sequenceDiagram" in text, "the page has a sequence diagram"
    assert "<!-- chart: timeline.png -->" in text, "the page shows the run's timeline"
    nav_entry = str(page.relative_to(DOCS)).replace(os.sep, "/")
    assert nav_entry in MKDOCS_YML.read_text(encoding="utf-8"), f"{nav_entry} is not in the nav"


def strategy_pages_without_registry_entry() -> list[str]:
    return [
        str(page.relative_to(DOCS))
        for language_dir in LANGUAGE_DIRS.values()
        for page in (language_dir / "strategies").glob("*.md")
        if page.stem not in STRATEGIES
    ]


def test_no_strategy_page_outlives_its_registry_entry() -> None:
    assert strategy_pages_without_registry_entry() == []


def makefile_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))


def test_make_targets_named_in_the_docs_exist() -> None:
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", docs_text() + notebooks_text()))
    assert named, "the docs name make targets"
    assert named - makefile_targets() == set()


def pushlab_commands() -> dict[str, set[str]]:
    """``pushlab`` subcommand → its option strings, read from lab.cli's own parser."""
    from lab.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(sub._option_string_actions) for name, sub in subparsers.choices.items()}


def code_in(markdown: str) -> list[str]:
    """The fenced blocks and inline code spans of a page: where commands are shown."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", markdown, flags=re.DOTALL)
    without_fenced = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", without_fenced)


PUSHLAB_USE = re.compile(r"(?:^|[\s/])pushlab ([a-z][a-z-]*)([^\n#]*)", flags=re.MULTILINE)


def test_pushlab_subcommands_and_options_named_in_the_docs_exist() -> None:
    commands = pushlab_commands()
    uses = [
        use for code in code_in(docs_text() + notebooks_text()) for use in PUSHLAB_USE.findall(code)
    ]
    assert uses, "the docs show pushlab commands"
    for command, rest in uses:
        assert command in commands, f"`pushlab {command}` is named in the docs but does not exist"
        for option in re.findall(r"(--[a-z][a-z-]*)", rest):
            assert option in commands[command], f"`pushlab {command} {option}` does not exist"


def test_bench_options_table_matches_the_cli() -> None:
    """The running page's table of ``pushlab bench`` options names only real options."""
    if not (REPO / "benchmarks" / "run" / "runner.py").is_file():
        pytest.skip("the benchmark runner (and its full option set) has not landed on this branch")
    running = (DOCS / "running.md").read_text(encoding="utf-8")
    rows = [line for line in running.splitlines() if line.startswith("| `--")]
    options = {option for row in rows for option in re.findall(r"`(--[a-z][a-z-]*)", row)}
    assert len(options) >= 5, "the table lists the bench options"
    assert options - pushlab_commands()["bench"] == set()


def chart_file_names() -> set[str]:
    try:
        from benchmarks.report.markdown import CHARTS
    except ImportError:
        pytest.skip(
            "benchmarks.report.markdown (the charts table CHARTS) has not landed on this branch"
        )
    return {chart.file_name for chart in CHARTS}


def test_every_chart_named_in_the_docs_is_drawn_by_the_report() -> None:
    drawn = chart_file_names()
    named = set(re.findall(r"\b([a-z0-9_]+\.png)\b", docs_text() + notebooks_text()))
    assert named, "the docs name charts"
    assert named - drawn == set()


def test_every_chart_the_report_draws_is_explained() -> None:
    charts_page = (DOCS / "charts.md").read_text(encoding="utf-8")
    explained = set(docs_hook.CHART_MARKER.findall(charts_page))
    assert chart_file_names() - explained == set()


def test_committed_numbers_match_the_committed_reference_run() -> None:
    """docs/_generated/ is exactly what the generator makes of results/reference/ (or its
    absence: then every numbers block says no reference run is committed yet)."""
    summary = load_if_present(reference_docs.REFERENCE_DIR)
    pages = reference_docs.render_pages(summary)
    stale = reference_docs.stale_files(pages, reference_docs.GENERATED_DIR)
    assert stale == [], (
        f"docs/_generated/ is stale ({', '.join(stale)}): "
        "run `.venv/bin/python -m benchmarks.report.reference_docs` and commit the result"
    )


def test_figures_in_hand_written_pages_match_the_committed_reference_run() -> None:
    """A number a page quotes mid-sentence between ``<!-- figure: PATH -->`` markers is the
    reference run's, as the generator writes it."""
    summary = load_if_present(reference_docs.REFERENCE_DIR)
    assert reference_docs.figure_pages(summary), "the pages quote the reference run"
    assert reference_docs.stale_figure_pages(summary) == [], (
        "run `.venv/bin/python -m benchmarks.report.reference_docs` and commit the result"
    )


def test_a_figure_is_written_in_its_pages_language_and_must_exist() -> None:
    summary = build_summary(sweep=True)
    value = summary["sweep"]["short-polling"][-1]["clients"]
    marker = "<!-- figure: sweep.short-polling.-1.clients -->?<!-- /figure -->"
    filled = reference_docs.fill_figures(marker, summary, reference_docs.RUSSIAN)
    assert filled == marker.replace("?", reference_docs.RUSSIAN.number(value))
    summary["strategies"]["websocket"]["delivery_ms"]["p50"] = 4.2
    marker = "<!-- figure: strategies.websocket.delivery_ms.p50 -->?<!-- /figure -->"
    shown = reference_docs.fill_figures(marker, summary, reference_docs.RUSSIAN)
    assert shown == marker.replace("?", "4,2"), "a decimal comma on a Russian page"
    assert reference_docs.fill_figures(marker, None, reference_docs.ENGLISH) == marker
    with pytest.raises(ValueError, match=r"no number at .strategies\.websocket\.nothing."):
        reference_docs.fill_figures(
            "<!-- figure: strategies.websocket.nothing -->1<!-- /figure -->",
            summary,
            reference_docs.ENGLISH,
        )


def test_every_generated_snippet_is_included_somewhere() -> None:
    included = set(re.findall(r'--8<-- "([\w.-]+\.md)"', docs_text()))
    generated = set(reference_docs.render_pages(None))
    assert generated - included == set()
    assert included - generated == set()


REPO_PATH = re.compile(r"`((?:lab|strategies|benchmarks|notebooks|tests|docs)/[\w./-]+\.\w+)`")
DOTTED_NAME = re.compile(r"`((?:lab|strategies|benchmarks)\.[\w.]+(?::\w+)?)`")
OTHER_BRANCHES_FILES = {
    "benchmarks/load/users.py",
    "benchmarks/load/locustfile.py",
    "benchmarks/run/runner.py",
    "benchmarks/run/scenarios.py",
    "benchmarks/load/shapes.py",
    "benchmarks/report/markdown.py",
    "tests/clients.py",
    "tests/test_contract.py",
}
"""Files the docs describe that other engineers' branches add; checked once they exist."""


def not_landed_yet(path: str) -> bool:
    return path in OTHER_BRANCHES_FILES and not (REPO / path).exists()


def module_file(dotted: str) -> str:
    """``benchmarks.load.users:WebSocketUser`` → ``benchmarks/load/users.py``: the module's
    path, up to the first part that is not a package directory."""
    parts = dotted.partition(":")[0].split(".")
    cut = 1
    while cut < len(parts) and (REPO.joinpath(*parts[:cut]) / "__init__.py").is_file():
        cut += 1
    return "/".join(parts[:cut]) + ".py"


def test_every_file_the_docs_name_exists() -> None:
    named = set(REPO_PATH.findall(docs_text()))
    assert named, "the docs name files"
    missing = sorted(p for p in named if not (REPO / p).exists() and not not_landed_yet(p))
    assert missing == []


def module_source(parts: list[str]) -> Path | None:
    for candidate in (
        REPO.joinpath(*parts).with_suffix(".py"),
        REPO.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def defined_names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Top-level names a module or class body defines: functions, classes, assignments, imports."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update({(alias.asname or alias.name).split(".")[0]: node for alias in node.names})
    return names


def resolves(dotted: str) -> bool:
    """Whether ``pkg.module.attr`` or ``pkg.module:Class`` names something that exists.

    Read from the source with ``ast``, never imported: importing ``benchmarks.load.users`` would
    let Locust monkey-patch this test process with gevent.
    """
    module_part, _, attribute = dotted.partition(":")
    parts = module_part.split(".")
    for cut in range(len(parts), 0, -1):
        source = module_source(parts[:cut])
        if source is None:
            continue
        body: list[ast.stmt] = ast.parse(source.read_text(encoding="utf-8")).body
        for name in [*parts[cut:], *([attribute] if attribute else [])]:
            node = defined_names(body).get(name)
            if node is None:
                return False
            body = node.body if isinstance(node, ast.ClassDef) else []
        return True
    return False


def test_every_code_name_the_docs_mention_exists() -> None:
    named = {
        name for name in DOTTED_NAME.findall(docs_text()) if not not_landed_yet(module_file(name))
    }
    assert named, "the docs name functions and classes"
    assert sorted(name for name in named if not resolves(name)) == []


def test_every_setting_the_docs_name_exists_in_the_code() -> None:
    """Each ``PUSHLAB_*`` name the docs mention is a setting, or a variable the benchmarks,
    tests, CI or notebooks read: a renamed setting cannot linger in the docs."""
    named = set(re.findall(r"\bPUSHLAB_[A-Z_]+\b", docs_text()))
    assert named, "the docs name settings"
    sources = [
        *REPO.glob("lab/*.py"),
        *REPO.glob("strategies/**/*.py"),  # a strategy's own settings (Strategy.settings)
        *REPO.glob("benchmarks/**/*.py"),
        *REPO.glob("tests/*.py"),
    ]
    sources = [path for path in sources if path.name != "test_docs.py"]  # not this file
    code = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    code += (REPO / ".ci" / "run").read_text(encoding="utf-8") + notebooks_text()
    assert sorted(name for name in named if not re.search(rf"\b{name}\b", code)) == []


def test_the_worked_example_lists_exactly_the_files_that_added_sse() -> None:
    """architecture.md promises that a strategy is one package and one row: its list of the
    files that added ``sse`` is the whole package, and each other file names the strategy."""
    architecture = (DOCS / "architecture.md").read_text(encoding="utf-8")
    example = architecture[architecture.index("## Worked example") :]
    listed = re.search(r"```text\n(.*?)```", example, flags=re.DOTALL)
    assert listed, "the walkthrough lists the files in a text block"
    files = listed.group(1).split()
    package = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "strategies" / "sse").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    assert sorted(f for f in files if f.startswith("strategies/sse/")) == package
    others = [f for f in files if not f.startswith("strategies/sse/")]
    assert others == [
        "strategies/__init__.py",
        "tests/test_sse.py",
        "docs/strategies/sse.md",
        "docs/ru/strategies/sse.md",
        "mkdocs.yml",
    ]
    for name in others:
        text = (REPO / name).read_text(encoding="utf-8")
        assert "sse" in text.lower() or "Server-Sent Events" in text, name
    registry = (REPO / "strategies" / "__init__.py").read_text(encoding="utf-8")
    assert "from strategies.sse.strategy import ServerSentEvents" in registry
    assert "        ServerSentEvents(),\n" in registry, "one row in the table"
    blocks = re.findall(r"```python\n(.*?)```", example, flags=re.DOTALL)
    assert blocks and all(SOURCE_INCLUDE.fullmatch(block.strip()) for block in blocks), (
        "the walkthrough shows the real files, included, never a copy that can drift"
    )


def test_readme_names_the_platforms_the_imports_allow() -> None:
    """Modules that import Unix-only ``fcntl``/``resource`` mean no native Windows: the
    README must say so and send Windows users to WSL2."""
    sources = [*REPO.glob("lab/*.py"), *REPO.glob("benchmarks/**/*.py")]
    unix_only = [
        path.name
        for path in sources
        if re.search(r"^import (fcntl|resource)\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    if unix_only:
        assert "WSL2" in readme and "Linux or macOS" in readme, unix_only


POLL_QUERIES = re.compile(r"<!-- poll-queries -->(.*?)<!-- /poll-queries -->", re.DOTALL)
QUERY_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "один": 1, "два": 2, "три": 3}


def queries_of_one_poll(client: Client, room: str, after: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/rooms/{room}/messages?after={after}")
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db(transaction=True)
def test_the_short_polling_pages_count_the_queries_a_poll_really_runs(client: Client) -> None:
    """The pages say how many queries an empty poll and a poll with news cost (the short-polling
    pages must, any other page may); real polls through the view run that many."""
    chat.post_message(room="lobby", author="docs", text="hello")
    measured = [queries_of_one_poll(client, "lobby", 1), queries_of_one_poll(client, "lobby", 0)]
    stating = {page for page in doc_pages() if POLL_QUERIES.search(page.read_text("utf-8"))}
    assert {d / "strategies" / "short-polling.md" for d in LANGUAGE_DIRS.values()} <= stating
    for page in sorted(stating):
        stated = POLL_QUERIES.findall(page.read_text(encoding="utf-8"))
        words = re.findall(r"\w+", " ".join(stated))
        counts = [QUERY_COUNT_WORDS[word] for word in words if word in QUERY_COUNT_WORDS]
        one_for_all = len(counts) == 1 and set(measured) == set(counts)
        assert counts == measured or one_for_all, (
            f"{page.relative_to(REPO)} says {stated}; empty and non-empty polls ran {measured}"
        )


# --- the generator, against a schema-shaped summary (never committed) ------------------------


def test_generator_without_a_run_says_so_instead_of_inventing_numbers() -> None:
    pages = reference_docs.render_pages(None)
    assert set(pages) >= {"answers.md", "answers.ru.md", "reference-run.md"}
    for text in pages.values():
        assert "results/reference/" in text
        assert not re.search(r"\d+\.\d+", text), "no numbers without a run"


def test_generator_answers_from_the_run_numbers() -> None:
    summary = build_summary(sweep=True, idle=True)
    pages = reference_docs.render_pages(summary)
    chat = summary["strategies"]
    fewest = min(chat, key=lambda key: chat[key]["requests_per_delivery"])
    fastest = min(chat, key=lambda key: chat[key]["delivery_ms"]["p50"])
    answers = pages["answers.md"]
    assert f"Fewest requests per message: {STRATEGIES[fewest].title}" in answers
    assert f"Lowest delivery latency: {STRATEGIES[fastest].title}" in answers
    assert "grows with clients even when nobody writes" in answers
    first, last = summary["sweep"]["short-polling"][0], summary["sweep"]["short-polling"][-1]
    assert f"{first['clients']} short-polling clients" in answers
    assert f"{last['clients']} clients made" in answers
    for key, result in chat.items():
        row = next(
            line
            for line in pages["reference-run.md"].splitlines()
            if line.startswith(f"| {STRATEGIES[key].title} |")
        )
        assert reference_docs.ENGLISH.number(result["requests_per_delivery"]) in row
    assert "Меньше всего запросов на сообщение" in pages["answers.ru.md"]


@pytest.mark.parametrize(
    ("shown", "form"),
    [
        ("1", "сообщение"),
        ("21", "сообщение"),
        ("2", "сообщения"),
        ("24", "сообщения"),
        ("0,65", "сообщения"),
        ("5", "сообщений"),
        ("11", "сообщений"),
        ("12", "сообщений"),
        ("331", "сообщение"),
        ("0", "сообщений"),
    ],
)
def test_russian_plural_agrees_with_the_number_shown(shown: str, form: str) -> None:
    forms = ("сообщение", "сообщения", "сообщений")
    assert reference_docs.plural_form(shown, forms, "ru") == form


def test_russian_names_mid_sentence_lower_case_only_russian_common_nouns() -> None:
    """Короткий опрос → «короткий опрос» mid-sentence; a name in Latin letters is a proper
    name: «Server-Sent Events», never «server-Sent Events»."""
    titles = reference_docs.strategy_titles()
    assert reference_docs.RUSSIAN.title_in_text("short-polling", titles) == "короткий опрос"
    assert reference_docs.RUSSIAN.title_in_text("sse", titles) == "Server-Sent Events"
    summary = build_summary(sweep=True, idle=True)
    for name, text in reference_docs.render_pages(summary).items():
        assert "server-Sent" not in text, name


def test_generated_russian_has_decimal_commas_plurals_and_russian_names() -> None:
    summary = build_summary(sweep=True, idle=True)
    pages = reference_docs.render_pages(summary)
    russian = {name: text for name, text in pages.items() if name.endswith(".ru.md")}
    assert russian
    for name, text in russian.items():
        numbers_part = re.sub(
            r"(Python|Django|Channels|Locust) [\d.]+|`[^`]*`|\(\d{4}-[^)]*\)", "", text
        )
        assert not re.search(r"\d\.\d", numbers_part), f"{name} has a decimal point"
        for strategy in STRATEGIES.values():
            if reference_docs.RUSSIAN.titles.get(strategy.key, strategy.title) != strategy.title:
                assert strategy.title not in text, f"{name} names {strategy.title!r} in English"
        for wrong in re.findall(r"\b1 (?:сообщений|запросов|клиентов|байт\b)", text):
            pytest.fail(f"{name}: {wrong}")
    assert re.search(r"\d+,\d+", russian["answers.ru.md"]), "decimal commas"


def test_generator_never_ranks_a_failed_strategy() -> None:
    summary = build_summary(failed="websocket", idle=True)
    pages = reference_docs.render_pages(summary)
    assert "WebSocket" not in pages["answers.md"].split("3. ")[0]
    failure = summary["strategies"]["websocket"]["failure"]
    assert f"**failed**: {failure}" in pages["reference-run.md"]
    titles = reference_docs.strategy_titles()
    costs = reference_docs.costs_page(summary, "websocket", titles, reference_docs.ENGLISH)
    assert "**failed**" in costs
    assert "In the sweep" not in pages["answers.md"]


def test_generator_check_mode_reports_stale_pages(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert reference_docs.main(["--results", str(tmp_path / "none"), "--out", str(out)]) == 0
    assert (
        reference_docs.main(["--results", str(tmp_path / "none"), "--out", str(out), "--check"])
        == 0
    )
    (out / "answers.md").write_text("edited by hand\n", encoding="utf-8")
    assert (
        reference_docs.main(["--results", str(tmp_path / "none"), "--out", str(out), "--check"])
        == 1
    )


def test_chart_marker_becomes_the_reference_image_or_a_note(tmp_path: Path) -> None:
    (tmp_path / "delivery_cdf.png").write_bytes(b"\x89PNG")
    questions = {"delivery_cdf.png": "What fraction arrived within x ms?", "sweep_cost.png": "?"}
    image = docs_hook.chart_markdown("delivery_cdf.png", "ru/charts.md", tmp_path, questions)
    assert "](../reference/charts/delivery_cdf.png)" in image
    assert "What fraction arrived within x ms?" in image
    note = docs_hook.chart_markdown("sweep_cost.png", "charts.md", tmp_path, questions)
    assert "!!! note" in note and "results/latest/charts/sweep_cost.png" in note
    with pytest.raises(ValueError, match="CHARTS lacks"):
        docs_hook.chart_markdown("pie.png", "charts.md", tmp_path, questions)


def test_generator_answers_how_many_clients_one_core_holds() -> None:
    from tests.test_capacity import synthetic_capacity

    summary = {**build_summary(), "capacity": synthetic_capacity(0.8)["capacity"]}
    summary["capacity"]["websocket"] = {
        "quiet": {"clients_at_slo": 4000, "broke": None, "broke_at_clients": None},
        "busy": {"clients_at_slo": 2000, "broke": "generator", "broke_at_clients": 4000},
    }
    summary["capacity"]["sse"] = {
        "quiet": {"clients_at_slo": 500, "broke": "time budget", "broke_at_clients": None},
        "busy": {"clients_at_slo": 0, "broke": "errors", "broke_at_clients": 250},
    }
    pages = reference_docs.render_pages(summary)
    english, russian = pages["capacity.md"], pages["capacity.ru.md"]
    assert "| Short polling | 1000 (then p95 over the limit at 2000) | — |" in english
    sse = "| Server-Sent Events | at least 500 (the time budget ended before a step broke) |"
    assert f"{sse} none (failed requests already at 250) |" in english
    websocket_en = "| WebSocket | at least 4000 (every step asked for passed) |"
    assert f"{websocket_en} at least 2000 (Locust" in english
    assert "| Короткий опрос | 1000 (дальше — p95 выше предела на 2000) | — |" in russian
    websocket = reference_docs.RUSSIAN.titles["websocket"]
    assert f"| {websocket} | не меньше 4000 (пройдены все заданные ступени) |" in russian
    assert (
        "did not run the capacity scenario"
        in reference_docs.render_pages(build_summary())["capacity.md"]
    )


def test_a_strategy_page_shows_its_costs_or_that_the_run_did_not_measure_it() -> None:
    """The docs hook turns ``<!-- costs: KEY -->`` into the strategy's numbers in the reference
    run; a strategy the run did not measure (one added after it) gets a note, not numbers."""
    reference = load_if_present(reference_docs.REFERENCE_DIR)
    titles = reference_docs.strategy_titles()
    for language in LANGUAGE_DIRS:
        lang = docs_hook.phrases_of(language)
        costs = reference_docs.costs_page(reference, "sse", titles, lang)
        shown = docs_hook.costs_markdown("before\n<!-- costs: sse -->\nafter", language)
        assert shown == f"before\n{costs}\nafter"
    summary = build_summary()
    del summary["strategies"]["sse"]
    for lang in reference_docs.LANGUAGES:
        text = reference_docs.costs_page(summary, "sse", titles, lang)
        assert "`sse`" in text and summary["run_id"] in text and "|" not in text
