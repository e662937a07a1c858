from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from marketplace.privacy import register
        from offers import tasks  # noqa: F401
        from offers.privacy import erase_offers, export_offers

        # This app's part of a person's export and erasure (see marketplace.privacy).
        register(name="offers", export=export_offers, erase=erase_offers, order=2)
