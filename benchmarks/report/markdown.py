"""report.md and the charts of a run, as a pure function of its saved summary.json.

``pushlab bench`` calls ``write_report`` after each run; ``pushlab charts RESULTS_DIR``
calls ``redraw``, so a student can redraw old results after changing a chart.
Nothing here reads the clock, the machine or the run directory's path: the same
summary.json always gives the same report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.report.capacity_report import capacity_section
from benchmarks.report.chart_language import LANGUAGES, translate_figure
from benchmarks.report.chart_parts import (
    failure_reason,
    registry_order,
    select_charted,
    strategy_title,
)
from benchmarks.report.charts import CHARTS, Chart, select_sweep, strategy_predictions
from benchmarks.results.summary import (
    FIGURES,
    ResultsError,
    StrategyResult,
    Summary,
    format_figure,
    format_number,
    is_failed,
    is_saturated,
    latency,
    load,
    number,
)
from strategies.base import measured

__all__ = ["CHARTS", "Chart", "redraw", "write_report"]

REPORT_FILE = "report.md"
CHARTS_DIR = "charts"
MAIN_SCENARIO = "chat"
SWEEP_SCENARIO = "sweep"
"""The runner also files the sweep's largest step under this scenario name."""


# --- writing ----------------------------------------------------------------------------


def applicable_charts(summary: Summary) -> list[Chart]:
    return [chart for chart in CHARTS if chart.applies(summary)]


def write_charts(summary: Summary, charts_dir: Path, language: str = "en") -> list[Path]:
    """Draw every applicable chart as PNG; remove table charts that no longer apply.

    ``language`` other than ``en`` rewrites each figure's texts
    (``benchmarks.report.chart_language``).
    """
    charts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    drawn = applicable_charts(summary)
    for chart in drawn:
        path = charts_dir / chart.file_name
        figure = translate_figure(chart.draw(summary), language)
        figure.savefig(path, format="png", dpi=110)
        written.append(path)
    for chart in CHARTS:
        if chart not in drawn:
            (charts_dir / chart.file_name).unlink(missing_ok=True)
    return written


def write_report(run_dir: Path) -> list[Path]:
    """Draw every applicable chart into ``run_dir/charts/`` (and, with Russian labels, into
    ``charts/ru/``) and write ``run_dir/report.md``.

    Returns the files written. Raises ResultsError when summary.json is missing or invalid.
    """
    summary = load(run_dir)
    written = write_charts(summary, run_dir / CHARTS_DIR)
    for language in LANGUAGES[1:]:  # the docs' Russian pages show charts/ru/
        write_charts(summary, run_dir / CHARTS_DIR / language, language)
    report = run_dir / REPORT_FILE
    report.write_text(render_report(summary, applicable_charts(summary)), encoding="utf-8")
    return [*written, report]


def write_translated_charts(run_dir: Path, language: str) -> list[Path]:
    """``pushlab charts DIR --lang ru``: the same charts with Russian labels, in
    ``DIR/charts/ru/`` (the English ones and report.md are left as they are)."""
    summary = load(run_dir)
    return write_charts(summary, run_dir / CHARTS_DIR / language, language)


def redraw(run_dir: Path, language: str = "en") -> int:
    """``pushlab charts RESULTS_DIR``: 0 when redrawn; 2 with a one-line error otherwise."""
    try:
        if language != "en":
            charts = write_translated_charts(run_dir, language)
            print(f"pushlab charts: wrote {len(charts)} charts to {charts[0].parent}")
            return 0
        written = write_report(run_dir)
    except ResultsError as error:
        print(f"pushlab charts: {error}", file=sys.stderr)
        return 2
    print(f"pushlab charts: wrote {len(written) - 1} charts and {written[-1]}")
    return 0


# --- the report -------------------------------------------------------------------------


