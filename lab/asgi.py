"""The ASGI entry point: HTTP to Django, WebSockets to the strategies' consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
# Initialise Django before importing code that may import models (as in the lecture).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from lab.traffic import TrafficMeter  # noqa: E402
from strategies import STRATEGIES  # noqa: E402

websocket_urlpatterns = [
    route for strategy in STRATEGIES.values() for route in strategy.websocket_urls()
]

application = TrafficMeter(
    ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
