"""The notebooks are stored clean, only read results, and run: against the committed reference
run, and against schema-shaped summaries written to a temporary directory."""

# The Russian twins print Russian.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.synthetic_summary import build_summary, save

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ENGLISH_NOTEBOOKS = ["compare.ipynb", "scaling.ipynb"]
NOTEBOOK_NAMES = [
    *ENGLISH_NOTEBOOKS,
    *(name.replace(".ipynb", ".ru.ipynb") for name in ENGLISH_NOTEBOOKS),
]
"""Each English notebook and its Russian twin (``NAME.ru.ipynb``)."""
REFERENCE = REPO / "results" / "reference"


def notebook_cells(name: str) -> list[dict[str, Any]]:
    """A notebook's cells read as JSON, each source as one string. The fast tests read
    notebooks so: importing nbformat (jsonschema's format checkers) costs seconds."""
    cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
    return [{**cell, "source": "".join(cell["source"])} for cell in cells]


def files_under(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_mtime_ns
        for p in directory.rglob("*")
        if p.is_file()
    }


def run_notebook(name: str, results: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Execute a notebook against ``results``; return all its printed text.

    Fails if the notebook wrote anything into the results directory: notebooks only read.
    """
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PUSHLAB_RESULTS_DIR", str(results))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    before = files_under(results)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    assert files_under(results) == before, f"{name} changed {results}"
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    code_cells = [cell for cell in notebook_cells(name) if cell["cell_type"] == "code"]
    assert code_cells
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code_cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_is_valid_nbformat_4(name: str) -> None:
    import nbformat

    nbformat.validate(nbformat.read(NOTEBOOKS / name, as_version=4))


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_never_runs_a_benchmark(name: str) -> None:
    for cell in notebook_cells(name):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"]
        assert "subprocess" not in source and "os.system" not in source
        assert not any(line.lstrip().startswith(("!", "%")) for line in source.splitlines())
        assert "run_bench" not in source


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_runs_against_the_reference_run(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (REFERENCE / "summary.json").is_file():
        pytest.skip("results/reference/ holds no run yet (the lead commits the reference run)")
    printed = run_notebook(name, REFERENCE, monkeypatch)
    assert f"{'Читаю' if name.endswith('.ru.ipynb') else 'Reading'} {REFERENCE}" in printed


@pytest.mark.slow
def test_compare_reads_a_run_and_names_the_cheapest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_summary(sweep=True, idle=True)
    printed = run_notebook("compare.ipynb", save(tmp_path, summary), monkeypatch)
    chat = summary["strategies"]
    fewest = min(chat, key=lambda key: chat[key]["requests_per_delivery"])
    fastest = min(chat, key=lambda key: chat[key]["delivery_ms"]["p50"])
    assert f"Reading {tmp_path}: run {summary['run_id']}" in printed
    assert f"fewest: {_title(fewest)}" in printed
    assert f"lowest median: {_title(fastest)}" in printed
    assert f"{_title('short-polling'):15} busy" in printed, "busy and idle side by side"


@pytest.mark.slow
def test_compare_leaves_a_failed_strategy_out_and_says_when_idle_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_summary(failed="short-polling", idle=True)
    del summary["scenarios"]["idle"]  # as in a quick-profile run
    printed = run_notebook("compare.ipynb", save(tmp_path, summary), monkeypatch)
    assert f"FAILED: {summary['strategies']['short-polling']['failure']}" in printed
    assert "This run has no idle scenario" in printed
    assert f"fewest: {_title('short-polling')}" not in printed


@pytest.mark.slow
def test_scaling_fits_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = build_summary(sweep=True, idle=True)
    printed = run_notebook("scaling.ipynb", save(tmp_path, summary), monkeypatch)
    short = summary["sweep"]["short-polling"]
    clients = [point["clients"] for point in short]
    totals = [point["http_requests_per_client_per_min"] * point["clients"] for point in short]
    slope = np.polyfit(clients, totals, 1)[0]
    assert f"{_title('short-polling'):15} each extra client costs {slope:8.1f}" in printed


@pytest.mark.slow
def test_scaling_explains_a_run_without_a_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_summary(idle=True)
    printed = run_notebook("scaling.ipynb", save(tmp_path, summary), monkeypatch)
    assert "This run has no sweep" in printed
    assert "pushlab bench --profile full" in printed


def _title(key: str) -> str:
    from strategies import STRATEGIES

    return STRATEGIES[key].title


def make_recipe(target: str) -> str:
    """The commands of one Makefile target (its tab-indented lines)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert found, f"the Makefile has no `{target}` target"
    return found.group(1)


def test_make_notebooks_opens_jupyterlab_from_this_venv_on_the_notebooks() -> None:
    """`make notebooks` is the one command a person runs; JupyterLab itself is not started."""
    recipe = make_recipe("notebooks")
    assert "$(BIN)/jupyter lab" in recipe and "--notebook-dir=notebooks" in recipe
    assert "JUPYTER_PREFER_ENV_PATH=1" in recipe, "a user-wide python3 kernel must not win"
    assert "127.0.0.1" in recipe
    jupyter = Path(sys.executable).parent / "jupyter-lab"
    assert jupyter.exists(), "jupyterlab is in the dev extra: pip install -e '.[dev]'"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_the_notebooks_kernel_is_this_venvs_python(name: str) -> None:
    """The kernel the notebook names resolves, as `make notebooks` runs it, to .venv's python."""
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    kernel = notebook["metadata"]["kernelspec"]["name"]
    probe = (
        "import sys; from jupyter_client.manager import KernelManager;"
        f"manager = KernelManager(kernel_name={kernel!r});"
        "print(manager.format_kernel_cmd()[0]); print(manager.kernel_spec.resource_dir)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    executable, resource_dir = found.stdout.split()
    assert Path(executable) == Path(sys.executable), "the kernel runs this venv's python"
    assert Path(resource_dir).is_relative_to(sys.prefix), "the kernel spec is this venv's own"


@pytest.mark.slow
def test_scaling_leaves_saturated_points_out_of_its_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep point where the server used a whole core is drawn but never fitted."""
    summary = build_summary(sweep=True)
    short = summary["sweep"]["short-polling"]
    short[-1]["server_cpu_percent"] = 100.0
    short[-1]["http_requests_per_client_per_min"] *= 3  # what a saturated point can do to a fit
    printed = run_notebook("scaling.ipynb", save(tmp_path, summary), monkeypatch)
    assert f"saturated at [{short[-1]['clients']}] clients" in printed
    kept = short[:-1]
    clients = [point["clients"] for point in kept]
    totals = [point["http_requests_per_client_per_min"] * point["clients"] for point in kept]
    slope = np.polyfit(clients, totals, 1)[0]
    assert f"{_title('short-polling'):15} each extra client costs {slope:8.1f}" in printed


# --- the Russian twins ------------------------------------------------------------------------


def _russian_title(key: str) -> str:
    from benchmarks.report.reference_docs import RUSSIAN

    return RUSSIAN.titles.get(key) or _title(key)


@pytest.mark.parametrize("name", ENGLISH_NOTEBOOKS)
def test_the_russian_twin_has_the_same_cells_and_names(name: str) -> None:
    """The twin is the same notebook in Russian: the same cells in the same order, and every
    name a code cell of the English one defines (the knobs of the "Your turn" cells too)."""
    english = notebook_cells(name)
    russian = notebook_cells(name.replace(".ipynb", ".ru.ipynb"))
    assert [c["cell_type"] for c in russian] == [c["cell_type"] for c in english]
    for ours, theirs in zip(russian, english, strict=True):
        if theirs["cell_type"] == "code":
            defined = set(re.findall(r"^(?:def )?([A-Za-z_]\w*)\s*[=(]", theirs["source"], re.M))
            missing = {n for n in defined if not re.search(rf"\b{n}\b", ours["source"])}
            assert missing == set(), f"the Russian cell lacks {missing}:\n{ours['source'][:200]}"
        else:
            assert re.search(r"[а-яё]", ours["source"]), "a Russian markdown cell"


@pytest.mark.slow
def test_compare_in_russian_names_the_cheapest_in_russian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_summary(sweep=True, idle=True)
    printed = run_notebook("compare.ru.ipynb", save(tmp_path, summary), monkeypatch)
    chat = summary["strategies"]
    fewest = min(chat, key=lambda key: chat[key]["requests_per_delivery"])
    fastest = min(chat, key=lambda key: chat[key]["delivery_ms"]["p50"])
    assert f"Читаю {tmp_path}: прогон {summary['run_id']}" in printed
    assert f"меньше всех: {_russian_title(fewest)}" in printed
    assert f"самая низкая медиана: {_russian_title(fastest)}" in printed
    assert f"{_russian_title('short-polling'):22} оживлённо" in printed
    assert "Reading" not in printed and not re.search(r"\d\.\d", printed.split("\n", 1)[1])


@pytest.mark.slow
def test_compare_in_russian_leaves_a_failed_strategy_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = build_summary(failed="short-polling", idle=True)
    del summary["scenarios"]["idle"]
    printed = run_notebook("compare.ru.ipynb", save(tmp_path, summary), monkeypatch)
    assert f"ПРОВАЛ: {summary['strategies']['short-polling']['failure']}" in printed
    assert "В этом прогоне нет сценария idle" in printed
    assert f"меньше всех: {_russian_title('short-polling')}" not in printed


@pytest.mark.slow
def test_scaling_in_russian_fits_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = build_summary(sweep=True, idle=True)
    printed = run_notebook("scaling.ru.ipynb", save(tmp_path, summary), monkeypatch)
    short = summary["sweep"]["short-polling"]
    clients = [point["clients"] for point in short]
    totals = [point["http_requests_per_client_per_min"] * point["clients"] for point in short]
    slope = f"{np.polyfit(clients, totals, 1)[0]:.1f}".replace(".", ",")
    assert f"{_russian_title('short-polling'):22} каждый лишний клиент стоит {slope:>8}" in printed
    summary = build_summary(idle=True)
    printed = run_notebook("scaling.ru.ipynb", save(tmp_path / "no-sweep", summary), monkeypatch)
    assert "В этом прогоне нет серии sweep" in printed
