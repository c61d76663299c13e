"""``summary.json``, the one record of a run: its typed shape, the table of its figures, and
how it is saved, loaded, checked and shown.

The runner saves through ``save``; the charts, report.md, the docs' numbers and the
notebooks read through ``load``; every table of figures takes its names, headers and units
from ``FIGURES``, and every number on a page goes through ``format_number``. The docs'
schema tables (docs/metrics.md) are drawn from the records below by ``schema_markdown``.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

SUMMARY_FILE = "summary.json"
ROUNDING_DIGITS = 4
"""Decimal places of a ratio in summary.json (``rounded``)."""


class ResultsError(Exception):
    """A results directory that cannot be read; the message is one line for the user."""


# --- the records ------------------------------------------------------------------------
# Every key is optional (total=False): an older run lacks the newer figures, and readers
# must say "n/a" rather than fail. Ratios over nothing are null.


class DeliveryMs(TypedDict, total=False):
    """End-to-end delivery latency, from the sender's clock to the receiver's, in ms."""

    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None
    cdf: list[list[float]]
    """``[[ms, fraction], ...]``, fraction ascending 0..1, at most 101 points."""


class Verify(TypedDict, total=False):
    """The short check before timing: every message once and in order."""

    ok: bool
    in_flight: int | None
    lost: int | None
    duplicates: int | None
    out_of_order: int | None
    deliveries: int | None


class StrategyResult(TypedDict, total=False):
    """One strategy in one scenario, or at one client count of the sweep."""

    status: str
    failure: str | None
    verify: Verify | None
    scenario: str
    clients: int
    duration_s: float
    server: str
    layer: str
    messages_sent: int | None
    deliveries_expected: int | None
    deliveries: int | None
    in_flight: int | None
    """Messages not arrived when the clients stopped (after the drain window), newer than
    every message their client got: on their way, not lost. Missing in runs made before
    the two were told apart (their ``lost`` includes these): unknown, not zero."""
    lost: int | None
    """Messages not arrived when the clients stopped, older than one their client got: the
    server never sent them to that client."""
    duplicates: int | None
    out_of_order: int | None
    http_requests: int | None
    http_requests_per_client_per_min: float | None
    requests_per_delivery: float | None
    bytes_sent: int | None
    bytes_per_delivery: float | None
    delivery_ms: DeliveryMs
    server_cpu_ms: float | None
    server_cpu_percent: float | None
    server_cpu_ms_per_delivery: float | None
    server_cpu_ms_per_request: float | None
    redis_commands: int | None
    redis_commands_by_name: dict[str, int] | None
    redis_commands_per_delivery: float | None
    redis_clients_peak: int | None
    redis_clients_by_command: dict[str, int] | None
    db_queries: int | None
    db_queries_per_delivery: float | None
    db_queries_per_client_per_min: float | None
    server_rss_mb_peak: float | None
    locust_cpu_percent: float | None
    locust_saturated: bool
    send_failures: int | None
    reconnects: int | None
    resends: int | None
    stored_duplicates: int | None
    restarts: list[dict[str, Any]]
    broker_events: list[dict[str, Any]]
    hot_path: dict[str, Any] | None
    framework_tax: dict[str, dict[str, Any]] | None
    server_profile: str | None
    timeline: dict[str, Any]
    # A capacity scenario's result (``scenarios.capacity-<load>.<key>``) is its last passing
    # step's, with the capacity figures (``CapacityResult``) added:
    load: str
    slo_p95_ms: float
    clients_at_slo: int
    deliveries_per_s_at_slo: float | None
    server_cpu_percent_at_slo: float | None
    broke: str | None
    broke_at_clients: int | None
    steps: list[CapacityStep]


class CapacityStep(TypedDict, total=False):
    """One step of the capacity scenario: a number of clients held long enough to measure."""

    clients: int
    passed: bool
    broke: str | None
    failure: str | None
    duration_s: float
    delivery_ms: DeliveryMs
    deliveries: int | None
    deliveries_per_s: float | None
    in_flight: int | None
    lost: int | None
    duplicates: int | None
    out_of_order: int | None
    errors: int
    http_requests_per_s: float | None
    server_cpu_percent: float | None
    server_cpu_percent_whole_step: float | None
    server_cpu_ms_per_delivery: float | None
    server_cpu_ms_per_request: float | None
    server_rss_mb_peak: float | None
    server_fds_peak: int | None
    locust_cpu_percent: float | None


class CapacityResult(TypedDict, total=False):
    """One strategy under one capacity load (``quiet`` or ``busy``)."""

    status: str
    failure: str | None
    load: str
    slo_p95_ms: float
    clients_at_slo: int
    deliveries_per_s_at_slo: float | None
    server_cpu_percent_at_slo: float | None
    broke: str | None
    broke_at_clients: int | None
    steps: list[CapacityStep]


class Config(TypedDict, total=False):
    """What the run was asked to do."""

    profile: str
    scenario: str
    scenarios: list[str]
    poll_interval_ms: int
    naive_poll_ms: int
    clients: int
    duration_s: float
    room_size: int | None
    send_interval_s: float
    server: str
    layer: str
    cpu_placement: dict[str, list[int]] | None
    open_files_limit: int
    profile_server: bool
    processes: int
    locust_workers: int
    strategies: list[str]
    capacity_hold_s: float


class Summary(TypedDict, total=False):
    """The whole of ``summary.json``."""

    run_id: str
    created_at: str
    git_sha: str
    machine: dict[str, Any]
    versions: dict[str, Any]
    config: Config
    status: str
    strategies: dict[str, StrategyResult]
    """The main scenario's results (``config.scenario``, usually *chat*)."""
    scenarios: dict[str, dict[str, StrategyResult]]
    floor: dict[str, Any]
    sweep: dict[str, list[StrategyResult]]
    """One entry per client count, ascending."""
    capacity: dict[str, dict[str, CapacityResult]]
    """Strategy key → load → its capacity figures."""
    idle_burst: dict[str, Any]


