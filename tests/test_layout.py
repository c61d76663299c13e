"""The house's layout, as docs/architecture.md states it (in English and Russian).

Three layers, each importing only those under it: the core (``lab/``), the strategies
(``strategies/``), the benchmark (``benchmarks/``) on top. The core's composition root
(``lab/settings.py``, ``lab/urls.py``, ``lab/asgi.py``, ``lab/cli.py``) loads the registry, and
the CLI reaches the benchmark through one lazy import; no file imports one that imports it back.
Inside ``benchmarks/``, each step of the data's flow (load → run → results → report) imports
only what the page says it may, and the page names every module of every step.

Every import counts, wherever it stands: at the top, inside a function, or under
``TYPE_CHECKING`` (a file that names another only in annotations still needs it to be read).
Read with ``ast``, never imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
LAYERS = ("lab", "strategies", "benchmarks")
"""From the ground up: a layer imports only the layers before it (and itself)."""
COMPOSITION_ROOT = {"lab.settings", "lab.urls", "lab.asgi", "lab.cli"}
"""The core's entry points, which load the registry: the only modules of ``lab/`` that import
``strategies/`` (the command line names the registry's techniques in its ``--help``)."""
CLI_DOOR = ("lab.cli", "benchmarks.run.cli")
"""The core's one way into the benchmark, imported inside a function (lazily)."""
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
load. (The run hands over to the report only once results are saved: ``runner.draw_report``
after a run, and ``pushlab charts`` through ``benchmarks.run.cli``.)"""


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


# --- the layers and the import graph of every file -------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One file importing another: ``lazy`` when the import stands inside a function."""

    source: str
    target: str
    lazy: bool


def module_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_of(path): path for layer in LAYERS for path in sorted((REPO / layer).rglob("*.py"))
}


def imported_modules(tree: ast.AST, lazy: bool = False) -> Iterator[tuple[str, bool]]:
    """The project's modules an import in ``tree`` loads, with whether it stands inside a
    function: ``from a import b`` is the module ``a.b`` if there is one, else ``a``."""
    for node in ast.iter_child_nodes(tree):
        inside = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if isinstance(node, ast.Import):
            yield from ((alias.name, inside) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                yield (name if name in MODULES else node.module), inside
        yield from imported_modules(node, inside)


def graph() -> set[Edge]:
    """Every import of one project module by another; lazy only if every import of the pair is."""
    edges: set[Edge] = set()
    for module, path in MODULES.items():
        lazy_only: dict[str, bool] = {}
        for target, lazy in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if target in MODULES and target != module:
                lazy_only[target] = lazy_only.get(target, True) and lazy
        edges |= {Edge(module, target, lazy) for target, lazy in lazy_only.items()}
    return edges


def layer(module: str) -> int:
    return LAYERS.index(module.partition(".")[0])


def test_the_graph_sees_the_imports_it_must() -> None:
    """The reading itself: known edges of each kind are found (lazy, top-level, into a
    package's ``__init__.py``)."""
    edges = graph()
    assert Edge("lab.cli", "benchmarks.run.cli", lazy=True) in edges
    assert Edge("lab.urls", "strategies", lazy=False) in edges
    assert Edge("benchmarks.run.runner", "benchmarks.run.capacity", lazy=False) in edges
    assert not any(edge.target == "benchmarks.run" for edge in edges)  # only modules taken


def test_each_layer_imports_only_the_layers_under_it() -> None:
    """The core imports neither ``strategies/`` nor ``benchmarks/`` but for its composition
    root (the registry) and the CLI's lazy door; ``strategies/`` never imports the benchmark."""
    upward = {
        f"{edge.source} -> {edge.target}"
        for edge in graph()
        if layer(edge.target) > layer(edge.source)
        and not (edge.source in COMPOSITION_ROOT and edge.target.startswith("strategies"))
        and not ((edge.source, edge.target) == CLI_DOOR and edge.lazy)
    }
    assert upward == set()


def cycles(edges: set[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    following: dict[str, list[str]] = {}
    for edge in edges:
        following.setdefault(edge.source, []).append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in following.get(module, []):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(following):
        if module not in index:
            visit(module)
    return found


def test_cycles_finds_a_circle() -> None:
    circle = {Edge("a", "b", False), Edge("b", "c", True), Edge("c", "a", False)}
    assert cycles(circle | {Edge("c", "d", False)}) == [["a", "b", "c"]]


def test_no_file_imports_one_that_imports_it_back() -> None:
    assert cycles(graph()) == []


# --- functions a reader can hold, and code that cites only what is in the repository ---------

LONGEST_FUNCTION = 60
"""Lines of a function in lab/, strategies/ or benchmarks/, counted from its ``def`` line to its
last line, docstring included (decorators not): longer ones are split into named steps."""


def function_lengths(path: Path, root: Path = REPO) -> Iterator[tuple[str, int]]:
    """``file:line name`` and lines of every function (methods and nested ones too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            yield f"{path.relative_to(root)}:{node.lineno} {node.name}", length


def test_a_functions_length_counts_its_def_and_docstring_not_its_decorators(
    tmp_path: Path,
) -> None:
    source = tmp_path / "module" / "example.py"
    source.parent.mkdir()
    source.write_text(
        "@decorated\n"
        "def step() -> None:\n"
        '    """What it does,\n'
        '    and why."""\n'
        "    return None\n"
        "\n"
        "class Holder:\n"
        "    async def method(self) -> int:\n"
        "        return 1\n"
    )
    assert dict(function_lengths(source, tmp_path)) == {
        "module/example.py:2 step": 4,
        "module/example.py:8 method": 2,
    }


def test_no_function_is_longer_than_a_reader_can_hold() -> None:
    long = {
        name: lines
        for path in MODULES.values()
        for name, lines in function_lengths(path)
        if lines > LONGEST_FUNCTION
    }
    assert long == {}


OUTSIDE_FILES = re.compile(r"DESIGN\.md|STACK-NOTES|STYLE\.md|/work/(?:shared|notes)/")
"""Notes the project was built from that live outside the repository: the code cites a file of
the repository, or states the fact itself."""
CITING_FOLDERS = (*LAYERS, "tests")


def test_the_code_cites_no_file_outside_the_repository() -> None:
    citing = sorted(
        f"{path.relative_to(REPO)}:{number}"
        for folder in CITING_FOLDERS
        for path in (REPO / folder).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE_FILES.search(line) and path != Path(__file__).resolve()
    )
    assert citing == []
