from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from lab import api, views
from strategies import STRATEGIES

api_urls = [
    path("rooms/<str:room>/messages", api.room_messages, name="room-messages"),
    path("metrics", views.metrics, name="metrics"),
    *(route for strategy in STRATEGIES.values() for route in strategy.http_urls()),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/chat/", permanent=False)),
    path("chat/", views.index, name="index"),
    path("chat/<str:room>/", views.room, name="room"),
    path("chat/<str:room>/compare/", views.compare, name="compare"),
    path("lecture/chat/<str:room>/", views.lecture_room, name="lecture-room"),
    path("api/", include(api_urls)),
    path("admin/", admin.site.urls),
]

handler404 = "lab.views.not_found"
handler500 = "lab.views.server_error"
