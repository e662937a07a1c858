from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from marketplace import tasks  # noqa: F401
