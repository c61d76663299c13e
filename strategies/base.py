"""The contract every push strategy implements.

A strategy is only a transport. Storage, ids, validation and authorship live in
``lab.chat``; a strategy adds the server side that carries messages to its
clients (URL patterns, a consumer, a publish hook) and one small JS client. The core never
imports this package: the registry hands each publish hook to ``lab.chat`` (``strategies/apps.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import URLPattern

if TYPE_CHECKING:  # lab.chat needs the app registry, which is built from this module
    from lab.chat import Publisher


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
    """Static path of the browser client that registers ``pushlab.transports[key]``."""
    locust_user: str
    """``module:Class`` of the Locust user that behaves like the browser client."""

    def http_urls(self) -> list[URLPattern]:
        """Extra HTTP endpoints, mounted under ``/api/``; called once when URLs load."""
        return []

    def websocket_urls(self) -> list[URLPattern]:
        """WebSocket routes, mounted at the site root; called once when ASGI starts."""
        return []

    def publisher(self) -> Publisher | None:
        """The hook that pushes a just-committed message to this strategy's clients, or
        ``None`` for a pull-only strategy. Registered with ``lab.chat`` when the app registry
        is ready (``strategies/apps.py``); called once per message, in the thread that stored
        it, after commit. Strategies that share a mechanism return the same function, which
        then runs once per message."""
        return None

    @property
    def app(self) -> str:
        """The strategy's package, an installed Django app (its static client lives there)."""
        return type(self).__module__.rpartition(".")[0]
