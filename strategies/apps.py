"""The registry as a Django app: when the app registry is ready, every strategy's publish
hook is registered with the core (``lab.chat.register_publisher``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class StrategiesConfig(AppConfig):
    name = "strategies"
    verbose_name = "pushlab strategies"

    def ready(self) -> None:
        from lab import chat
        from strategies import STRATEGIES

        unknown = [key for key in settings.PUSHLAB_PUBLISH_ONLY if key not in STRATEGIES]
        if unknown:
            raise ImproperlyConfigured(
                f"PUSHLAB_PUBLISH_ONLY names unknown strategies {', '.join(unknown)}; "
                f"known: {', '.join(STRATEGIES)}"
            )
        for strategy in STRATEGIES.values():
            hook = strategy.publisher()
            if hook is not None:
                chat.register_publisher(strategy.key, hook)
