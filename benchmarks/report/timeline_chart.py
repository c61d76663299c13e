"""The timeline chart: a few clients of each technique over the same ten seconds, as swimlanes.

One image per run, one panel per strategy (registry order) and one lane per sampled
client, drawn from ``strategies.<key>.timeline`` (``benchmarks.load.timeline.collect``). One
image rather than one per strategy because the lesson is the contrast: the short polls'
dotted rhythm, the long polls held until a message comes, the sockets that only push
ticks, all against the same sends. It speaks the compare page's live timeline's visual
language (lab/static/lab/timeline.js): requests as bars in the technique's colour from
open to answer (a send's POST thinner), pushed frames as ticks, arrivals as black
diamonds at a lane's top, and every sent message as a dashed grey line across the lanes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from benchmarks.report.chart_parts import (
    CHART_TITLES,
    FAILED_COLOUR,
    Footnotes,
    run_context,
    select_charted,
    strategy_colour,
    strategy_title,
)
from benchmarks.results.summary import StrategyResult, Summary

FILE_NAME = "timeline.png"
SENT_COLOUR = "#888888"
ARRIVAL_COLOUR = "#111111"
LEGEND_COLOUR = "#555555"
MIN_BAR_S = 0.04
"""A request answered in a few milliseconds is still drawn this wide: a dot of the rhythm."""
LANE_INCHES = 0.42
PANEL_EXTRA_INCHES = 0.45


def timeline_of(result: StrategyResult) -> Mapping[str, Any] | None:
    """The result's recorded window, if the run recorded one with at least one lane."""
    found = result.get("timeline")
    if isinstance(found, Mapping) and isinstance(found.get("clients"), list) and found["clients"]:
        return found
    return None


def has_timeline(summary: Summary) -> bool:
    strategies = summary.get("strategies")
    return isinstance(strategies, Mapping) and any(
        isinstance(result, Mapping) and timeline_of(result) is not None
        for result in strategies.values()
    )


