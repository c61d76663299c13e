"""Charts and report.md drawn from synthetic summary.json files (no benchmark run needed)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from benchmarks.report import markdown as report
from benchmarks.report.chart_parts import FAILED_COLOUR, run_context, select_charted
from benchmarks.report.charts import CHARTS, select_sweep
from lab.cli import main as pushlab
from strategies import STRATEGIES
from tests.synthetic_summary import (
    PROFILES,
    build_summary,
    save,
    strategy_result,
)

MAIN_CHARTS = {
    "requests_per_delivery.png",
    "requests_per_client_per_min.png",
    "delivery_latency.png",
    "delivery_cdf.png",
    "bytes_per_delivery.png",
    "server_cpu_per_delivery.png",
    "redis_commands_per_delivery.png",
    "db_queries_per_client_per_min.png",
    "timeline.png",
}
SWEEP_CHARTS = {"sweep_cost.png", "sweep_latency.png"}
FLOOR_CHARTS = {"framework_tax.png", "server_and_layer.png"}
CAPACITY_CHARTS = {"capacity_clients.png", "capacity_steps.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report_text(summary: dict[str, Any]) -> str:
    """report.md for ``summary`` without drawing: the tests of its wording need no PNGs."""
    return report.render_report(summary, report.applicable_charts(summary))


def drawn_charts(run_dir: Path) -> set[str]:
    return {path.name for path in (run_dir / "charts").glob("*.png")}


def assert_real_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    height, width, _ = imread(path).shape
    assert width >= 600 and height >= 400, (path, width, height)


@pytest.fixture
def english_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """``write_report`` draws the English charts only, not the Russian twins as well: for the
    tests that read only the English ones (half the drawing, the suite's slowest part here).
    The Russian charts are checked where both are drawn below and in test_chart_language."""
    monkeypatch.setattr(report, "LANGUAGES", ("en",))


def russian_charts(run_dir: Path) -> set[str]:
    return {path.name for path in (run_dir / "charts" / "ru").glob("*.png")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "expected", "in_russian"),
    [
        pytest.param({}, MAIN_CHARTS, False, id="ok"),
        pytest.param({"sweep": True}, MAIN_CHARTS | SWEEP_CHARTS, True, id="sweep"),
        pytest.param({"failed": "long-polling"}, MAIN_CHARTS, False, id="failed"),
        pytest.param({"zero_deliveries": True}, MAIN_CHARTS, True, id="zero-deliveries"),
    ],
)
def test_every_applicable_chart_is_a_real_png_embedded_in_the_report(
    tmp_path: Path,
    variant: dict[str, Any],
    expected: set[str],
    in_russian: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not in_russian:
        monkeypatch.setattr(report, "LANGUAGES", ("en",))
    run_dir = save(tmp_path / "run", build_summary(**variant))
    written = report.write_report(run_dir)
    assert drawn_charts(run_dir) == expected
    assert russian_charts(run_dir) == (expected if in_russian else set())
    assert {path.name for path in written} == expected | {"report.md"}
    for name in expected:
        assert_real_png(run_dir / "charts" / name)
    text = (run_dir / "report.md").read_text()
    assert text.startswith("# pushlab benchmark report: 20261124-001500-quick")
    for name in expected:
        assert f"](charts/{name})" in text
    for name in (MAIN_CHARTS | SWEEP_CHARTS | FLOOR_CHARTS) - expected:
        assert name not in text
    for strategy in STRATEGIES.values():
        assert strategy.title in text


def test_chart_table_names_every_chart_of_the_schema_with_a_question() -> None:
    assert {
        chart.file_name for chart in CHARTS
    } == MAIN_CHARTS | SWEEP_CHARTS | FLOOR_CHARTS | CAPACITY_CHARTS
    assert len(CHARTS) == len(MAIN_CHARTS | SWEEP_CHARTS | FLOOR_CHARTS | CAPACITY_CHARTS)
    for chart in CHARTS:
        assert chart.title and chart.question.endswith("?") and callable(chart.draw)
    assert report.CHARTS is CHARTS


def test_failed_strategy_is_flagged_first_and_never_charted() -> None:
    summary = build_summary(failed="long-polling")
    selection = select_charted(summary["strategies"])
    assert [key for key, _ in selection.charted] == [k for k in STRATEGIES if k != "long-polling"]
    assert selection.failed == {"long-polling": "7 of 1090 deliveries were lost"}

    text = report_text(summary)
    flag = text.index("**FAILED: Long polling**: 7 of 1090 deliveries were lost")
    assert flag < text.index("## What the numbers show")
    reading = text[text.index("## What the numbers show") : text.index("## Results")]
    assert "Left out of this reading because they failed: Long polling." in reading
    assert "Long polling 6.1" not in reading
    row = next(line for line in text.splitlines() if line.startswith("| Long polling |"))
    assert "**FAILED**" in row and "7 / 0 / 0 / 0" in row and "1,083 of 1,090" in row
    numeric_columns = sum(not column.diagnostic for column in report.RESULT_COLUMNS)
    assert "6.1" not in row and row.count("—") == numeric_columns


def test_a_run_older_than_the_in_flight_count_shows_it_unknown_not_zero() -> None:
    summary = build_summary()
    for result in summary["strategies"].values():
        del result["in_flight"]
        result["lost"] = 3
    row = next(
        line for line in report_text(summary).splitlines() if line.startswith("| Long polling |")
    )
    assert "3 / n/a / 0 / 0" in row, row


@pytest.mark.parametrize(
    "chart",
    [pytest.param(chart, id=chart.file_name) for chart in CHARTS if chart.file_name in MAIN_CHARTS],
)
def test_a_failed_strategy_has_no_bar_line_or_label_only_a_failed_note(chart: Any) -> None:
    failed = STRATEGIES["long-polling"]
    figure = chart.draw(build_summary(failed="long-polling"))
    texts = [text.get_text() for text in figure.findobj(Text)]
    assert any(text.startswith(f"FAILED: {failed.title}: 7 of 1090") for text in texts)
    assert failed.title not in texts  # no tick label, no legend entry
    colour = to_rgba(failed.colour)
    assert not [bar for bar in figure.findobj(Rectangle) if bar.get_facecolor() == colour]
    assert not [line for line in figure.findobj(Line2D) if to_rgba(line.get_color()) == colour]


def test_a_failed_sweep_point_is_left_out_and_flagged() -> None:
    summary = build_summary(sweep=True)
    summary["sweep"]["websocket"][1].update(status="failed", failure="the server crashed")
    lines = {line.key: line for line in select_sweep(summary)}
    assert [point["clients"] for point in lines["websocket"].points] == [10, 80]
    assert lines["websocket"].failed == [(40, "the server crashed")]
    assert [point["clients"] for point in lines["short-polling"].points] == [10, 40, 80]
    text = report_text(summary)
    assert "**FAILED (sweep): WebSocket at 40 clients: the server crashed**" in text


def test_reading_is_generated_from_the_numbers() -> None:
    summary = build_summary()
    text = report_text(summary)
    assert "Short polling made 72.1 (0.661 per delivered message)" in text
    assert "WebSocket made 2 (0.0183 per delivered message)" in text
    assert "Lowest median (p50) delivery latency: WebSocket, 4.2 ms (then " in text
    assert "Long polling 6.1 ms, " in text and ", Short polling 503 ms)." in text
    assert (
        "Short polling: one poll every 1000 ms (60) plus the client's own 10.9 sends predicts "
        "HTTP requests per client per minute near 70.9. This run measured 72.1, which agrees."
        in text
    )
    assert (
        "half a poll interval for the next poll (1000 / 2) predicts a median (p50) delivery "
        "latency, in ms, near 500. This run measured 503, which agrees." in text
    )

    slow = copy.deepcopy(summary)
    slow["strategies"]["short-polling"]["delivery_ms"]["p50"] = 1400.0
    slow["strategies"]["short-polling"]["http_requests_per_client_per_min"] = 20.0
    text = report_text(slow)
    assert "This run measured 1,400, which is well above it (expected 250 to 750)" in text
    assert "This run measured 20, which is well below it (expected 56.7 to 85.1)" in text


def test_zero_deliveries_are_reported_as_not_available() -> None:
    text = report_text(build_summary(zero_deliveries=True))
    assert (
        "No messages were delivered, so every per-delivery number and every latency is n/a." in text
    )
    row = next(line for line in text.splitlines() if line.startswith("| WebSocket |"))
    assert "| 0 of 0 |" in row and "| n/a |" in row


def test_saturation_other_scenarios_and_provenance_are_in_the_report() -> None:
    summary = build_summary(sweep=True)
    summary["strategies"]["short-polling"].update(locust_saturated=True, locust_cpu_percent=97.0)
    summary["scenarios"]["idle"] = {key: strategy_result(key, messages=0) for key in PROFILES}
    summary["scenarios"]["idle"]["short-polling"]["http_requests_per_client_per_min"] = 60.3
    summary["scenarios"]["fanout"] = {key: strategy_result(key, messages=30) for key in PROFILES}
    summary["scenarios"]["fanout"]["websocket"]["http_requests_per_client_per_min"] = 1.5
    summary["scenarios"]["sweep"] = {key: steps[-1] for key, steps in summary["sweep"].items()}
    text = report_text(summary)
    assert "**Load generator saturated: Short polling** (Locust used 97% CPU)" in text
    assert "| Short polling | ok, Locust saturated |" in text
    sections = [line for line in text.splitlines() if line.startswith("## Scenario")]
    assert sections == ["## Scenario `idle`", "## Scenario `fanout`"]
    assert "## Sweep" in text
    assert (
        "With nobody writing (scenario `idle`), HTTP requests per client per minute were: "
        "Short polling 60.3 (72.1 in `chat`)," in text
    )
    assert (
        "In scenario `fanout` (30 messages sent per run on average, 109 in `chat`), HTTP "
        "requests per client per minute were: " in text
    )
    assert "WebSocket 1.5 (2 in `chat`)" in text
    provenance = text[text.index("## Provenance") :]
    for fact in (
        "git sha: `0123456789abcdef0123456789abcdef01234567`",
        "daphne `4.2.3`",
        "cpus `2`",
        "poll_interval_ms `1000`",
        "ASGI server under test: daphne",
        "pushlab charts results/20261124-001500-quick",
    ):
        assert fact in provenance


@pytest.mark.slow
@pytest.mark.usefixtures("english_only")
def test_redraw_is_pure_and_drops_charts_that_no_longer_apply(tmp_path: Path) -> None:
    run_dir = save(tmp_path / "run", build_summary(sweep=True))
    assert report.redraw(run_dir) == 0
    first = (run_dir / "report.md").read_text()
    assert report.redraw(run_dir) == 0
    assert (run_dir / "report.md").read_text() == first
    save(run_dir, build_summary())
    assert report.redraw(run_dir) == 0
    assert drawn_charts(run_dir) == MAIN_CHARTS


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(lambda d: None, "no such results directory", id="missing-dir"),
        pytest.param(lambda d: d.mkdir(), "has no summary.json", id="no-summary"),
        pytest.param(
            lambda d: (d.mkdir(), (d / "summary.json").write_text("{not json")),
            "summary.json is not valid JSON",
            id="invalid-json",
        ),
        pytest.param(
            lambda d: (d.mkdir(), (d / "summary.json").write_text('{"strategies": []}')),
            "does not follow the results schema",
            id="wrong-shape",
        ),
    ],
)
def test_redraw_refuses_a_bad_directory_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Any, message: str
) -> None:
    run_dir = tmp_path / "run"
    setup(run_dir)
    assert report.redraw(run_dir) == 2
    error = capsys.readouterr().err
    assert error.startswith("pushlab charts: ") and message in error
    assert error.count("\n") == 1


@pytest.mark.slow
@pytest.mark.usefixtures("english_only")
def test_pushlab_charts_command_redraws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = save(tmp_path / "run", build_summary())
    assert pushlab(["charts", str(run_dir)]) == 0
    assert drawn_charts(run_dir) == MAIN_CHARTS
    assert (run_dir / "report.md").is_file()
    assert pushlab(["charts", str(tmp_path / "missing")]) == 2
    assert "no such results directory" in capsys.readouterr().err


@pytest.mark.slow
def test_a_crashed_strategy_without_numbers_and_an_unknown_strategy_still_report(
    tmp_path: Path,
) -> None:
    summary = build_summary(sweep=True)
    summary["strategies"]["websocket"] = {"status": "failed", "failure": "the server crashed"}
    summary["strategies"]["sse"] = strategy_result("websocket")
    summary["sweep"]["websocket"] = [{"status": "failed", "failure": "the server crashed"}]
    run_dir = save(tmp_path / "run", summary)
    report.write_report(run_dir)
    assert drawn_charts(run_dir) == MAIN_CHARTS | SWEEP_CHARTS
    text = (run_dir / "report.md").read_text()
    assert "> **FAILED: WebSocket**: the server crashed." in text
    assert "**FAILED (sweep): WebSocket at an unrecorded client count: the server crashed**" in text
    row = next(line for line in text.splitlines() if line.startswith("| WebSocket |"))
    assert "| **FAILED** | n/a | n/a | n/a | n/a / n/a / n/a / n/a |" in row
    assert [key for key, _ in select_charted(summary["strategies"]).charted] == [
        key
        for key in STRATEGIES
        if key != "websocket"  # registry order, the crashed one out
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("english_only")
def test_a_run_where_every_strategy_failed_draws_empty_charts_and_says_so(tmp_path: Path) -> None:
    summary = build_summary()
    for result in summary["strategies"].values():
        result.update(status="failed", failure="the server did not start")
    assert select_charted(summary["strategies"]).charted == []
    run_dir = save(tmp_path / "run", summary)
    report.write_report(run_dir)
    for name in MAIN_CHARTS:
        assert_real_png(run_dir / "charts" / name)
    text = (run_dir / "report.md").read_text()
    assert "No strategy finished successfully, so there is nothing to compare." in text
    assert text.count("the server did not start") == len(STRATEGIES)


def test_sweep_charts_name_the_sweep_and_its_own_step_length() -> None:
    summary = build_summary(sweep=True)
    summary["config"]["duration_s"] = 45
    for steps in summary["sweep"].values():
        for step in steps:
            step["duration_s"] = 25
    line = run_context(summary, sweep=True)
    assert "scenario sweep" in line and "25 s per step" in line and "45 s" not in line
    assert "scenario chat" in run_context(summary) and "45 s" in run_context(summary)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda chart: chart.file_name)
def test_no_bar_stands_on_a_log_axis(chart: Any) -> None:
    """On a log axis a bar starts at an arbitrary decade, so its length misleads: dots only."""
    summary = build_summary(sweep=True, idle=True)
    figure = chart.draw(summary)
    for axes in figure.axes:
        if axes.get_yscale() == "log":
            bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
            assert bars == [], f"{chart.file_name}: {len(bars)} bars on a log axis"


def test_requests_per_client_per_min_shows_busy_and_idle_side_by_side() -> None:
    chart = next(c for c in CHARTS if c.file_name == "requests_per_client_per_min.png")
    summary = build_summary(idle=True)
    figure = chart.draw(summary)
    busy_axes, idle_axes = figure.axes[:2]
    assert "busy" in busy_axes.get_title() and "idle" in idle_axes.get_title()
    assert busy_axes.get_ylim() == idle_axes.get_ylim(), "one scale, so heights compare"
    idle_rates = {
        key: f"{result['http_requests_per_client_per_min']:.3g}"
        for key, result in summary["scenarios"]["idle"].items()
    }
    shown = {text.get_text() for text in idle_axes.texts}
    assert set(idle_rates.values()) <= shown, (idle_rates, shown)
    without_idle = chart.draw(build_summary())
    notes = " ".join(text.get_text() for text in without_idle.findobj(Text))
    assert "No idle scenario in this run" in notes


def test_a_server_saturated_sweep_point_is_ringed_and_never_fitted() -> None:
    from benchmarks.report.charts import fits_a_line

    summary = build_summary(sweep=True)
    point = summary["sweep"]["long-polling"][-1]
    point["server_cpu_percent"] = 99.0
    assert not fits_a_line(point) and fits_a_line(summary["sweep"]["long-polling"][0])
    for file_name in ("sweep_cost.png", "sweep_latency.png"):
        chart = next(c for c in CHARTS if c.file_name == file_name)
        figure = chart.draw(summary)
        rings = [
            line
            for axes in figure.axes
            for line in axes.get_lines()
            if to_rgba(line.get_markeredgecolor()) == to_rgba(FAILED_COLOUR)
            and line.get_markerfacecolor() == "none"
        ]
        assert rings, f"{file_name} does not mark the saturated point"
        notes = " ".join(text.get_text() for text in figure.findobj(Text))
        assert "server saturated" in notes


def with_floor_and_variants(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as ``pushlab bench`` writes it now: the floor, each strategy's hot path and
    its multiple of the floor, and the chat scenario under each server and layer."""
    jobs = {"short-polling": "poll", "long-polling": "long-poll", "websocket": "broadcast"}
    floor = {"poll": 0.04, "long-poll": 0.06, "broadcast": 0.015, "post": 0.12}
    summary["floor"] = {
        "server": "uvicorn",
        **{job: {"unit": "x", "units": 100, "cpu_ms_per_unit": ms} for job, ms in floor.items()},
    }
    for key, result in summary["strategies"].items():
        job = jobs.get(key)
        mine = {job: floor[job] * 20, "post": 2.0} if job else {"post": 2.0}
        result["hot_path"] = {"job": job}
        result["framework_tax"] = {
            name: {"cpu_ms_per_unit": ms, "floor_cpu_ms_per_unit": floor[name],
                   "ratio": ms / floor[name], "unit": "x"}
            for name, ms in mine.items()
        }  # fmt: skip
    for name in ("chat-daphne", "chat-uvicorn"):
        summary["scenarios"][name] = dict(summary["strategies"])
    summary["scenarios"]["chat-pubsub-layer"] = {"websocket": summary["strategies"]["websocket"]}
    return summary


@pytest.mark.slow
def test_framework_tax_and_variant_charts_are_drawn_and_reported(tmp_path: Path) -> None:
    run_dir = save(tmp_path / "run", with_floor_and_variants(build_summary()))
    report.write_report(run_dir)
    assert drawn_charts(run_dir) == MAIN_CHARTS | FLOOR_CHARTS
    for name in FLOOR_CHARTS:
        assert_real_png(run_dir / "charts" / name)
    text = (run_dir / "report.md").read_text()
    assert "## Framework tax" in text and "poll 0.04 ms" in text
    assert "short-polling: poll 0.8 ms (20x the floor), post 2 ms (17x the floor)." in text
