"""The contract every push strategy implements.

A strategy is only a transport. Storage, ids, validation and authorship live in
``lab.chat``; a strategy adds the server side that carries messages to its
clients (URL patterns, a consumer, a publish hook) and one small JS client.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern


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

    def publish(self, message: dict[str, Any]) -> None:
        """Push a just-committed message to this strategy's clients (``lab.chat.publish``).

        Called once per message, in the thread that stored it, after commit.
        Pull-only strategies have nothing to push and keep this default.
        """