def render_report(summary: Summary, charts: Sequence[Chart]) -> str:
    """The whole report.md: warnings, reading, tables, charts, provenance, how to redraw."""
    run_id = summary.get("run_id", "unknown run")
    main = main_scenario(summary)
    sections = [
        f"# pushlab benchmark report: {run_id}",
        *flags(summary),
        run_line(summary),
        "## What the numbers show\n\n" + "\n".join(f"- {line}" for line in reading(summary)),
        f"## Results (scenario `{main}`)\n\n"
        + results_table(summary["strategies"], RESULT_COLUMNS),
        framework_tax_section(summary),
        "## Charts\n\n" + "\n\n".join(chart_section(chart) for chart in charts),
        *other_scenarios(summary),
        *sweep_section(summary),
        *capacity_section(summary),
        provenance(summary),
        "## Redraw\n\nThe charts and this report are a pure function of `summary.json`. Redraw "
        f"them with `pushlab charts <this directory>`, e.g. `pushlab charts results/{run_id}`.",
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def flags(summary: Summary) -> list[str]:
    """Failed and saturated runs, flagged before anything else is read."""
    lines = []
    for scenario, results in all_scenarios(summary).items():
        for key in registry_order(results):
            result = results[key]
            where = f" (scenario `{scenario}`)" if scenario != main_scenario(summary) else ""
            if is_failed(result):
                lines.append(
                    f"> **FAILED: {strategy_title(key)}**{where}: {failure_reason(result)}. "
                    "Its numbers are left out of the charts and of the reading below."
                )
            elif is_saturated(result):
                cpu = number(result, "locust_cpu_percent")
                used = f" (Locust used {format_number(cpu)}% CPU)" if cpu is not None else ""
                lines.append(
                    f"> **Load generator saturated: {strategy_title(key)}**{where}{used}: "
                    "Locust, not the server, was the limit, so these numbers understate "
                    "what the server can do."
                )
    for line in select_sweep(summary):
        for failure in line.failures():
            lines.append(
                f"> **FAILED (sweep): {failure}**. That point is left out of the sweep charts."
            )
    return ["\n>\n".join(lines)] if lines else []


def main_scenario(summary: Summary) -> str:
    return str(summary.get("config", {}).get("scenario", MAIN_SCENARIO))


def all_scenarios(summary: Summary) -> dict[str, Mapping[str, StrategyResult]]:
    """Every scenario's results, the main one (``strategies``) first."""
    return {main_scenario(summary): summary["strategies"], **other_scenario_results(summary)}


def other_scenario_results(summary: Summary) -> dict[str, Mapping[str, StrategyResult]]:
    """Scenarios besides the main one; the sweep's own entry is left to the sweep section."""
    main = main_scenario(summary)
    return {
        name: results
        for name, results in summary.get("scenarios", {}).items()
        if results and name != main and not (name == SWEEP_SCENARIO and summary.get("sweep"))
    }


RUN_FACTS = (
    ("profile", "profile {}"),
    ("clients", "{} clients per strategy"),
    ("duration_s", "{} s of load"),
    ("poll_interval_ms", "poll interval {} ms"),
    ("server", "server {}"),
    ("layer", "{} channel layer"),
)
"""Config entries named in the report's first line, as (key, wording)."""


def run_line(summary: Summary) -> str:
    config: Mapping[str, Any] = summary.get("config", {})
    facts = [f"Run {summary.get('run_id', '?')}"]
    if summary.get("created_at"):
        facts.append(f"created {summary['created_at']}")
    for name, label in RUN_FACTS:
        if config.get(name) is not None:
            facts.append(label.format(config[name]))
    status = summary.get("status", "unknown")
    facts.append(f"overall status **{status}**")
    return " · ".join(facts) + "."


def framework_tax_section(summary: Summary) -> str:
    """One line per strategy: its hot path's CPU per unit and its multiple of the floor's."""
    floor = summary.get("floor")
    if not isinstance(floor, Mapping):
        return ""
    least = [  # in the order the run measured them, which the registry gives
        f"{job} {measured['cpu_ms_per_unit']:.3g} ms"
        for job, measured in floor.items()
        if isinstance(measured, Mapping) and measured.get("cpu_ms_per_unit")
    ]
    lines = [
        f"The bare-ASGI floor on {floor.get('server', '?')} (benchmarks/run/floor.py, same run) "
        f"spent per unit: {', '.join(least) or 'nothing measured'}."
    ]
    for key, result in summary["strategies"].items():
        tax = result.get("framework_tax") or {}
        parts = [
            f"{job} {measured['cpu_ms_per_unit']:.3g} ms ({measured['ratio']:.0f}x the floor)"
            for job, measured in tax.items()
            if measured.get("cpu_ms_per_unit") and measured.get("ratio")
        ]
        if parts:
            lines.append(f"{key}: " + ", ".join(parts) + ".")
    return "## Framework tax\n\n" + "\n".join(f"- {line}" for line in lines)


def chart_section(chart: Chart) -> str:
    image = f"![{chart.title}]({CHARTS_DIR}/{chart.file_name})"
    return f"### {chart.title}\n\n*{chart.question}*\n\n{image}"


# --- the plain-language reading ---------------------------------------------------------


def reading(summary: Summary) -> list[str]:
    """Sentences generated from the numbers of the main scenario (and the sweep)."""
    selection = select_charted(summary["strategies"])
    charted = dict(selection.charted)
    lines: list[str] = []
    if selection.failed:
        names = ", ".join(strategy_title(key) for key in selection.failed)
        lines.append(f"Left out of this reading because they failed: {names}.")
    if not charted:
        return [*lines, "No strategy finished successfully, so there is nothing to compare."]
    if all(not number(result, "deliveries") for result in charted.values()):
        lines.append(
            "No messages were delivered, so every per-delivery number and every latency is n/a."
        )
    lines.append(requests_sentence(charted))
    lines.extend(db_queries_sentence(charted))
    lines.extend(other_scenario_sentences(summary, charted))
    lines.extend(latency_sentences(charted))
    lines.extend(prediction_sentences(summary, charted))
    for metric, what, unit in (
        ("bytes_per_delivery", "Fewest bytes sent per delivered message", " B"),
        ("server_cpu_ms_per_delivery", "Least server CPU per delivered message", " ms"),
        ("redis_commands_per_delivery", "Fewest Redis commands per delivered message", ""),
        ("db_queries_per_delivery", "Fewest database queries per delivered message", ""),
    ):
        lines.extend(extremes_sentence(charted, metric, what, unit))
    lines.extend(sweep_sentences(summary))
    return lines


def requests_sentence(charted: Mapping[str, StrategyResult]) -> str:
    parts = []
    for key, result in charted.items():
        per_minute = format_number(number(result, "http_requests_per_client_per_min"))
        per_delivery = number(result, "requests_per_delivery")
        delivered = (
            f"{format_number(per_delivery)} per delivered message"
            if per_delivery is not None
            else "nothing was delivered"
        )
        parts.append(f"{strategy_title(key)} made {per_minute} ({delivered})")
    return "HTTP requests per client per minute: " + "; ".join(parts) + "."


def db_queries_sentence(charted: Mapping[str, StrategyResult]) -> list[str]:
    """Storage work beside HTTP work: what each client costs the database a minute."""
    parts = [
        f"{strategy_title(key)} {format_number(value)}"
        for key, result in charted.items()
        if (value := number(result, "db_queries_per_client_per_min")) is not None
    ]
    if not parts:
        return []
    return [
        "Database queries per client per minute (empty HTTP requests and empty storage "
        "requests alike reach the database): " + ", ".join(parts) + "."
    ]


def other_scenario_sentences(
    summary: Summary, main_results: Mapping[str, StrategyResult]
) -> list[str]:
    """Requests per client per minute in the other scenarios (e.g. idle) beside the main one's:
    polling pays per interval whether or not anyone writes, push pays per message."""
    main = main_scenario(summary)
    lines = []
    for scenario, results in other_scenario_results(summary).items():
        charted = dict(select_charted(results).charted)
        if not charted:
            continue
        sent = mean_of(charted.values(), "messages_sent")
        main_sent = mean_of(main_results.values(), "messages_sent")
        if sent == 0:
            opening = f"With nobody writing (scenario `{scenario}`)"
        else:
            opening = (
                f"In scenario `{scenario}` ({format_number(sent)} messages sent per run on "
                f"average, {format_number(main_sent)} in `{main}`)"
            )
        parts = []
        for key, result in charted.items():
            main_rate = main_results.get(key, {}).get("http_requests_per_client_per_min")
            parts.append(
                f"{strategy_title(key)} {format_figure(result, 'http_requests_per_client_per_min')}"
                + (f" ({format_number(main_rate)} in `{main}`)" if main_rate is not None else "")
            )
        lines.append(f"{opening}, HTTP requests per client per minute were: {', '.join(parts)}.")
    return lines


def mean_of(results: Iterable[StrategyResult], name: str) -> float | None:
    values = [value for result in results if (value := number(result, name)) is not None]
    return sum(values) / len(values) if values else None


def ranked(
    charted: Mapping[str, StrategyResult], value: Callable[[StrategyResult], float | None]
) -> list[tuple[str, float]]:
    """Strategies that have the value, smallest first (registry order breaks ties)."""
    pairs = [(key, v) for key, result in charted.items() if (v := value(result)) is not None]
    return sorted(pairs, key=lambda pair: pair[1])


def latency_sentences(charted: Mapping[str, StrategyResult]) -> list[str]:
    lines = []
    for percentile, label in (("p50", "median (p50)"), ("p95", "p95")):
        order = ranked(charted, partial(latency, percentile=percentile))
        if not order:
            continue
        (best, best_ms), rest = order[0], order[1:]
        others = ", ".join(f"{strategy_title(key)} {format_number(ms)} ms" for key, ms in rest)
        lines.append(
            f"Lowest {label} delivery latency: {strategy_title(best)}, {format_number(best_ms)} ms"
            + (f" (then {others})." if others else ".")
        )
    return lines


PREDICTED_FIGURES = {
    "http_requests_per_client_per_min": "HTTP requests per client per minute",
    "delivery_ms.p50": "a median (p50) delivery latency, in ms,",
    "db_queries_per_client_per_min": "database queries per client per minute",
    "db_queries_per_delivery": "database queries per delivered message",
}
"""How the reading names a figure a strategy predicts (``Strategy.predictions``)."""


def prediction_sentences(summary: Summary, charted: Mapping[str, StrategyResult]) -> list[str]:
    """Each strategy's own predictions (short polling's poll-interval arithmetic, ...),
    checked against the run."""
    lines = []
    for key, result in charted.items():
        for prediction in strategy_predictions(summary, key):
            value = measured(result, prediction.figure)
            if value is None:
                continue
            low, high = (
                prediction.value - prediction.tolerance,
                prediction.value + prediction.tolerance,
            )
            if low <= value <= high:
                verdict = "which agrees."
            else:
                verdict = (
                    f"which is well {'below' if value < low else 'above'} it (expected "
                    f"{format_number(max(0.0, low))} to {format_number(high)}); look for "
                    "saturation or errors in the raw logs."
                )
            figure = PREDICTED_FIGURES.get(prediction.figure, prediction.figure)
            lines.append(
                f"{strategy_title(key)}: {prediction.because} predicts {figure} near "
                f"{format_number(prediction.value)}. This run measured {format_number(value)}, "
                + verdict
            )
    return lines


def extremes_sentence(
    charted: Mapping[str, StrategyResult], metric: str, what: str, unit: str
) -> list[str]:
    order = ranked(charted, lambda result: number(result, metric))
    if len(order) < 2:
        return []
    (low, low_value), (high, high_value) = order[0], order[-1]
    ratio = f", {high_value / low_value:.1f} times as much" if low_value > 0 else ""
    return [
        f"{what}: {strategy_title(low)} ({format_number(low_value)}{unit}); most: "
        f"{strategy_title(high)} ({format_number(high_value)}{unit}{ratio})."
    ]


SWEEP_TRENDS: tuple[tuple[str, Callable[[StrategyResult], float | None], str], ...] = (
    (
        "requests per client per minute",
        partial(number, name="http_requests_per_client_per_min"),
        "",
    ),
    ("server CPU per delivery", partial(number, name="server_cpu_ms_per_delivery"), " ms"),
    ("p95 delivery latency", partial(latency, percentile="p95"), " ms"),
)
"""What the reading follows from the fewest to the most clients: (wording, value, unit)."""


def sweep_sentences(summary: Summary) -> list[str]:
    lines = []
    for line in select_sweep(summary):
        if len(line.points) < 2:
            continue
        first, last = line.points[0], line.points[-1]
        changes = [
            f"{what} {format_number(value(first))} → {format_number(value(last))}{unit}"
            for what, value, unit in SWEEP_TRENDS
        ]
        lines.append(
            f"Sweep, {strategy_title(line.key)} from {format_number(number(first, 'clients'))} "
            f"to {format_number(number(last, 'clients'))} clients: {'; '.join(changes)}."
        )
    return lines


# --- tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A results-table column; ``diagnostic`` columns are still shown for a failed strategy."""

    header: str
    cell: Callable[[StrategyResult], str]
    diagnostic: bool = False


def figure_column(name: str, diagnostic: bool = False) -> Column:
    """A column of one figure: its header and its kind's format come from ``FIGURES``."""
    return Column(FIGURES[name].label, partial(format_figure, name=name), diagnostic)


def status_cell(result: StrategyResult) -> str:
    if is_failed(result):
        return "**FAILED**"
    return "ok, Locust saturated" if is_saturated(result) else "ok"


def deliveries_cell(result: StrategyResult) -> str:
    expected = number(result, "deliveries_expected")
    delivered = format_figure(result, "deliveries")
    return delivered if expected is None else f"{delivered} of {expected:,.0f}"


def integrity_cell(result: StrategyResult) -> str:
    """``lost / in flight / dup / out of order``; n/a for in flight in runs older than it
    (their lost includes the messages still on their way: unknown, not zero)."""
    return " / ".join(
        format_figure(result, name) for name in ("lost", "in_flight", "duplicates", "out_of_order")
    )


def restarts_cell(result: StrategyResult) -> str:
    """``at 13 s (1.8 s down); at 25 s (1.7 s down)``: when the chaos run restarted the server."""
    restarts = result.get("restarts")
    if not isinstance(restarts, list) or not restarts:
        return "none"
    return "; ".join(
        f"at {format_number(number(restart, 'at_s'))} s "
        f"({format_number(number(restart, 'downtime_s'))} s down)"
        for restart in restarts
        if isinstance(restart, Mapping)
    )


STATUS = Column("status", status_cell, diagnostic=True)
CLIENTS, MESSAGES, SEND_FAILURES, RECONNECTS, RESENDS, STORED_TWICE = (
    figure_column(name, diagnostic=True)
    for name in ("clients", "messages_sent", "send_failures", "reconnects", "resends",
                 "stored_duplicates")
)  # fmt: skip
DELIVERIES = Column("deliveries", deliveries_cell, diagnostic=True)
INTEGRITY = Column("lost / in flight / dup / out of order", integrity_cell, diagnostic=True)
RESTARTS = Column("server restarts", restarts_cell, diagnostic=True)
REQUESTS_PER_DELIVERY, REQUESTS_PER_MINUTE, BYTES, CPU, REDIS, REDIS_CLIENTS = (
    figure_column(name)
    for name in ("requests_per_delivery", "http_requests_per_client_per_min",
                 "bytes_per_delivery", "server_cpu_ms_per_delivery",
                 "redis_commands_per_delivery", "redis_clients_peak")
)  # fmt: skip
DB_QUERIES, DB_PER_DELIVERY = map(
    figure_column, ("db_queries_per_client_per_min", "db_queries_per_delivery")
)
P50, P95, P99, MAX = (figure_column(f"delivery_ms.{p}") for p in ("p50", "p95", "p99", "max"))
RESTART_COLUMNS = (RESTARTS, SEND_FAILURES, RECONNECTS, RESENDS, STORED_TWICE, P99, MAX)
"""Added to a scenario's table when its server was restarted (chaos): the outage and its cost."""

RESULT_COLUMNS = (STATUS, CLIENTS, MESSAGES, DELIVERIES, INTEGRITY, REQUESTS_PER_DELIVERY,
                  REQUESTS_PER_MINUTE, BYTES, P50, P95, P99, CPU, REDIS, REDIS_CLIENTS,
                  DB_PER_DELIVERY, DB_QUERIES)  # fmt: skip
SCENARIO_COLUMNS = (STATUS, CLIENTS, MESSAGES, DELIVERIES, INTEGRITY, REQUESTS_PER_MINUTE,
                    REQUESTS_PER_DELIVERY, BYTES, P50, P95, CPU, DB_QUERIES)  # fmt: skip
SWEEP_COLUMNS = (CLIENTS, STATUS, REQUESTS_PER_MINUTE, CPU, P50, P95)


def results_table(results: Mapping[str, StrategyResult], columns: Sequence[Column]) -> str:
    """One row per strategy in registry order; a failed row shows only diagnostic columns."""
    rows = [(strategy_title(key), results[key]) for key in registry_order(results)]
    if any(result.get("restarts") for _, result in rows):
        columns = [*columns, *(column for column in RESTART_COLUMNS if column not in columns)]
    return markdown_table(rows, columns)


def markdown_table(rows: Sequence[tuple[str, StrategyResult]], columns: Sequence[Column]) -> str:
    lines = [
        "| strategy | " + " | ".join(column.header for column in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for title, result in rows:
        cells = [
            column.cell(result) if column.diagnostic or not is_failed(result) else "—"
            for column in columns
        ]
        lines.append(
            f"| {title} | " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
        )
    if any(is_failed(result) for _, result in rows):
        lines.append("\n— : left out because the strategy failed (see the top of this report).")
    return "\n".join(lines)


def other_scenarios(summary: Summary) -> list[str]:
    return [
        f"## Scenario `{name}`\n\n" + results_table(results, SCENARIO_COLUMNS)
        for name, results in other_scenario_results(summary).items()
    ]


def sweep_section(summary: Summary) -> list[str]:
    sweep = summary.get("sweep") or {}
    rows = [
        (strategy_title(key), point)
        for key in registry_order(sweep)
        for point in sorted(sweep[key], key=lambda point: number(point, "clients") or 0.0)
    ]
    if not rows:
        return []
    return [
        "## Sweep (the same scenario at growing client counts)\n\n"
        + markdown_table(rows, SWEEP_COLUMNS)
    ]


# --- provenance -------------------------------------------------------------------------


def provenance(summary: Summary) -> str:
    """Everything needed to say where these numbers came from and to reproduce them."""
    config: Mapping[str, Any] = summary.get("config", {})
    machine: Mapping[str, Any] = summary.get("machine", {})
    versions: Mapping[str, Any] = summary.get("versions", {})
    server = config.get("server", "unknown")
    lines = [
        "## Provenance",
        "",
        f"- run id: `{summary.get('run_id', 'unknown')}`",
        f"- created at: {summary.get('created_at', 'unknown')}",
        f"- git sha: `{summary.get('git_sha', 'unknown')}`",
        f"- ASGI server under test: {server}",
        "- machine: " + key_values(machine),
        "- config: " + key_values(config),
        "- versions: " + key_values(versions),
    ]
    return "\n".join(lines)


def key_values(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return "not recorded"
    return ", ".join(
        f"{key} `{value if isinstance(value, str) else json.dumps(value)}`"
        for key, value in mapping.items()
    )