RECORDS: tuple[tuple[str, type], ...] = (
    ("summary.json", Summary),
    ("config", Config),
    ("strategies.<key>, scenarios.<scenario>.<key>, sweep.<key>[]", StrategyResult),
    ("delivery_ms", DeliveryMs),
    ("verify", Verify),
    ("capacity.<key>.<load>", CapacityResult),
    ("capacity.<key>.<load>.steps[]", CapacityStep),
)
"""Where each record sits in summary.json: the docs' schema tables, in this order."""


# --- the figures: the one table every results table reads -------------------------------

Kind = Literal["count", "ratio"]


@dataclass(frozen=True)
class Figure:
    """A number of a ``StrategyResult``: how tables name it and show it."""

    name: str
    """Its key, or ``delivery_ms.<percentile>`` inside the latency block."""
    label: str
    """Its header in report.md (and the notebooks)."""
    short: str
    """Its header in the runner's closing table on the terminal."""
    unit: str = ""
    """``ms``, ``B`` or nothing; the docs' pages say it after the number."""
    kind: Kind = "ratio"
    """A ``count`` is a whole number shown with thousands separators."""


FIGURES: dict[str, Figure] = {
    figure.name: figure
    for figure in (
        Figure("clients", "clients", "clients", kind="count"),
        Figure("messages_sent", "messages sent", "sent", kind="count"),
        Figure("deliveries", "deliveries", "deliv", kind="count"),
        Figure("in_flight", "in flight at stop", "in flight", kind="count"),
        Figure("lost", "lost", "lost", kind="count"),
        Figure("duplicates", "duplicates", "dup", kind="count"),
        Figure("out_of_order", "out of order", "ooo", kind="count"),
        Figure("requests_per_delivery", "HTTP requests per delivery", "req/deliv"),
        Figure("http_requests_per_client_per_min", "HTTP requests / client / min", "req/cli/min"),
        Figure("delivery_ms.p50", "p50 ms", "p50 ms", "ms"),
        Figure("delivery_ms.p95", "p95 ms", "p95 ms", "ms"),
        Figure("delivery_ms.p99", "p99 ms", "p99 ms", "ms"),
        Figure("delivery_ms.max", "max ms", "max ms", "ms"),
        Figure("bytes_per_delivery", "bytes per delivery", "B/deliv", "B"),
        Figure("server_cpu_ms_per_delivery", "server CPU ms per delivery", "cpu ms/deliv", "ms"),
        Figure("redis_commands_per_delivery", "Redis commands per delivery", "redis/deliv"),
        Figure("redis_clients_peak", "Redis clients peak", "redis conns", kind="count"),
        Figure("db_queries_per_delivery", "DB queries per delivery", "db q/deliv"),
        Figure("db_queries_per_client_per_min", "DB queries / client / min", "db q/cli/min"),
        Figure("locust_cpu_percent", "Locust CPU %", "locust cpu%"),
        Figure("send_failures", "failed sends", "failed sends", kind="count"),
        Figure("reconnects", "client reconnects", "reconnects", kind="count"),
        Figure("resends", "re-sent", "re-sent", kind="count"),
        Figure("stored_duplicates", "stored twice", "stored twice", kind="count"),
    )
}

