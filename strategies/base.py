"""The contract every push strategy implements.

A strategy is only a transport. Storage, ids, validation and authorship live in
``lab.chat``; a strategy's package holds everything that varies by strategy: its server side
(URL patterns, a consumer, its publisher), its browser client and that client's page
configuration, its Locust user, the test suite's client for it, its colour and label, and
what its design predicts about a benchmark run. The core never imports this package: the
registry hands each publisher to the push seam, ``lab.push`` (``strategies/apps.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.urls import URLPattern

if TYPE_CHECKING:  # lab.settings imports this module: the core is loaded only when used
    from lab.push import Publisher


@dataclass(frozen=True)
class Prediction:
    """A figure of a benchmark run that a strategy's own design predicts, and why.

    The report checks it against the run and the charts draw it, so the arithmetic (short
    polling's one request per interval) lives with the strategy, not in the charts."""

    figure: str
    """A key of the strategy's result in summary.json; ``delivery_ms.p50`` reaches inside."""
    value: float
    tolerance: float
    """How far the measured figure may be from ``value`` and still agree."""
    because: str
    """The reason, a clause in English: "one poll every 1000 ms (60)"."""
    label: str
    """A short name for a chart: "Short polling: one poll every 1000 ms"."""


@dataclass(frozen=True)
class HotPath:
    """A strategy's own hot path, declared as data that ``benchmarks.run.hotpaths`` and the
    floor (``benchmarks.run.floor``) interpret: which of the benchmark's loads drives it, on
    which endpoint, and how the floor does the same job with the least work a server can do.

    ``pushlab bench`` runs the job against the strategy's server and against the floor and
    reports the ratio (the framework tax)."""

    job: str
    """Its name in hotpaths.json and in summary.json's ``floor.<job>``: ``stream``."""
    load: Literal["poll", "wait", "stream", "broadcast"]
    """``poll``: GETs back to back (CPU per request); ``wait``: held requests answered by
    posts and asked again; ``stream``: held responses that write each post; ``broadcast``:
    WebSockets in one room, one of them sending (CPU per delivery for the last three)."""
    path: str
    """The endpoint, ``{room}`` standing for the room: ``/api/rooms/{room}/events``."""
    unit: Literal["request", "delivery"] = "delivery"
    delivery_line: str = ""
    """``stream``: a line of the body that starts with this carries one message
    (``data:`` for an event stream); other lines (keepalives, ``id:``) are not deliveries."""
    floor_twin: str | None = None
    """``module:app``: a bare ASGI app that serves ``path`` on the floor. It gets the floor's
    store as ``scope["floor"]`` (with ``scope["room"]`` and ``scope["after"]`` checked), so it
    imports nothing of the benchmark. ``None``: the floor's own poll, wait or broadcast."""


def measured(result: Mapping[str, Any], figure: str) -> float | None:
    """A (possibly dotted) figure of a strategy's result, if the run recorded it."""
    value: Any = result
    for part in figure.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def sends_per_client_per_min(result: Mapping[str, Any]) -> float:
    """The messages a client posted itself a minute (each one is an HTTP request too)."""
    sent, clients, duration = (
        measured(result, k) for k in ("messages_sent", "clients", "duration_s")
    )
    if not (sent and clients and duration):
        return 0.0
    return sent * 60 / (clients * duration)


class Strategy:
    """One push technique. Subclasses set the class attributes and override the hooks."""

    key: str
    """Used in URLs (``?strategy=``), results, charts and docs."""
    title: str
    colour: str
    """The strategy's colour in every chart and on the compare page."""
    summary: str
    """One line for the index page and the docs."""
    client_script: str
    """Static path of the browser client that calls ``pushlab.register(key, ...)``."""
    locust_user: str
    """``module:Class`` of the Locust user that behaves like the browser client."""
    test_receiver: str
    """``module:Class`` of the test suite's client that follows a room like the browser does
    (a ``tests.clients.Receiver``); the contract and load tests start one per strategy."""
    sends_over: Literal["http", "websocket"] = "http"
    """How the browser client sends: a POST to the API, or a frame on its WebSocket."""
    healthy_state: str
    """What the page's ``#connection-state`` shows once the client follows the room."""
    capacity_driver: Literal["polls", "requests per delivery", "checks", "deliveries"] = (
        "deliveries"
    )
    """What a server core spends itself on as clients grow, which the capacity report checks:
    a request per client per poll interval, one held request answered and re-asked per
    delivery, a store query per held request per check interval, or only the deliveries
    pushed down open connections."""
    hot_path: HotPath | None = None
    """This strategy's own work as a ``benchmarks.run.hotpaths`` job, run against its server
    and against the bare-ASGI floor. ``None``: only the post job is compared."""
    titles: Mapping[str, str] = {}
    """The title in other languages, by language code (``{"ru": "Длинный опрос"}``): the
    Russian pages, report and charts use it; a title kept in Latin letters needs none."""
    capacity_reason: Mapping[str, str] = {}
    """Why this technique's capacity ends where it does, one Markdown sentence or two per
    language code (``en``, ``ru``): the docs' capacity page lists them in registry order."""
    in_quick_profile = True
    """False: ``pushlab bench``'s quick profile (``make bench``, ~3 minutes) leaves it to
    ``--profile full`` unless ``--strategies`` names it."""
    settings: Mapping[str, int | float] = {}
    """The strategy's own ``PUSHLAB_*`` settings and their defaults: ``lab/settings.py`` reads
    each from the environment like the core's, so a strategy adds a setting in its package."""

    def http_urls(self) -> list[URLPattern]:
        """Extra HTTP endpoints, mounted under ``/api/``; called once when URLs load."""
        return []

    def websocket_urls(self) -> list[URLPattern]:
        """WebSocket routes, mounted at the site root; called once when ASGI starts."""
        return []

    def publisher(self) -> Publisher | None:
        """How a just-committed message reaches this strategy's clients: ``lab.push.WAKE_UPS``
        (they wait on the core's hub), a ``lab.push.Relay`` of its own, or ``None`` for a
        pull-only strategy. Registered with ``lab.push`` when the app registry is ready
        (``strategies/apps.py``); strategies that share a publisher get it once a message."""
        return None

    def page_config(self) -> dict[str, Any]:
        """What the browser client needs besides the room's (JSON in the room page's
        ``pushlab-config``): its intervals, timeouts and the close codes it must recognise."""
        return {}

    def page_hint(self) -> str:
        """A sentence of HTML for the room page about this technique (safe, or empty)."""
        return ""

    def latency_allowance_ms(self, config: Mapping[str, Any]) -> float:
        """What this technique's design adds to delivery latency by itself, for a run with
        ``config``: the capacity scenario's SLO allows it on top of 500 ms."""
        return 0.0

    def predictions(self, config: Mapping[str, Any], result: Mapping[str, Any]) -> list[Prediction]:
        """What this technique's design predicts for a run with ``config`` (summary.json's),
        given its ``result``; the report checks each and the charts draw them."""
        return []

    @property
    def hot_path_job(self) -> str | None:
        """The name of this strategy's hot-path job (``hot_path.job``), if it has one."""
        return self.hot_path.job if self.hot_path else None

    @property
    def app(self) -> str:
        """The strategy's package, an installed Django app (its static client lives there)."""
        return type(self).__module__.rpartition(".")[0]