def draw_timeline(summary: Summary) -> Figure:
    """A panel per strategy that recorded a timeline; failed strategies are footnoted."""
    selection = select_charted(summary["strategies"])
    footnotes = Footnotes()
    footnotes.add_failures(selection.failed)
    panels = [(key, timeline_of(result)) for key, result in selection.charted]
    missing = [strategy_title(key) for key, found in panels if found is None]
    drawn = [(key, found) for key, found in panels if found is not None]
    if missing:
        footnotes.remarks.append(f"No timeline recorded for {', '.join(missing)}.")
    window = window_of(drawn)
    footnotes.remarks += [  # one phrase a line, so each is translated whole
        "Each panel: the same seconds of that technique's own run.",
        "Each lane: one of the run's first clients, all in one room.",
    ]
    lines = (
        [(line, "dimgray", "normal") for line in footnotes.wrapped([run_context(summary)])]
        + [(line, FAILED_COLOUR, "bold") for line in footnotes.wrapped(footnotes.failures)]
        + [(line, "black", "normal") for line in footnotes.wrapped(footnotes.remarks)]
    )
    lanes = [max(1, len(found["clients"])) for _, found in drawn] or [1]
    heights = [LANE_INCHES * count + PANEL_EXTRA_INCHES for count in lanes]
    notes_height = 0.2 * len(lines) + 0.75  # the legend's two rows, then the notes
    figure = Figure(figsize=(10.0, sum(heights) + notes_height + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(heights) + 1, 1, height_ratios=[*heights, notes_height])
    axes_list: list[Axes] = []
    for index in range(len(heights)):
        shared = axes_list[0] if axes_list else None
        axes_list.append(figure.add_subplot(grid[index, 0], sharex=shared))
    if not drawn:
        no_timeline(axes_list[0])
    for axes, (key, found) in zip(axes_list, drawn, strict=False):
        draw_panel(axes, key, found)
    for axes in axes_list[:-1]:
        axes.tick_params(labelbottom=False)
    axes_list[-1].set_xlim(*window)
    axes_list[-1].set_xlabel("seconds since the run's first client started (s)")
    notes = figure.add_subplot(grid[-1, 0])
    notes.axis("off")
    notes.legend(handles=legend_handles(), loc="upper center", ncols=3, fontsize=8, frameon=False)
    for index, (text, colour, weight) in enumerate(lines):
        note = notes.text(
            0.0, 0.42 - index * 0.2 / notes_height, text, color=colour, fontweight=weight,
            fontsize=9, va="top", transform=notes.transAxes,
        )  # fmt: skip
        note.set_in_layout(False)
    figure.suptitle(CHART_TITLES[FILE_NAME], fontsize=13, fontweight="bold")
    return figure


def window_of(drawn: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[float, float]:
    for _, found in drawn:
        window = found.get("window_s")
        if isinstance(window, list) and len(window) == 2:
            return float(window[0]), float(window[1])
    return 0.0, 10.0


def no_timeline(axes: Axes) -> None:
    axes.text(
        0.5, 0.5, "No strategy recorded a timeline in this run.", ha="center", va="center",
        transform=axes.transAxes, fontsize=11,
    )  # fmt: skip
    axes.set_yticks([])


def draw_panel(axes: Axes, key: str, found: Mapping[str, Any]) -> None:
    """One technique: a lane per client, top to bottom in client order."""
    colour = strategy_colour(key)
    clients = found["clients"]
    count = len(clients)
    start, end = window_of([(key, found)])
    requests = pushed = 0
    for sent_at in found.get("sent", []):
        axes.axvline(sent_at, color=SENT_COLOUR, linewidth=0.9, linestyle=(0, (4, 3)), zorder=6)
    for lane, client in enumerate(clients):
        bottom = count - 1 - lane
        middle = bottom + 0.5
        for request in client.get("requests", []):
            is_send = request.get("method") == "POST"
            low, height = (bottom + 0.05, 0.16) if is_send else (middle - 0.17, 0.34)
            width = max(MIN_BAR_S, float(request["end"]) - float(request["start"]))
            axes.broken_barh(
                [(float(request["start"]), width)], (low, height),
                facecolors=colour, alpha=0.75 if is_send else 1.0, edgecolors="white",
                linewidth=1.2, zorder=3,
            )  # fmt: skip
            if start <= float(request["end"]) and float(request["start"]) <= end:
                requests += 1
        for opened, closed in client.get("connections", []):
            axes.broken_barh(
                [(float(opened), float(closed) - float(opened))], (middle - 0.06, 0.12),
                facecolors=colour, alpha=0.35, zorder=2,
            )  # fmt: skip
        received = client.get("arrivals", [])
        arrivals = [float(arrival["at"]) for arrival in received]
        ticks = [float(arrival["at"]) for arrival in received if arrival["pushed"]]
        pushed += len(ticks)
        axes.vlines(ticks, bottom + 0.1, bottom + 0.78, colors=colour, linewidth=2, zorder=4)
        axes.scatter(
            arrivals, [bottom + 0.86] * len(arrivals), marker="D", s=14, color=ARRIVAL_COLOUR,
            zorder=5, linewidths=0,
        )  # fmt: skip
        if lane:
            axes.axhline(bottom + 1, color="#dddddd", linewidth=0.8, zorder=0)
    axes.set_ylim(0, count)
    axes.set_yticks(
        [count - 0.5 - lane for lane in range(count)],
        [f"client #{client['client']}" for client in clients],
        fontsize=8,
    )
    axes.tick_params(axis="y", length=0)
    axes.set_title(strategy_title(key), loc="left", fontsize=10, fontweight="bold", color=colour)
    axes.set_title(
        f"HTTP requests: {requests} · pushed frames and events: {pushed}",
        loc="right",
        fontsize=8,
        color="dimgray",
    )
    axes.grid(axis="x", alpha=0.25)


def legend_handles() -> list[Any]:
    return [
        Patch(color=LEGEND_COLOUR, label="HTTP request, from open to answer"),
        Patch(color=LEGEND_COLOUR, alpha=0.75, label="a send's POST (thin, at a lane's foot)"),
        Patch(color=LEGEND_COLOUR, alpha=0.35, label="socket or event stream held open"),
        Line2D(
            [],
            [],
            color=LEGEND_COLOUR,
            marker="|",
            linestyle="none",
            markersize=11,
            markeredgewidth=2,
            label="frame or event pushed",
        ),
        Line2D(
            [],
            [],
            color=ARRIVAL_COLOUR,
            marker="D",
            linestyle="none",
            markersize=4,
            label="message arrives",
        ),
        Line2D([], [], color=SENT_COLOUR, linestyle=(0, (4, 3)), label="message sent (any client)"),
    ]
