"""The charts of a benchmark run, each a pure function of a parsed summary.json.

``CHARTS`` is the one table of charts: the report, ``pushlab charts`` and the docs
loop over it. Drawing uses ``matplotlib.figure.Figure`` directly (no pyplot), so
importing this module draws nothing and never touches a notebook's backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.report.chart_parts import (
    CHART_TITLES,
    FAILED_COLOUR,
    Footnotes,
    Selection,
    failure_reason,
    registry_order,
    run_context,
    select_charted,
    strategy_colour,
    strategy_title,
)
from benchmarks.report.timeline_chart import draw_timeline, has_timeline
from benchmarks.results.summary import (
    StrategyResult,
    Summary,
    format_number,
    is_failed,
    is_saturated,
    latency,
    number,
)
from benchmarks.run.scenarios import CAPACITY_LOADS as CAPACITY_SCENARIOS
from strategies import STRATEGIES
from strategies.base import Prediction

SATURATED_HATCH = "//"
LOG_SCALE_SPAN = 30.0
"""Use a log axis when the largest positive value is this many times the smallest."""


# --- numbers and strategies -------------------------------------------------------------


def latency_cdf(result: StrategyResult) -> list[tuple[float, float]]:
    """``delivery_ms.cdf`` as (ms, fraction) pairs; malformed points are dropped."""
    delivery_ms = result.get("delivery_ms")
    points = delivery_ms.get("cdf") if isinstance(delivery_ms, Mapping) else None
    if not isinstance(points, list):
        return []
    return [
        (float(point[0]), float(point[1]))
        for point in points
        if isinstance(point, list | tuple)
        and len(point) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
    ]


SERVER_SATURATED_PERCENT = 90.0
"""A server process using this much of its core is the limit: past it, a point measures
the machine, not the technique (the same bar as ``locust_saturated`` uses for Locust)."""


def is_server_saturated(result: StrategyResult) -> bool:
    share = number(result, "server_cpu_percent")
    return share is not None and share >= SERVER_SATURATED_PERCENT


def fits_a_line(result: StrategyResult) -> bool:
    """Whether a sweep point may go into a fitted line: it ran cleanly and neither the server
    nor Locust was saturated (a saturated point bends any line drawn through it)."""
    return not is_failed(result) and not is_saturated(result) and not is_server_saturated(result)


# --- figure plumbing --------------------------------------------------------------------


def new_figure(
    summary: Summary,
    title: str,
    footnotes: Footnotes,
    columns: int = 1,
    sweep: bool = False,
    context: str | None = None,
) -> tuple[Figure, list[Axes]]:
    """A figure with ``columns`` plot axes above a text panel for the context and footnotes.

    ``context`` replaces the grey run line (the capacity charts describe their own steps).
    """
    context = context or run_context(summary, sweep)
    lines = (
        [(line, "dimgray", "normal") for line in footnotes.wrapped([context])]
        + [(line, FAILED_COLOUR, "bold") for line in footnotes.wrapped(footnotes.failures)]
        + [(line, "black", "normal") for line in footnotes.wrapped(footnotes.remarks)]
    )
    notes_height = 0.22 * len(lines) + 0.1
    figure = Figure(figsize=(8.5, 5.0 + notes_height), layout="constrained")
    FigureCanvasAgg(figure)  # Agg renders the PNG whatever backend a notebook has chosen
    grid = figure.add_gridspec(2, columns, height_ratios=[5.0, notes_height])
    axes = [figure.add_subplot(grid[0, column]) for column in range(columns)]
    notes = figure.add_subplot(grid[1, :])
    notes.axis("off")
    for index, (text, colour, weight) in enumerate(lines):
        note = notes.text(
            0.0, 1.0 - index / len(lines), text, color=colour, fontweight=weight, fontsize=9,
            va="top", transform=notes.transAxes,
        )  # fmt: skip
        note.set_in_layout(False)  # wrapped to fit; the layout must not squeeze the plot for it
    figure.suptitle(title, fontsize=13, fontweight="bold")
    return figure, axes


def spans_orders_of_magnitude(values: Iterable[float | None]) -> bool:
    positive = [value for value in values if value is not None and value > 0]
    return len(positive) >= 2 and max(positive) / min(positive) >= LOG_SCALE_SPAN


def log_limits(values: Iterable[float | None]) -> tuple[float, float]:
    """Axis limits on whole decades around the positive values, with room for labels."""
    positive = [value for value in values if value is not None and value > 0]
    low = 10 ** math.floor(math.log10(min(positive)) - 0.5)  # the smallest bar stays visible
    high = 10 ** (math.log10(max(positive)) + 0.6)
    return low, high


def no_data(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, fontsize=11)
    axes.set_xticks([])
    axes.set_yticks([])


# --- bar charts of one number per strategy ----------------------------------------------


Reference = Callable[[Summary], tuple[float, str] | None]
"""A dotted line worth comparing the bars with (value, label), or None."""


def bar_chart(
    metric: str, axis_label: str, title: str, reference: Reference | None = None
) -> Callable[[Summary], Figure]:
    """A draw function: one bar per charted strategy for ``strategies.<key>.<metric>``."""

    def draw(summary: Summary) -> Figure:
        selection, footnotes = select_main(summary, SATURATED_BARS)
        values = [number(result, metric) for _, result in selection.charted]
        note_missing(footnotes, selection.charted, values)
        if spans_orders_of_magnitude(values) and 0 in values:
            footnotes.remarks.append("0 has no bar on a log scale: its label sits on the axis.")
        figure, (axes,) = new_figure(summary, title, footnotes)
        if not selection.charted:
            no_data(axes, NOTHING_CHARTED)
            return figure
        if all(value is None for value in values):
            no_data(axes, "No value to show (see the note below).")
            return figure
        log_scale = draw_bars(axes, selection.charted, values)
        axes.set_ylabel(axis_label + (", log scale" if log_scale else ""))
        line = reference(summary) if reference else None
        if line:
            draw_reference(axes, *line)
        return figure

    return draw


def note_missing(
    footnotes: Footnotes,
    charted: Sequence[tuple[str, StrategyResult]],
    values: Sequence[float | None],
) -> None:
    """Say why a bar is n/a: usually a per-delivery ratio of a strategy that delivered nothing."""
    silent = [
        strategy_title(key)
        for (key, result), value in zip(charted, values, strict=True)
        if value is None and number(result, "deliveries") == 0
    ]
    other = [
        strategy_title(key)
        for (key, result), value in zip(charted, values, strict=True)
        if value is None and number(result, "deliveries") != 0
    ]
    if silent:
        footnotes.remarks.append(
            f"n/a: {', '.join(silent)} delivered no messages, so there is nothing per delivery."
        )
    if other:
        footnotes.remarks.append(f"n/a: not recorded for {', '.join(other)}.")


def draw_reference(axes: Axes, value: float, label: str) -> None:
    """A dotted horizontal line named in a legend, so its label never covers a bar's."""
    low, high = axes.get_ylim()
    if not low < value < high:
        return
    axes.axhline(value, color="dimgray", linewidth=1.2, linestyle=":", label=label)
    axes.legend(loc="upper right", fontsize=9)