COSTS = (
    "requests_per_delivery",
    "http_requests_per_client_per_min",
    "delivery_ms.p50",
    "delivery_ms.p95",
    "delivery_ms.p99",
    "bytes_per_delivery",
    "server_cpu_ms_per_delivery",
    "redis_commands_per_delivery",
)
"""What one strategy costs per message: the docs' numbers tables and the notebooks' table."""

MEASURED = (
    "messages_sent", "deliveries_expected", "deliveries", "in_flight", "lost", "duplicates",
    "out_of_order", "http_requests", "http_requests_per_client_per_min",
    "requests_per_delivery", "bytes_sent", "bytes_per_delivery", "server_cpu_ms",
    "server_cpu_ms_per_delivery", "redis_commands", "redis_commands_by_name",
    "redis_commands_per_delivery", "redis_clients_peak", "db_queries",
    "db_queries_per_delivery", "db_queries_per_client_per_min", "server_rss_mb_peak",
    "locust_cpu_percent", "server_cpu_percent", "redis_clients_by_command", "send_failures",
    "reconnects", "resends", "stored_duplicates", "server_cpu_ms_per_request", "hot_path",
    "server_profile",
)  # fmt: skip
"""The ``StrategyResult`` keys a measurement fills: all null when a strategy failed."""


# --- reading numbers out of a result ----------------------------------------------------


def number(result: Mapping[str, Any], name: str) -> float | None:
    """A plain JSON number from ``result``, or None when it is null, missing or not a number.

    ``delivery_ms.p50`` (any ``block.key``) reaches into a nested object.
    """
    block, dot, key = name.partition(".")
    if dot:
        inner = result.get(block)
        return number(inner, key) if isinstance(inner, Mapping) else None
    value = result.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def latency(result: Mapping[str, Any], percentile: str) -> float | None:
    """``delivery_ms.<percentile>`` (p50, p95, p99, max, mean) or None."""
    return number(result, f"delivery_ms.{percentile}")


def is_failed(result: Mapping[str, Any]) -> bool:
    return result.get("status") != "ok"


def is_saturated(result: Mapping[str, Any]) -> bool:
    return result.get("locust_saturated") is True


def rounded(value: float | None, digits: int = ROUNDING_DIGITS) -> float | None:
    """Round for summary.json (keeps None, the mark of a ratio over nothing)."""
    return None if value is None else round(value, digits)


# --- showing a number: the one formatter ------------------------------------------------


def format_number(value: float | None, *, missing: str = "n/a", thousands: str = ",") -> str:
    """A number short enough for a bar label, a table cell or a sentence: 0, 0.0183, 0.56,
    61.2, 1,090; ``missing`` for None.

    The docs pass ``thousands=""``: a comma would read as a decimal sign on the Russian pages.
    """
    if value is None:
        return missing
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", thousands)
    return f"{value:.3g}"


def format_count(value: float | None, *, missing: str = "n/a") -> str:
    """A whole number with thousands separators: 12,345."""
    return missing if value is None else f"{value:,.0f}"


def format_figure(result: Mapping[str, Any], name: str, *, missing: str = "n/a") -> str:
    """A figure of ``FIGURES`` from ``result`` as its kind is shown."""
    figure = FIGURES.get(name)
    value = number(result, name)
    if figure is not None and figure.kind == "count":
        return format_count(value, missing=missing)
    return format_number(value, missing=missing)


# --- saving, loading and checking -------------------------------------------------------


