"""The run timeline: what the sampled Locust clients record, what the runner keeps, and the
chart drawn from it (a real run's timeline is checked in tests/test_bench_smoke.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from matplotlib.collections import LineCollection, PolyCollection

from benchmarks.load import timeline
from benchmarks.report.charts import CHARTS
from benchmarks.run import timeline_window
from strategies import STRATEGIES
from tests.synthetic_summary import build_summary


@pytest.fixture
def timeline_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the recorders write, as in a Locust process the runner started."""
    monkeypatch.setenv(timeline.DELIVERIES_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(timeline, "record_sink", None)
    return tmp_path


def test_only_the_first_clients_are_sampled_and_the_rest_record_nothing(
    timeline_dir: Path,
) -> None:
    sampled = [timeline.for_client("websocket", n, 0.0, True) for n in range(5)]
    assert [isinstance(r, timeline.ClientTimeline) for r in sampled] == [True] * 3 + [False] * 2
    assert sampled[3] is timeline.NOT_SAMPLED and sampled[3].context == {}
    sampled[3].opened()
    sampled[3].arrived([{"message": "bench x 1000"}])
    timeline.record_request(context=sampled[3].context, start_time=1.0, response_time=5.0)
    sampled[3].write()
    assert not (timeline_dir / timeline.TIMELINE_FILE).exists()


def test_a_sampled_client_writes_its_requests_connections_and_arrivals(
    timeline_dir: Path,
) -> None:
    started = 1_000.0
    recorder = timeline.for_client("sse", 1, started, sends=False)
    timeline.record_request(
        context=recorder.context, start_time=started + 2, response_time=250.0, request_type="GET"
    )
    timeline.record_request(context={}, start_time=started + 3, response_time=1.0)  # another user
    recorder.opened()
    recorder.arrived([{"message": f"bench abc {(started + 4) * 1000:.0f}"}, {"message": "hi"}])
    recorder.write()  # the stream still open at stop is held until now
    (record,) = timeline_window.read_timeline(timeline_dir)
    assert record["strategy"] == "sse" and record["client"] == 1 and record["sends"] is False
    assert record["requests"] == [[started + 2, started + 2.25, "GET"]]
    (connection,) = record["connections"]
    assert connection[0] <= connection[1]
    assert [(sent, pushed) for _, sent, pushed in record["arrivals"]] == [
        (started + 4, True),
        (None, True),
    ]


def test_a_worker_sends_its_timeline_to_the_master(
    timeline_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(timeline, "record_sink", sent.append)
    timeline.for_client("long-polling", 0, 0.0, True).write()
    assert [record["strategy"] for record in sent] == ["long-polling"]
    assert not (timeline_dir / timeline.TIMELINE_FILE).exists()


def record(client: int, worker: int | None = None, zero: float = 500.0) -> dict[str, Any]:
    """A client's raw record: a short poll before, in and after the 10-20 s window."""
    found: dict[str, Any] = {
        "strategy": "short-polling",
        "client": client,
        "started_at": zero,
        "sends": True,
        "requests": [[zero + at, zero + at + 0.01, "GET"] for at in (5.0, 12.0, 25.0)],
        "connections": [[zero + 1.0, zero + 9.0], [zero + 9.5, zero + 28.0]],
        "arrivals": [[zero + 12.01, zero + 11.5, False], [zero + 21.0, zero + 20.5, False]],
    }
    if worker is not None:
        found["worker"] = worker
    return found


def test_the_runner_keeps_one_window_of_the_first_clients_in_run_seconds() -> None:
    kept = timeline_window.collect([record(4), record(0), record(2), record(1)], 30.0, 3.0)
    assert kept["window_s"] == [10.0, 20.0]
    assert [lane["client"] for lane in kept["clients"]] == [0, 1, 2]
    lane = kept["clients"][0]
    assert lane["requests"] == [{"start": 12.0, "end": 12.01, "method": "GET"}]
    assert lane["connections"] == [[9.5, 28.0]]
    assert lane["arrivals"] == [{"at": 12.01, "sent": 11.5, "pushed": False}]
    assert kept["sent"] == [11.5]


def test_with_locust_workers_the_first_workers_clients_are_kept() -> None:
    records = [record(0, worker=1, zero=900.0), record(1, worker=0), record(0, worker=0)]
    kept = timeline_window.collect(records, 30.0, 3.0)
    assert [lane["client"] for lane in kept["clients"]] == [0, 1]
    assert kept["clients"][0]["requests"][0]["start"] == 12.0  # its own worker's clock zero


def test_a_short_run_shows_its_first_ten_seconds() -> None:
    assert timeline_window.window_of(14.0, 3.0) == (1.0, 11.0)
    assert timeline_window.window_of(6.0, 3.0) == (0.0, 10.0)
    assert timeline_window.window_of(45.0, 3.0) == (10.0, 20.0)


def timeline_chart() -> Any:
    return next(chart for chart in CHARTS if chart.file_name == "timeline.png")


def test_the_chart_has_a_panel_per_strategy_and_a_lane_per_client() -> None:
    summary = build_summary()
    figure = timeline_chart().draw(summary)
    panels = [axes for axes in figure.axes if axes.get_title(loc="left")]
    assert [axes.get_title(loc="left") for axes in panels] == [s.title for s in STRATEGIES.values()]
    for axes, key in zip(panels, STRATEGIES, strict=True):
        lanes = summary["strategies"][key]["timeline"]["clients"]
        labels = [label.get_text() for label in axes.get_yticklabels()]
        assert labels == [f"client #{lane['client']}" for lane in lanes]
        shown = [
            r for lane in lanes for r in lane["requests"] if r["end"] >= 10 and r["start"] <= 20
        ]
        requests = len(shown)
        pushed = sum(arrival["pushed"] for lane in lanes for arrival in lane["arrivals"])
        assert axes.get_title(loc="right") == (
            f"HTTP requests: {requests} · pushed frames and events: {pushed}"
        )
        bars = [c for c in axes.collections if isinstance(c, PolyCollection)]
        held = sum(len(lane["connections"]) for lane in lanes)
        assert len(bars) == sum(len(lane["requests"]) for lane in lanes) + held
        ticks = sum(
            len(c.get_segments()) for c in axes.collections if isinstance(c, LineCollection)
        )
        assert ticks == pushed
        assert axes.get_xlim() == (10.0, 20.0)


def test_a_run_without_timelines_has_no_timeline_chart_and_a_missing_one_is_noted() -> None:
    summary = build_summary()
    for result in summary["strategies"].values():
        del result["timeline"]
    assert not timeline_chart().applies(summary)
    summary = build_summary()
    del summary["strategies"]["websocket"]["timeline"]
    figure = timeline_chart().draw(summary)
    notes = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert "No timeline recorded for WebSocket." in notes
    assert "WebSocket" not in [axes.get_title(loc="left") for axes in figure.axes]


def test_the_timeline_json_is_what_summary_json_stores() -> None:
    kept = timeline_window.collect([record(0)], 30.0, 3.0)
    assert json.loads(json.dumps(kept)) == kept


def test_only_the_main_scenarios_results_keep_their_timeline_in_summary_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart shows the chat scenario; the other scenarios' timelines stay in raw/."""
    from benchmarks.run import runner
    from benchmarks.run.bench_config import BenchConfig
    from benchmarks.run.scenarios import PROFILES, profile_runs

    def measured(key: str, scenario: Any, *_: Any) -> dict[str, Any]:
        return {"status": "ok", "failure": None, "timeline": {"clients": [{"client": 0}]}}

    monkeypatch.setattr(runner, "measure_floor", lambda *_: {})
    monkeypatch.setattr(runner, "measure_strategy", measured)
    monkeypatch.setattr(runner, "add_framework_tax", lambda *_: None)
    runs = profile_runs(PROFILES["full"], None, 5.0, ("chat", "idle", "sweep"))
    config = BenchConfig(
        profile="full", strategies=("short-polling", "websocket"), runs=tuple(runs),
        server="daphne", processes=0, poll_interval_ms=1000, out=tmp_path,
    )  # fmt: skip
    summary = runner.measure_everything(config, "run", tmp_path)
    assert all("timeline" in result for result in summary["strategies"].values())
    assert not [r for r in summary["scenarios"]["idle"].values() if "timeline" in r]
    assert not [r for steps in summary["sweep"].values() for r in steps if "timeline" in r]
