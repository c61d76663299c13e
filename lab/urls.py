"""The URL configuration: the core's pages and API, and each strategy's routes from the
registry (part of the composition root: with ``lab/settings.py``, ``lab/asgi.py`` and
``lab/cli.py``, the only core modules that import ``strategies/``)."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from lab import api, views
from strategies import DEFAULT_STRATEGY, STRATEGIES

registry = {"strategies": STRATEGIES, "default_strategy": DEFAULT_STRATEGY}
"""Handed to the pages that list strategies (``lab/views.py`` never imports the registry)."""

api_urls = [
    path("rooms/<str:room>/messages", api.room_messages, name="room-messages"),
    path("metrics", views.metrics, name="metrics"),
    *(route for strategy in STRATEGIES.values() for route in strategy.http_urls()),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
    path("chat/", views.index, registry, name="index"),
    path("chat/<str:room>/", views.room, registry, name="room"),
    path("chat/<str:room>/compare/", views.compare, {"strategies": STRATEGIES}, name="compare"),
    path("lecture/chat/<str:room>/", views.lecture_room, name="lecture-room"),
    path("api/", include(api_urls)),
    path("admin/", admin.site.urls),
]

handler404 = "lab.views.not_found"
handler500 = "lab.views.server_error"
