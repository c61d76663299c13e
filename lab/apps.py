from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "lab"
    verbose_name = "pushlab chat"
    default_auto_field = "django.db.models.BigAutoField"
