"""Charts with Russian labels: ``pushlab charts DIR --lang ru`` and the label table."""

# ruff: noqa: RUF001

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.text import Text

from benchmarks.report.chart_language import question_in, translate_figure
from benchmarks.report.charts import CHARTS
from benchmarks.report.reference_docs import RUSSIAN
from lab.cli import main as pushlab
from strategies import STRATEGIES
from tests.synthetic_summary import build_summary, save

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def figure_texts(figure: object) -> list[str]:
    """Every text a reader sees, category tick labels included (drawn on save)."""
    figure.canvas.draw()  # type: ignore[attr-defined]
    return [text.get_text() for text in figure.findobj(Text) if text.get_text()]  # type: ignore[attr-defined]


@pytest.mark.parametrize("chart", [pytest.param(chart, id=chart.file_name) for chart in CHARTS])
def test_every_chart_has_a_russian_title_axis_labels_and_strategy_names(chart: object) -> None:
    figure = translate_figure(chart.draw(build_summary(sweep=True)), "ru")  # type: ignore[attr-defined]
    texts = figure_texts(figure)
    assert CYRILLIC.search(figure._suptitle.get_text()), figure._suptitle.get_text()
    for axes in figure.axes:
        for label in (axes.get_xlabel(), axes.get_ylabel()):
            assert not label or CYRILLIC.search(label), label
    for key, strategy in STRATEGIES.items():
        if RUSSIAN.titles.get(key, strategy.title) != strategy.title:  # "Server-Sent Events" stays
            assert strategy.title not in texts, f"{strategy.title!r} left in English"
    numbers = [text for text in texts if re.fullmatch(r"[\d.,]+", text)]
    assert not [n for n in numbers if re.search(r"\d\.\d", n)], "decimal points left"


@pytest.mark.slow
def test_pushlab_charts_lang_ru_writes_russian_charts_beside_the_english(tmp_path: Path) -> None:
    run_dir = save(tmp_path / "run", build_summary())
    assert pushlab(["charts", str(run_dir), "--lang", "ru"]) == 0
    russian = {path.name for path in (run_dir / "charts" / "ru").glob("*.png")}
    assert russian and russian <= {chart.file_name for chart in CHARTS}
    assert not (run_dir / "report.md").exists(), "--lang ru leaves the report alone"
    assert pushlab(["charts", str(run_dir)]) == 0
    english = {path.name for path in (run_dir / "charts").glob("*.png")}
    assert english == russian, "the report's run draws both languages"


@pytest.mark.parametrize("chart", [pytest.param(chart, id=chart.file_name) for chart in CHARTS])
def test_every_chart_question_has_its_russian_caption(chart: object) -> None:
    """The docs' Russian pages caption each chart with its question in Russian; a question
    reworded in English has none until it is translated (the docs build then fails)."""
    question = question_in("ru", chart.question)  # type: ignore[attr-defined]
    assert CYRILLIC.search(question) and question.endswith("?")
    assert question_in("en", chart.question) == chart.question  # type: ignore[attr-defined]


def test_a_question_without_its_russian_is_an_error_not_an_english_caption() -> None:
    with pytest.raises(KeyError, match="RUSSIAN_QUESTIONS"):
        question_in("ru", "How many questions does a new chart ask?")