def one_request_per_delivery(summary: Summary) -> tuple[float, str]:
    return 1.0, "1 request per delivered message"


def strategy_predictions(summary: Summary, key: str) -> list[Prediction]:
    """What strategy ``key``'s own design predicts for this run (``Strategy.predictions``)."""
    config, result = summary.get("config"), summary.get("strategies", {}).get(key)
    if key not in STRATEGIES or not isinstance(result, Mapping):
        return []
    return STRATEGIES[key].predictions(config if isinstance(config, Mapping) else {}, result)


def predicted(figure: str) -> Reference:
    """A chart's reference line: the first charted strategy that predicts ``figure``."""

    def reference(summary: Summary) -> tuple[float, str] | None:
        for key, _ in select_charted(summary["strategies"]).charted:
            for prediction in strategy_predictions(summary, key):
                if prediction.figure == figure:
                    return prediction.value, prediction.label
        return None

    return reference


SATURATED_BARS = "Hatched bars (hollow dots on a log axis)"


def select_main(summary: Summary, saturated_marking: str) -> tuple[Selection, Footnotes]:
    """The main scenario's charted strategies, with footnotes naming failures and saturation."""
    selection = select_charted(summary["strategies"])
    footnotes = Footnotes()
    footnotes.add_failures(selection.failed)
    saturated = [strategy_title(key) for key, result in selection.charted if is_saturated(result)]
    if saturated:
        footnotes.remarks.append(
            f"{saturated_marking} = load generator saturated ({', '.join(saturated)}): Locust, "
            "not the server, was the limit, so those numbers understate the server."
        )
    return selection, footnotes


NOTHING_CHARTED = "No strategy finished this run successfully."


