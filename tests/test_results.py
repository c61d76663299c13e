"""The results module (benchmarks/results/summary.py): its records are the contract every
writer and reader of summary.json keeps, and the docs' schema tables are drawn from them."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import docs_hook
from benchmarks.report.reference_docs import REFERENCE_DIR
from benchmarks.results.summary import (
    COSTS,
    FIGURES,
    MEASURED,
    RECORDS,
    SUMMARY_FILE,
    CapacityResult,
    CapacityStep,
    Config,
    DeliveryMs,
    ResultsError,
    StrategyResult,
    Summary,
    format_figure,
    format_number,
    load,
    save,
    schema_markdown,
)
from benchmarks.run.scenarios import CHAT
from tests.synthetic_summary import build_summary

REPO = Path(__file__).resolve().parent.parent


def keys_of(record: type) -> set[str]:
    return set(typing.get_type_hints(record))


def result_keys(results: Iterable[Mapping[str, Any]]) -> set[str]:
    return {key for result in results for key in result}


def every_result(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    results = list(summary.get("strategies", {}).values())
    results += [r for by_key in summary.get("scenarios", {}).values() for r in by_key.values()]
    results += [r for points in (summary.get("sweep") or {}).values() for r in points]
    return results


def summaries() -> list[Any]:
    found = [
        pytest.param(build_summary(sweep=True, idle=True), id="synthetic"),
        pytest.param(build_summary(failed="websocket"), id="synthetic-failed"),
    ]
    if (REFERENCE_DIR / SUMMARY_FILE).is_file():
        found.append(pytest.param(load(REFERENCE_DIR), id="reference"))
    return found


@pytest.mark.parametrize("summary", summaries())
def test_every_key_a_run_holds_is_declared_in_the_records(summary: Mapping[str, Any]) -> None:
    assert set(summary) - keys_of(Summary) == set()
    assert set(summary.get("config", {})) - keys_of(Config) == set()
    assert result_keys(every_result(summary)) - keys_of(StrategyResult) == set()
    latency = [r["delivery_ms"] for r in every_result(summary) if r.get("delivery_ms")]
    assert result_keys(latency) - keys_of(DeliveryMs) == set()
    capacity = [c for by_load in (summary.get("capacity") or {}).values() for c in by_load.values()]
    assert result_keys(capacity) - keys_of(CapacityResult) == set()
    steps = [step for figures in capacity for step in figures.get("steps", [])]
    assert result_keys(steps) - keys_of(CapacityStep) == set()


def test_a_failed_result_has_every_measured_key_and_only_declared_ones() -> None:
    from benchmarks.run.locust_run import failed_result

    result = failed_result(CHAT, None, "no server")
    assert set(MEASURED) <= set(result) <= keys_of(StrategyResult)
    assert all(result.get(name) is None for name in MEASURED)


def test_every_figure_names_a_number_of_a_result() -> None:
    for name in FIGURES:
        block, dot, key = name.partition(".")
        assert block in keys_of(StrategyResult), name
        if dot:
            assert key in keys_of(DeliveryMs), name
    assert set(COSTS) <= set(FIGURES)


def test_the_reference_run_loads_and_saves_byte_for_byte(tmp_path: Path) -> None:
    """A refactor of the module never changes the file: load and save give back its bytes."""
    if not (REFERENCE_DIR / SUMMARY_FILE).is_file():
        pytest.skip("results/reference/ holds no run yet")
    saved = save(load(REFERENCE_DIR), tmp_path)
    assert saved.read_bytes() == (REFERENCE_DIR / SUMMARY_FILE).read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "has no summary.json", id="missing"),
        pytest.param("{", "is not valid JSON", id="not-json"),
        pytest.param("[]", "the top level is not an object", id="not-an-object"),
        pytest.param('{"strategies": []}', "'strategies' must map", id="strategies"),
        pytest.param('{"strategies": {}, "sweep": {"x": 1}}', "'sweep' must map", id="sweep"),
        pytest.param(
            '{"strategies": {}, "capacity": {"x": []}}', "'capacity' must map", id="capacity"
        ),
    ],
)
def test_a_malformed_run_is_one_line_that_says_what_is_wrong(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / SUMMARY_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ResultsError) as error:
        load(tmp_path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_one_formatter_for_tables_sentences_and_the_docs() -> None:
    assert [format_number(v) for v in (None, 0, 0.01834, 0.56, 61.24, 1090.0)] == [
        "n/a", "0", "0.0183", "0.56", "61.2", "1,090",
    ]  # fmt: skip
    assert format_number(1090.0, missing="—", thousands="") == "1090"
    assert format_number(None, missing="—") == "—"
    result = {"clients": 1200, "delivery_ms": {"p50": 7.694}}
    assert format_figure(result, "clients") == "1,200"
    assert format_figure(result, "delivery_ms.p50") == "7.69"
    assert format_figure(result, "delivery_ms.p95") == "n/a"


class _Page:
    def __init__(self, src_uri: str) -> None:
        self.file = type("File", (), {"src_uri": src_uri})()


@pytest.mark.parametrize(
    ("page", "language"), [("metrics.md", "en"), ("ru/metrics.md", "ru")], ids=["en", "ru"]
)
def test_the_docs_schema_is_generated_from_the_records(page: str, language: str) -> None:
    """docs/metrics.md (and its Russian twin) carry the marker, never a hand-kept key list;
    the hook replaces it with a table per record, naming every key the records declare."""
    source = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert source.count(docs_hook.SCHEMA_MARKER) == 1
    built = docs_hook.on_page_markdown(source, _Page(page), {}, None)
    assert docs_hook.SCHEMA_MARKER not in built
    assert schema_markdown(language) in built
    for _, record in RECORDS:
        assert f"**`{record.__name__}`**" in built
        for key in typing.get_type_hints(record):
            assert f"| `{key}` |" in built, (record.__name__, key)


def test_the_saved_file_is_indented_json_with_a_final_newline(tmp_path: Path) -> None:
    summary: Summary = {"run_id": "x", "strategies": {}}
    text = save(summary, tmp_path).read_text(encoding="utf-8")
    assert text == json.dumps(summary, indent=2) + "\n"
    assert load(tmp_path) == summary
