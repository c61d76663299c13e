"""benchmarks/ is laid out by the way its data flows (load → run → results → report): each
step's folder imports only what docs/architecture.md says it may, and that page (in English
and Russian) names every module of every step. Read with ``ast``, never imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
STEPS = ("load", "run", "results", "report")

MAY_IMPORT: dict[str, set[str]] = {
    "results": {"benchmarks.results"},
    "load": {"benchmarks.load", "benchmarks.run.scenarios"},
    "run": {"benchmarks.run", "benchmarks.load", "benchmarks.results", "benchmarks.report"},
    "report": {
        "benchmarks.report",
        "benchmarks.results",
        "benchmarks.run.scenarios",
        "benchmarks.run.hotpaths",
    },
}
"""What each step may import from benchmarks/: the results module imports no other step,
Locust's side takes only the scenario it is asked to run, and the report never imports the
load. (The runner hands over to the report once, after saving: ``runner.draw_report``.)"""


def benchmark_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("benchmarks.")}


def allowed(name: str, prefixes: set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def modules(step: str) -> list[Path]:
    return sorted(p for p in (BENCHMARKS / step).glob("*.py") if p.name != "__init__.py")


def test_every_benchmark_module_belongs_to_a_step() -> None:
    loose = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "__init__.py")
    assert loose == [], "each module lives in the folder of its step"
    assert sorted(p.name for p in BENCHMARKS.iterdir() if p.is_dir() and p.name[0] != "_") == (
        sorted(STEPS)
    )


@pytest.mark.parametrize("step", STEPS)
def test_each_step_imports_only_what_the_flow_allows(step: str) -> None:
    wrong = {
        f"{path.name}: {name}"
        for path in modules(step)
        for name in benchmark_imports(path)
        if not allowed(name, MAY_IMPORT[step])
    }
    assert wrong == set()


@pytest.mark.parametrize("page", ["docs/architecture.md", "docs/ru/architecture.md"])
def test_the_architecture_page_names_every_module_in_its_steps_row(page: str) -> None:
    text = (REPO / page).read_text(encoding="utf-8")
    for step in STEPS:
        row = next(
            (line for line in text.splitlines() if f"| `benchmarks/{step}/` |" in line), None
        )
        assert row is not None, f"{page} has a row for benchmarks/{step}/"
        named = set(re.findall(r"`([a-z_]+\.py)`", row))
        assert {p.name for p in modules(step)} - named == set(), (page, step)
