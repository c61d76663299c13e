"""The registry as a Django app: when the app registry is ready, every strategy's publisher
is registered with the core's push seam (``lab.push.register_publisher``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "pushlab strategies"

    def ready(self) -> None:
        from lab import push
        from strategies import STRATEGIES

        unknown = [key for key in settings.PUSHLAB_PUBLISH_ONLY if key not in STRATEGIES]
        if unknown:
            raise ImproperlyConfigured(
                f"PUSHLAB_PUBLISH_ONLY names unknown strategies {', '.join(unknown)}; "
                f"known: {', '.join(STRATEGIES)}"
            )
        for strategy in STRATEGIES.values():
            publisher = strategy.publisher()
            if publisher is not None:
                push.register_publisher(strategy.key, publisher)