def draw_bars(
    axes: Axes,
    charted: Sequence[tuple[str, StrategyResult]],
    values: Sequence[float | None],
    log_scale: bool | None = None,
    limits_of: Sequence[float | None] | None = None,
) -> bool:
    """Coloured, labelled bars; zeros and n/a stay visible as text at the baseline.

    Returns whether the axis is logarithmic (the values span orders of magnitude).
    ``log_scale`` and ``limits_of`` let panels that are compared side by side share a scale.
    """
    if log_scale is None:
        log_scale = spans_orders_of_magnitude(values)
    scale_values = list(limits_of) if limits_of is not None else list(values)
    positions = range(len(charted))
    heights = [value or 0.0 for value in values]
    bars: Sequence[Any]
    if log_scale:  # a bar's length from an arbitrary log baseline would mislead: dots
        bars = draw_dots(
            axes, list(positions), values, [key for key, _ in charted],
            [is_saturated(result) for _, result in charted],
        )  # fmt: skip
    else:
        bars = axes.bar(
            positions,
            heights,
            color=[strategy_colour(key) for key, _ in charted],
            hatch=[SATURATED_HATCH if is_saturated(result) else "" for _, result in charted],
            edgecolor="black",
            linewidth=0.6,
            width=0.6,
        )
    axes.set_xticks(list(positions), [strategy_title(key) for key, _ in charted])
    if log_scale:
        axes.set_yscale("log")
        axes.set_ylim(*log_limits(scale_values))
    else:
        top = max((value or 0.0 for value in scale_values), default=0.0) or 1.0
        axes.set_ylim(0, top * 1.18)
    baseline = axes.get_ylim()[0]
    for bar, value in zip(bars, values, strict=True):
        x = bar.get_x() + bar.get_width() / 2
        if value is None or value <= 0:
            axes.annotate(
                format_number(value), (x, baseline), xytext=(0, 4), textcoords="offset points",
                ha="center", va="bottom", fontsize=10, fontweight="bold",
            )  # fmt: skip
        else:
            axes.annotate(
                format_number(value), (x, value), xytext=(0, 8 if log_scale else 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=10,
            )  # fmt: skip
    axes.grid(axis="y", alpha=0.3, which="both" if log_scale else "major")
    axes.set_axisbelow(True)
    return log_scale


@dataclass(frozen=True)
class Dot:
    """Where a value is drawn, for its label: the same three numbers a bar offers."""

    x: float
    width: float

    def get_x(self) -> float:
        return self.x - self.width / 2

    def get_width(self) -> float:
        return self.width


def draw_dots(
    axes: Axes,
    positions: Sequence[float],
    values: Sequence[float | None],
    keys: Sequence[str],
    saturated: Sequence[bool],
    label: str | None = None,
) -> list[Dot]:
    """Values on a log axis as dots (hollow when Locust was saturated), never as bars: on a
    log axis a bar starts at an arbitrary decade, so its length means nothing."""
    for x, value, key, hollow in zip(positions, values, keys, saturated, strict=True):
        if value is not None and value > 0:
            axes.plot(
                [x], [value], marker="o", markersize=11, linestyle="none",
                color=strategy_colour(key), markeredgecolor="black", markeredgewidth=0.8,
                markerfacecolor="white" if hollow else strategy_colour(key),
            )  # fmt: skip
    if label is not None:  # one legend entry per strategy
        axes.plot([], [], marker="o", markersize=9, linestyle="none", label=label,
                  color=strategy_colour(keys[0]), markeredgecolor="black")  # fmt: skip
    return [Dot(x, 0.0) for x in positions]


# --- requests per client per minute: busy and idle side by side --------------------------

IDLE_SCENARIO = "idle"
PER_CLIENT_RATE = "http_requests_per_client_per_min"


def draw_requests_per_client_per_min(summary: Summary) -> Figure:
    """The busy chat beside the idle room on one scale: the question is "whether or not
    anyone writes", so one load alone cannot answer it."""
    busy, footnotes = select_main(summary, SATURATED_BARS)
    idle_results = (summary.get("scenarios") or {}).get(IDLE_SCENARIO) or {}
    idle = select_charted(idle_results)
    footnotes.add_failures({f"{key} (idle)": why for key, why in idle.failed.items()})
    busy_values = [number(result, PER_CLIENT_RATE) for _, result in busy.charted]
    idle_values = [number(result, PER_CLIENT_RATE) for _, result in idle.charted]
    note_missing(footnotes, busy.charted, busy_values)
    if not idle.charted:
        footnotes.remarks.append(
            "No idle scenario in this run: pushlab bench --profile full measures the quiet room."
        )
    lines = [panel_prediction(summary, selection) for selection in (busy, idle)]
    for where, line in zip(("left", "right"), lines, strict=True):
        if line:
            footnotes.remarks.append(f"Dotted line ({where}): {line[1]}.")
    figure, (busy_axes, idle_axes) = new_figure(
        summary, CHART_TITLES["requests_per_client_per_min.png"], footnotes, columns=2
    )
    every_value = busy_values + idle_values
    log_scale = spans_orders_of_magnitude(every_value)
    panels = (
        (busy_axes, busy, busy_values, "busy chat: everyone writes about every 5 s", lines[0]),
        (idle_axes, idle, idle_values, "idle room: about one message a minute", lines[1]),
    )
    for axes, selection, values, panel_title, line in panels:
        axes.set_title(panel_title, fontsize=10)
        if not selection.charted or all(value is None for value in values):
            no_data(axes, "Not measured in this run." if not selection.charted else "n/a")
            continue
        draw_bars(axes, selection.charted, values, log_scale=log_scale, limits_of=every_value)
        axes.set_xlim(-0.6, len(selection.charted) - 0.4)
        axes.tick_params(axis="x", labelsize=9)
        axes.set_ylabel("requests / client / minute" + (", log scale" if log_scale else ""))
        if line:  # named in the notes: a legend in each narrow panel would crowd it
            axes.axhline(line[0], color="dimgray", linewidth=1.2, linestyle=":")
    return figure


def panel_prediction(summary: Summary, selection: Selection) -> tuple[float, str] | None:
    """The first charted strategy's own prediction of its per-client rate for this load."""
    config = summary.get("config")
    for key, result in selection.charted:
        if key in STRATEGIES:
            for prediction in STRATEGIES[key].predictions(
                config if isinstance(config, Mapping) else {}, result
            ):
                if prediction.figure == PER_CLIENT_RATE:
                    return prediction.value, prediction.label
    return None


# --- delivery latency -------------------------------------------------------------------

PERCENTILES = ("p50", "p95", "p99")


def draw_delivery_latency(summary: Summary) -> Figure:
    """Grouped bars: one group per percentile, one bar per strategy in its colour."""
    selection, footnotes = select_main(summary, SATURATED_BARS)
    table = {key: [latency(result, p) for p in PERCENTILES] for key, result in selection.charted}
    if any(value is None for values in table.values() for value in values):
        footnotes.remarks.append("n/a: no deliveries, so no latency to show.")
    figure, (axes,) = new_figure(summary, CHART_TITLES["delivery_latency.png"], footnotes)
    every_value = [value for values in table.values() for value in values]
    if not selection.charted:
        no_data(axes, NOTHING_CHARTED)
        return figure
    if all(value is None for value in every_value):
        no_data(axes, "No deliveries in this run, so there is no latency to show.")
        return figure
    log_scale = spans_orders_of_magnitude(every_value)
    if log_scale:
        axes.set_yscale("log")
        axes.set_ylim(*log_limits(every_value))
    else:
        positive = [value for value in every_value if value]
        axes.set_ylim(0, (max(positive) if positive else 1.0) * 1.18)
    width = 0.8 / len(selection.charted)
    baseline = axes.get_ylim()[0]
    for index, (key, result) in enumerate(selection.charted):
        offsets = [group + (index - (len(selection.charted) - 1) / 2) * width for group in range(3)]
        values = table[key]
        if log_scale:  # dots, not bars, on a log axis (see draw_dots)
            bars: Sequence[Any] = draw_dots(
                axes, offsets, values, [key] * len(offsets),
                [is_saturated(result)] * len(offsets), label=strategy_title(key),
            )  # fmt: skip
        else:
            bars = axes.bar(
                offsets,
                [value or 0.0 for value in values],
                width=width * 0.92,
                color=strategy_colour(key),
                hatch=SATURATED_HATCH if is_saturated(result) else "",
                edgecolor="black",
                linewidth=0.6,
                label=strategy_title(key),
            )
        for bar, value in zip(bars, values, strict=True):
            anchor = value if value else baseline
            axes.annotate(
                format_number(value), (bar.get_x() + bar.get_width() / 2, anchor),
                xytext=(0, 7 if log_scale else 3), textcoords="offset points", ha="center",
                va="bottom",
                fontsize=8 if len(selection.charted) > 2 else 9,
            )  # fmt: skip
    axes.set_xticks(range(3), ["p50 (median)", "p95", "p99"])
    axes.set_xlabel("percentile of deliveries")
    axes.set_ylabel("delivery latency, send → receive (ms)" + (", log scale" if log_scale else ""))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper left")
    return figure


def draw_delivery_cdf(summary: Summary) -> Figure:
    """One step line per strategy: the fraction of deliveries that arrived within x ms."""
    selection, footnotes = select_main(summary, "Dashed lines")
    curves = {key: latency_cdf(result) for key, result in selection.charted}
    empty = [strategy_title(key) for key, points in curves.items() if not points]
    if empty:
        footnotes.remarks.append(f"No deliveries to plot for {', '.join(empty)}.")
    figure, (axes,) = new_figure(summary, CHART_TITLES["delivery_cdf.png"], footnotes)
    every_ms = [ms for points in curves.values() for ms, _ in points]
    if not selection.charted:
        no_data(axes, NOTHING_CHARTED)
        return figure
    if not every_ms:
        no_data(axes, "No deliveries in this run, so there is no latency distribution.")
        return figure
    log_scale = spans_orders_of_magnitude(every_ms)
    for key, result in selection.charted:
        points = [(ms, fraction) for ms, fraction in curves[key] if ms > 0 or not log_scale]
        if points:
            axes.plot(
                [ms for ms, _ in points],
                [fraction for _, fraction in points],
                drawstyle="steps-post",
                color=strategy_colour(key),
                linestyle="--" if is_saturated(result) else "-",
                linewidth=2,
                label=strategy_title(key),
            )
    if log_scale:
        axes.set_xscale("log")
        axes.set_xlim(right=max(every_ms) * 2)
    for fraction, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        axes.axhline(fraction, color="gray", linewidth=0.7, linestyle=":")
        axes.annotate(
            label, (0, fraction), xycoords=("axes fraction", "data"), xytext=(3, 2),
            textcoords="offset points", fontsize=8, color="dimgray",
        )  # fmt: skip
    for key, _ in selection.charted:  # e.g. short polling's half a poll interval
        for prediction in strategy_predictions(summary, key):
            if not prediction.figure.startswith("delivery_ms.") or prediction.value <= 0:
                continue
            axes.axvline(prediction.value, color=strategy_colour(key), linewidth=1, linestyle=":")
            axes.annotate(
                prediction.label, (prediction.value, 0.03), xytext=(-3, 0),
                textcoords="offset points", fontsize=8, color=strategy_colour(key),
                rotation=90, ha="right", va="bottom",
            )  # fmt: skip
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("delivery latency, send → receive (ms)" + (", log scale" if log_scale else ""))
    axes.set_ylabel("fraction of deliveries at or below x (0 to 1)")
    axes.grid(alpha=0.3, which="both" if log_scale else "major")
    axes.legend(loc="best")
    return figure


# --- the sweep: cost and latency against the number of clients ---------------------------


@dataclass(frozen=True)
class SweepLine:
    """One strategy's charted sweep points; failed points are left out and named."""

    key: str
    points: list[StrategyResult]
    """The points whose status is ok, fewest clients first."""
    failed: list[tuple[float | None, str]]
    """(client count if recorded, why) for each failed point; the line breaks there."""

    def failures(self) -> list[str]:
        """'WebSocket at 40 clients: why' for each failed point."""
        return [
            f"{strategy_title(self.key)} "
            + (
                f"at {clients:g} clients"
                if clients is not None
                else "at an unrecorded client count"
            )
            + f": {reason}"
            for clients, reason in self.failed
        ]


def select_sweep(summary: Summary) -> list[SweepLine]:
    """Sweep results per strategy in registry order, failed points split off."""
    sweep = summary.get("sweep") or {}
    lines = []
    for key in registry_order(sweep):
        points = [point for point in sweep[key] if not is_failed(point)]
        points.sort(key=lambda point: number(point, "clients") or 0.0)
        failed = [
            (number(point, "clients"), failure_reason(point))
            for point in sweep[key]
            if is_failed(point)
        ]
        lines.append(SweepLine(key, points, failed))
    return lines


def sweep_footnotes(lines: Sequence[SweepLine]) -> Footnotes:
    footnotes = Footnotes()
    for line in lines:
        for failure in line.failures():
            footnotes.failures.append(f"FAILED: {failure} (not charted; the line breaks there)")
    if any(is_saturated(point) for line in lines for point in line.points):
        footnotes.remarks.append(
            "Hollow markers = load generator saturated: Locust, not the server, was the limit."
        )
    if any(is_server_saturated(point) for line in lines for point in line.points):
        footnotes.remarks.append(
            f"Red rings = server saturated (≥ {SERVER_SATURATED_PERCENT:g} % of a core): "
            "the machine's limit, left out of every fitted line."
        )
    return footnotes


def plot_sweep(
    axes: Axes,
    lines: Sequence[SweepLine],
    metric: Callable[[StrategyResult], float | None],
    axis_label: str,
) -> list[float]:
    """Plot ``metric`` against clients for every line; returns the plotted values."""
    plotted: list[float] = []
    for line in lines:
        measured = [
            (clients, value, point)
            for point in line.points
            if (clients := number(point, "clients")) is not None
            and (value := metric(point)) is not None
        ]
        if not measured:
            continue
        colour = strategy_colour(line.key)
        breaks = [(clients, math.nan) for clients, _ in line.failed if clients is not None]
        xy = sorted([(clients, value) for clients, value, _ in measured] + breaks)
        axes.plot(
            [x for x, _ in xy], [y for _, y in xy], color=colour, linewidth=2,
            label=strategy_title(line.key),
        )  # fmt: skip
        for clients, value, point in measured:
            axes.plot(
                [clients], [value], marker="o", markersize=7, color=colour,
                markerfacecolor="white" if is_saturated(point) else colour,
            )  # fmt: skip
            if is_server_saturated(point):
                axes.plot(
                    [clients], [value], marker="o", markersize=15, linestyle="none",
                    markerfacecolor="none", markeredgecolor=FAILED_COLOUR, markeredgewidth=2,
                )  # fmt: skip
        plotted.extend(value for _, value, _ in measured)
    log_scale = spans_orders_of_magnitude(plotted)
    if log_scale:
        axes.set_yscale("log")
    else:
        axes.set_ylim(bottom=0)
    axes.set_ylabel(axis_label + (", log scale" if log_scale else ""))
    axes.set_xlabel("connected clients (count)")
    axes.grid(alpha=0.3, which="both")
    return plotted


def draw_sweep_cost(summary: Summary) -> Figure:
    lines = select_sweep(summary)
    figure, (requests_axes, cpu_axes) = new_figure(
        summary, CHART_TITLES["sweep_cost.png"], sweep_footnotes(lines), columns=2, sweep=True
    )
    plot_sweep(
        requests_axes,
        lines,
        partial(number, name="http_requests_per_client_per_min"),
        "requests / client / minute",
    )
    requests_axes.set_title("HTTP requests per client per minute", fontsize=10)
    plot_sweep(
        cpu_axes,
        lines,
        partial(number, name="server_cpu_ms_per_delivery"),
        "server CPU per delivery (ms)",
    )
    cpu_axes.set_title("Server CPU per delivered message", fontsize=10)
    requests_axes.legend(loc="best")
    return figure


def draw_sweep_latency(summary: Summary) -> Figure:
    lines = select_sweep(summary)
    figure, (axes,) = new_figure(
        summary, CHART_TITLES["sweep_latency.png"], sweep_footnotes(lines), sweep=True
    )
    plotted = plot_sweep(
        axes,
        lines,
        partial(latency, percentile="p95"),
        "p95 delivery latency, send → receive (ms)",
    )
    if plotted:
        axes.legend(loc="best")
    else:
        no_data(axes, "No sweep point has a delivery latency.")
    return figure


# --- the framework tax: the hot paths next to the bare-ASGI floor -----------------------

FLOOR_COLOUR = "#bbbbbb"


def has_floor(summary: Summary) -> bool:
    return isinstance(summary.get("floor"), Mapping)


def tax_rows(summary: Summary, own_job: bool) -> list[tuple[str, str, float, float]]:
    """(strategy key, job, its CPU per unit, the floor's) for each charted strategy."""
    rows: list[tuple[str, str, float, float]] = []
    for key, result in select_charted(summary["strategies"]).charted:
        tax = result.get("framework_tax") or {}
        job = (result.get("hot_path") or {}).get("job") if own_job else "post"
        measured = tax.get(job) if job else None
        least = measured.get("floor_cpu_ms_per_unit") if measured else None
        if job and measured and measured.get("cpu_ms_per_unit") and least:
            rows.append((key, str(job), float(measured["cpu_ms_per_unit"]), float(least)))
    return rows


def draw_framework_tax(summary: Summary) -> Figure:
    """Per strategy, its hot path's CPU per unit beside the floor's for the same job (log
    scale), labelled with the ratio; the right panel does the same for a post."""
    footnotes = Footnotes()
    footnotes.remarks.append(
        "Grey: the bare-ASGI floor (benchmarks/run/floor.py) doing the same job on the same server "
        "in the same run; the label over each coloured bar is its multiple of the floor."
    )
    figure, axes_pair = new_figure(summary, CHART_TITLES["framework_tax.png"], footnotes, columns=2)
    for axes, own_job, heading in (
        (axes_pair[0], True, "its own job (poll, long-poll delivery, broadcast delivery)"),
        (axes_pair[1], False, "one post (validate, store, publish)"),
    ):
        rows = tax_rows(summary, own_job)
        axes.set_title(heading, fontsize=10)
        if not rows:
            no_data(axes, "Not measured in this run.")
            continue
        positions = range(len(rows))
        mine = [row[2] for row in rows]
        floor = [row[3] for row in rows]
        axes.bar([p - 0.2 for p in positions], floor, width=0.4, color=FLOOR_COLOUR,
                 edgecolor="black", linewidth=0.6)  # fmt: skip
        bars = axes.bar([p + 0.2 for p in positions], mine, width=0.4,
                        color=[strategy_colour(row[0]) for row in rows],
                        edgecolor="black", linewidth=0.6)  # fmt: skip
        axes.set_yscale("log")
        axes.set_ylim(*log_limits(mine + floor))
        labels = [f"{strategy_title(row[0])}\n({row[1]})" for row in rows]
        axes.set_xticks(list(positions), labels, fontsize=8)
        for bar, value, least in zip(bars, mine, floor, strict=True):
            axes.annotate(
                f"{format_number(value)} ms\nx{value / least:.0f}",
                (bar.get_x() + bar.get_width() / 2, value), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=8,
            )  # fmt: skip
        axes.set_ylabel("server CPU per unit (ms), log scale")
        axes.grid(axis="y", alpha=0.3, which="both")
        axes.set_axisbelow(True)
    return figure


VARIANT_PREFIX = "chat-"


def variant_results(summary: Summary) -> dict[str, Mapping[str, StrategyResult]]:
    """The chat scenario run under each server and channel layer (``chat-<server>``,
    ``chat-<layer>-layer``), by scenario name."""
    scenarios = summary.get("scenarios") or {}
    return {
        name: results
        for name, results in scenarios.items()
        if name.startswith(VARIANT_PREFIX) and isinstance(results, Mapping)
    }


def has_variants(summary: Summary) -> bool:
    return bool(variant_results(summary))


def draw_server_and_layer(summary: Summary) -> Figure:
    """Grouped bars: server CPU per delivery of each strategy under each variant."""
    variants = variant_results(summary)
    footnotes = Footnotes()
    footnotes.remarks.append(
        "The same chat load under each ASGI server (chat-daphne, chat-uvicorn) and each "
        "channel layer (chat-redis-layer, chat-pubsub-layer; WebSocket only)."
    )
    figure, (axes,) = new_figure(summary, CHART_TITLES["server_and_layer.png"], footnotes)
    names = list(variants)
    keys = registry_order({key for results in variants.values() for key in results})
    width = 0.8 / max(1, len(keys))
    values: list[float | None] = []
    for index, key in enumerate(keys):
        heights = [
            number(variants[name].get(key, {}), "server_cpu_ms_per_delivery") for name in names
        ]
        values += heights
        positions = [n + (index - (len(keys) - 1) / 2) * width for n in range(len(names))]
        axes.bar(positions, [h or 0.0 for h in heights], width=width, label=strategy_title(key),
                 color=strategy_colour(key), edgecolor="black", linewidth=0.6)  # fmt: skip
        for x, height in zip(positions, heights, strict=True):
            axes.annotate(
                format_number(height), (x, height or 0.0), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=8,
            )  # fmt: skip
    if not any(values):
        no_data(axes, "No variant finished in this run.")
        return figure
    axes.set_xticks(list(range(len(names))), names)
    axes.set_ylabel("server CPU per delivered message (ms)")
    axes.set_ylim(0, max(v or 0.0 for v in values) * 1.2)
    axes.legend(fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    return figure


# --- capacity: clients held at the SLO, and the steps that led there --------------------

CAPACITY_LOADS = tuple(CAPACITY_SCENARIOS)
"""The capacity loads in the runner's order (``quiet``, ``busy``)."""
CAPACITY_LOAD_STYLES = {"quiet": ("-", "o"), "busy": ("--", "s")}
"""Line style and marker of each capacity load, the same in every capacity chart."""


def capacity_table(summary: Summary) -> dict[str, dict[str, Mapping[str, Any]]]:
    """``capacity``: strategy key → load → figures, in registry order (malformed rows dropped)."""
    capacity = summary.get("capacity")
    if not isinstance(capacity, Mapping):
        return {}
    return {
        key: {load: capacity[key][load] for load in CAPACITY_LOADS if isinstance(
            capacity[key].get(load), Mapping)}
        for key in registry_order(capacity)
        if isinstance(capacity[key], Mapping)
    }  # fmt: skip


def capacity_steps(figures: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    steps = figures.get("steps")
    return [step for step in steps if isinstance(step, Mapping)] if isinstance(steps, list) else []


def capacity_context(summary: Summary) -> str:
    config = summary.get("config")
    config = config if isinstance(config, Mapping) else {}
    parts = [f"run {summary.get('run_id', '?')}", "scenario capacity (quiet: rooms of 100, one "
             "message per room every 10 s; busy: rooms of 10, every client every 5 s)"]  # fmt: skip
    if (hold := number(config, "capacity_hold_s")) is not None:
        parts.append(f"{hold:g} s held per step")
    if config.get("server"):
        parts.append(f"server {config['server']}")
    if (interval := number(config, "poll_interval_ms")) is not None:
        parts.append(f"poll interval {interval:g} ms")
    return " · ".join(parts)


def breaking_words(figures: Mapping[str, Any]) -> str:
    """'latency at 2000' / 'generator at 1000' / 'all steps passed' for a bar's label;
    'loss (or late)' in a run older than the in-flight count, whose loss may be late only."""
    broke = figures.get("broke")
    if not broke:
        return "all steps passed"
    steps = capacity_steps(figures)
    if broke == "loss" and steps and "in_flight" not in steps[-1]:
        broke = "loss (or late)"
    at = number(figures, "broke_at_clients")
    return f"{broke} at {at:g}" if at is not None else str(broke)


def draw_capacity_clients(summary: Summary) -> Figure:
    """Clients at the SLO per strategy, the quiet and the busy load side by side."""
    table = capacity_table(summary)
    footnotes = Footnotes()
    footnotes.remarks.append(
        "Label: what ended the steps, and at how many clients. 'generator' (hatched): Locust "
        "saturated its core first, so the server may hold more: the bar is a lower bound."
    )
    figure, (axes,) = new_figure(
        summary, CHART_TITLES["capacity_clients.png"], footnotes,
        context=capacity_context(summary),
    )  # fmt: skip
    if not table:
        no_data(axes, "No capacity result in this run.")
        return figure
    width = 0.38
    keys = list(table)
    for offset, load in ((-width / 2, "quiet"), (width / 2, "busy")):
        for index, key in enumerate(keys):
            figures = table[key].get(load)
            if figures is None:
                continue
            clients = number(figures, "clients_at_slo") or 0.0
            bar = axes.bar(
                index + offset, clients, width * 0.95, color=strategy_colour(key),
                alpha=1.0 if load == "quiet" else 0.55, edgecolor="black", linewidth=0.6,
                hatch=SATURATED_HATCH if figures.get("broke") == "generator" else None,
            )  # fmt: skip
            axes.bar_label(
                bar, [f"{load}: {clients:,.0f}\n{breaking_words(figures)}"], fontsize=8,
                padding=2,
            )  # fmt: skip
    axes.set_xticks(range(len(keys)), [strategy_title(key) for key in keys])
    axes.set_ylabel("clients at the SLO (count; solid: quiet, pale: busy)")
    axes.set_ylim(0, max(1.0, axes.get_ylim()[1] * 1.2))
    axes.grid(axis="y", alpha=0.3)
    return figure


def plot_capacity_steps(
    axes: Axes, table: Mapping[str, Mapping[str, Mapping[str, Any]]], metric: str
) -> None:
    """``metric`` of every step against clients: a line per strategy and load, the breaking
    step marked with a red cross."""
    counts: set[float] = set()
    for key, loads in table.items():
        for load, figures in loads.items():
            steps = sorted(capacity_steps(figures), key=lambda step: number(step, "clients") or 0)
            xy = [
                (clients, value, step)
                for step in steps
                if (clients := number(step, "clients")) is not None
                and (value := latency(step, "p95") if metric == "p95" else number(step, metric))
                is not None
            ]
            if not xy:
                continue
            counts.update(x for x, _, _ in xy)
            style, marker = CAPACITY_LOAD_STYLES[load]
            axes.plot(
                [x for x, _, _ in xy], [y for _, y, _ in xy], linestyle=style, marker=marker,
                color=strategy_colour(key), label=f"{strategy_title(key)}, {load}",
            )  # fmt: skip
            broken = [(x, y) for x, y, step in xy if step.get("passed") is False]
            if broken:
                axes.plot(
                    [x for x, _ in broken], [y for _, y in broken], linestyle="none",
                    marker="X", markersize=13, color=strategy_colour(key),
                    markeredgecolor=FAILED_COLOUR, markeredgewidth=2,
                )  # fmt: skip
    axes.set_xscale("log", base=2)
    axes.set_xticks(sorted(counts), [f"{count:,.0f}" for count in sorted(counts)])
    axes.minorticks_off()
    axes.set_xlabel("connected clients (count, log scale)")
    axes.grid(alpha=0.3, which="both")


def draw_capacity_steps(summary: Summary) -> Figure:
    """p95 and server CPU against clients per strategy, with the SLO line."""
    table = capacity_table(summary)
    footnotes = Footnotes()
    footnotes.remarks.append(
        "Cross edged in red: the step that broke the SLO (p95, loss, errors, file descriptors, "
        "memory) or saturated Locust; the steps stop there. A message still in flight when "
        "the clients stopped is late, not lost: its age then counts in the p95. Dotted: the "
        "500 ms SLO (short polling may add one poll interval, its own dotted line)."
    )
    figure, (latency_axes, cpu_axes) = new_figure(
        summary, CHART_TITLES["capacity_steps.png"], footnotes, columns=2,
        context=capacity_context(summary),
    )  # fmt: skip
    if not table:
        no_data(latency_axes, "No capacity result in this run.")
        return figure
    plot_capacity_steps(latency_axes, table, "p95")
    slos = {
        key: slo
        for key, loads in table.items()
        for figures in loads.values()
        if (slo := number(figures, "slo_p95_ms")) is not None
    }
    for key, slo in slos.items():
        plain = slo == min(slos.values())
        latency_axes.axhline(
            slo, linestyle=":", linewidth=1.3, color="dimgray" if plain else strategy_colour(key)
        )
    latency_axes.set_yscale("log")
    latency_axes.set_ylabel("p95 delivery latency, send → receive (ms, log scale)")
    latency_axes.set_title("p95 delivery latency", fontsize=10)
    plot_capacity_steps(cpu_axes, table, "server_cpu_percent")
    cpu_axes.axhline(100, linestyle=":", linewidth=1.3, color="dimgray")
    cpu_axes.set_ylim(bottom=0)
    cpu_axes.set_ylabel("server CPU (% of one core)")
    cpu_axes.set_title("Server CPU", fontsize=10)
    latency_axes.legend(loc="best", fontsize=7)
    return figure


def has_capacity(summary: Summary) -> bool:
    return bool(capacity_table(summary))


# --- the table ---------------------------------------------------------------------------


def always(summary: Summary) -> bool:
    return True


def has_sweep(summary: Summary) -> bool:
    return bool(summary.get("sweep"))


@dataclass(frozen=True)
class Chart:
    """One chart: its file in ``charts/``, its title, the question it answers, how to draw it."""

    file_name: str
    title: str
    question: str
    draw: Callable[[Summary], Figure]
    applies: Callable[[Summary], bool] = always
    """False when the run lacks the data (the sweep charts need ``sweep``)."""


def chart(
    file_name: str,
    question: str,
    draw: Callable[[Summary], Figure],
    applies: Callable[[Summary], bool] = always,
) -> Chart:
    return Chart(file_name, CHART_TITLES[file_name], question, draw, applies)


def metric_chart(
    file_name: str, metric: str, axis_label: str, question: str, reference: Reference | None = None
) -> Chart:
    draw = bar_chart(metric, axis_label, CHART_TITLES[file_name], reference)
    return chart(file_name, question, draw)


CHARTS: tuple[Chart, ...] = (
    chart(
        "timeline.png",
        "What does each technique do over time: poll on a timer, hold a request until a "
        "message comes, or push frames down a connection it keeps open?",
        draw_timeline,
        has_timeline,
    ),
    metric_chart(
        "requests_per_delivery.png",
        "requests_per_delivery",
        "HTTP requests per delivered message (requests)",
        "How many HTTP requests does each strategy make for every message it delivers?",
        one_request_per_delivery,
    ),
    chart(
        "requests_per_client_per_min.png",
        "How many HTTP requests does one client make each minute, whether or not anyone writes?",
        draw_requests_per_client_per_min,
    ),
    chart(
        "delivery_latency.png",
        "How long does a message take from sender to receiver, typically (p50) and in the "
        "slow tail (p95, p99)?",
        draw_delivery_latency,
    ),
    chart(
        "delivery_cdf.png",
        "What fraction of deliveries arrived within a given number of milliseconds?",
        draw_delivery_cdf,
    ),
    metric_chart(
        "bytes_per_delivery.png",
        "bytes_per_delivery",
        "bytes sent by the server per delivered message (bytes)",
        "How many bytes does the server send, headers and frame headers included, for each "
        "message delivered?",
    ),
    metric_chart(
        "server_cpu_per_delivery.png",
        "server_cpu_ms_per_delivery",
        "server CPU time per delivered message (ms)",
        "How much server CPU time does each delivered message cost?",
    ),
    metric_chart(
        "redis_commands_per_delivery.png",
        "redis_commands_per_delivery",
        "Redis commands per delivered message (commands)",
        "How much Redis work does each delivered message cost?",
    ),
    metric_chart(
        "db_queries_per_client_per_min.png",
        "db_queries_per_client_per_min",
        "database queries per client per minute (queries/min)",
        "How many database queries does one client cost each minute: empty HTTP requests "
        "(short polling), empty storage requests (naive long polling), or nothing while idle?",
        predicted("db_queries_per_client_per_min"),
    ),
    chart(
        "sweep_cost.png",
        "How do requests per client per minute and server CPU per delivery change as the "
        "number of clients grows?",
        draw_sweep_cost,
        has_sweep,
    ),
    chart(
        "sweep_latency.png",
        "How does the slow-tail (p95) delivery latency change as the number of clients grows?",
        draw_sweep_latency,
        has_sweep,
    ),
    chart(
        "framework_tax.png",
        "How much more server CPU does each strategy's hot path cost than the least a bare "
        "ASGI app spends on the same job?",
        draw_framework_tax,
        has_floor,
    ),
    chart(
        "server_and_layer.png",
        "What does the choice of ASGI server and channel layer cost per delivered message?",
        draw_server_and_layer,
        has_variants,
    ),
    chart(
        "capacity_clients.png",
        "How many clients does each technique hold before delivery p95 passes 500 ms, a "
        "message is lost or a request fails, in quiet rooms and in busy ones?",
        draw_capacity_clients,
        has_capacity,
    ),
    chart(
        "capacity_steps.png",
        "How do p95 latency and server CPU grow with the clients, and at which step did each "
        "technique break?",
        draw_capacity_steps,
        has_capacity,
    ),
)
