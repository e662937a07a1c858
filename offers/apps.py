from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from offers import tasks  # noqa: F401