def save(summary: Summary, run_dir: Path) -> Path:
    """Write ``run_dir/summary.json`` (indented, one trailing newline) and return its path."""
    path = run_dir / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def load(run_dir: Path) -> Summary:
    """Read ``run_dir/summary.json`` and check the shape every reader relies on.

    Raises ResultsError, with a one-line message, when it is missing or malformed.
    """
    if not run_dir.is_dir():
        raise ResultsError(f"no such results directory: {run_dir}")
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        raise ResultsError(
            f"{run_dir} has no {SUMMARY_FILE}; is it a directory `pushlab bench` wrote?"
        )
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from error
    return validate(parsed, path)


def load_if_present(run_dir: Path) -> Summary | None:
    """The run in ``run_dir``, or None when the directory holds no summary.json."""
    return load(run_dir) if (run_dir / SUMMARY_FILE).is_file() else None


def validate(summary: object, path: Path) -> Summary:
    """``summary`` as a Summary; ResultsError unless its containers have the schema's types."""

    def fail(what: str) -> ResultsError:
        return ResultsError(f"{path} does not follow the results schema: {what}")

    if not isinstance(summary, dict):
        raise fail("the top level is not an object")
    for name in ("config", "machine", "versions"):
        if not isinstance(summary.get(name, {}), dict):
            raise fail(f"'{name}' is not an object")
    if not is_results_table(summary.get("strategies")):
        raise fail("'strategies' must map each strategy key to an object of results")
    scenarios = summary.get("scenarios", {})
    if not isinstance(scenarios, dict) or not all(map(is_results_table, scenarios.values())):
        raise fail("'scenarios' must map each scenario to {strategy key: results}")
    sweep = summary.get("sweep") or {}
    if not isinstance(sweep, dict) or not all(
        isinstance(points, list) and all(isinstance(point, dict) for point in points)
        for points in sweep.values()
    ):
        raise fail("'sweep' must map each strategy key to a list of results")
    capacity = summary.get("capacity") or {}
    if not isinstance(capacity, dict) or not all(map(is_results_table, capacity.values())):
        raise fail("'capacity' must map each strategy key to {load: results}")
    checked: Summary = typing.cast(Summary, summary)
    return checked


def is_results_table(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


# --- the schema, for the docs ------------------------------------------------------------

SCHEMA_HEADERS = {
    "en": ("key", "type"),
    "ru": ("ключ", "тип"),
}
TYPE_WORDS = {
    "en": {"str": "string", "int": "integer", "float": "number", "bool": "true/false",
           "dict": "object", "list": "list", "None": "null", "or": "or", "key": "key"},
    "ru": {"str": "строка", "int": "целое", "float": "число", "bool": "true/false",
           "dict": "объект", "list": "список", "None": "null", "or": "или", "key": "ключ"},
}  # fmt: skip


def type_words(hint: object, language: str) -> str:
    """``float | None`` → ``number or null``, ``dict[str, X]`` → ``object: key → X``; a record
    names itself (``DeliveryMs``)."""
    words = TYPE_WORDS[language]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return f" {words['or']} ".join(type_words(arm, language) for arm in typing.get_args(hint))
    if hint is type(None):
        return words["None"]
    if isinstance(hint, type) and typing.is_typeddict(hint):
        return f"`{hint.__name__}`"
    origin = typing.get_origin(hint) or hint
    name = getattr(origin, "__name__", str(origin))
    args = [arg for arg in typing.get_args(hint) if arg is not Any]
    if name == "dict" and len(args) == 2:
        return f"{words['dict']}: {words['key']} → {type_words(args[1], language)}"
    if name == "list" and args:
        return f"{words['list']}: {type_words(args[0], language)}"
    return words.get(name, name)


def schema_markdown(language: str = "en") -> str:
    """One table per record: every key ``summary.json`` may hold, and its type."""
    key_header, type_header = SCHEMA_HEADERS[language]
    sections = []
    for where, record in RECORDS:
        hints = typing.get_type_hints(record)
        rows = [f"| `{key}` | {type_words(hint, language)} |" for key, hint in hints.items()]
        sections.append(
            f"**`{record.__name__}`** — `{where}`\n\n"
            f"| {key_header} | {type_header} |\n|---|---|\n" + "\n".join(rows)
        )
    return "\n\n".join(sections) + "\n"
