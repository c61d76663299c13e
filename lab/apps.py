from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "lab"
    verbose_name = "pushlab chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Count every database query of this process (``lab.traffic``, ``/api/metrics``), and
        refuse to start on a ``PUSHLAB_PUSH_URL`` no push backend reads (``lab.push``)."""
        from django.core.exceptions import ImproperlyConfigured
        from django.db.backends.signals import connection_created

        from lab import push
        from lab.traffic import install_query_counter

        connection_created.connect(install_query_counter, dispatch_uid="pushlab-query-counter")
        try:
            push.backend()
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
