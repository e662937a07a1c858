from django.apps import AppConfig


class IntentsConfig(AppConfig):
    name = "intents"
    verbose_name = "Intents"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from intents import tasks  # noqa: F401
