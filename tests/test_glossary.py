"""One Russian term per concept: the glossary (docs/ru/glossary.md) names the chosen term and
the rejected variants, and no rejected variant appears in the Russian text a reader sees."""

# ruff: noqa: RUF001

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"

REJECTED: dict[str, tuple[str, dict[str, str]]] = {
    # concept: (the chosen term, {rejected variant as the glossary writes it: its pattern})
    "frame": ("кадр", {"фрейм": r"\bфрейм(?!ворк)\w*"}),
    "channel layer": ("канальный слой", {"слой каналов": r"\bсло(?:й|я|ю|ем|е) каналов\b"}),
    "timeout": ("тайм-аут", {"таймаут": r"\bтаймаут\w*"}),
    "consumer": (
        "consumer",
        {"консьюмер": r"\bконсьюмер\w*", "потребитель": r"\bпотребител\w*"},
    ),
    "WebSocket": ("веб-сокет", {"вебсокет": r"\bвебсокет\w*"}),
    "delivery latency": ("задержка доставки", {"латентность": r"\bлатентност\w*"}),
}
"""The concepts with more than one Russian word in use; each row also stands in the glossary."""


def notebook_text(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def russian_texts() -> dict[str, str]:
    """Every Russian text of the lab, glossary aside: pages, generated numbers, the
    generator's and the charts' phrases, the Russian notebooks."""
    files = [
        *(p for p in (DOCS / "ru").rglob("*.md") if p.name != "glossary.md"),
        *(DOCS / "_generated").glob("*.ru.md"),
        REPO / "benchmarks" / "report" / "phrases" / "ru.toml",
        REPO / "benchmarks" / "report" / "chart_language.py",
    ]
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in files}
    for notebook in (REPO / "notebooks").glob("*.ru.ipynb"):
        texts[str(notebook.relative_to(REPO))] = notebook_text(notebook)
    return {**texts, **russian_of_the_registry()}


def russian_of_the_registry() -> dict[str, str]:
    """Each row's Russian (its title, its capacity reason) and the costs table the docs hook
    draws on its Russian page."""
    from benchmarks.report import reference_docs
    from benchmarks.results.summary import load_if_present
    from strategies import STRATEGIES

    summary = load_if_present(reference_docs.REFERENCE_DIR)
    titles = reference_docs.strategy_titles()
    texts = {}
    for key, strategy in STRATEGIES.items():
        row = [strategy.titles.get("ru", ""), strategy.capacity_reason.get("ru", "")]
        costs = reference_docs.costs_page(summary, key, titles, reference_docs.RUSSIAN)
        texts[f"the registry row {key}"] = "\n".join([*row, costs])
    return texts


@pytest.mark.parametrize("concept", sorted(REJECTED))
def test_no_rejected_variant_in_the_russian_text(concept: str) -> None:
    chosen, rejected = REJECTED[concept]
    found = {
        name: sorted(set(re.findall(pattern, text, flags=re.IGNORECASE)))
        for name, text in russian_texts().items()
        for pattern in rejected.values()
        if re.search(pattern, text, flags=re.IGNORECASE)
    }
    assert found == {}, f"{concept} is «{chosen}» in Russian (docs/ru/glossary.md)"


def glossary_rows(page: Path) -> dict[str, list[str]]:
    """The glossary's table rows: the English term → the row's cells."""
    rows = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4:
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("concept", sorted(REJECTED))
def test_the_glossary_names_the_chosen_term_and_the_rejected_ones(concept: str) -> None:
    chosen, rejected = REJECTED[concept]
    for page in (DOCS / "glossary.md", DOCS / "ru" / "glossary.md"):
        row = glossary_rows(page).get(concept)
        assert row, f"{page.relative_to(REPO)} has no row for {concept!r}"
        assert row[1].startswith(chosen), row
        assert [word.strip() for word in row[2].split(",")] == list(rejected), row


def test_the_patterns_catch_what_they_reject() -> None:
    """Each pattern matches its variant's inflected forms and not the chosen term."""
    samples = {
        "фрейм": "по фрейму",
        "слой каналов": "очередь слоя каналов",
        "таймаут": "по таймауту",
        "консьюмер": "консьюмеры",
        "потребитель": "потребителя",
        "вебсокет": "вебсокеты",
        "латентность": "латентности",
    }
    for chosen, rejected in REJECTED.values():
        for word, pattern in rejected.items():
            assert re.search(pattern, samples[word], flags=re.IGNORECASE), word
            assert not re.search(pattern, chosen, flags=re.IGNORECASE), word
    assert not re.search(REJECTED["frame"][1]["фрейм"], "фреймворк")
