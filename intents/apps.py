from django.apps import AppConfig


class IntentsConfig(AppConfig):
    name = "intents"
    verbose_name = "Intents"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from intents import tasks  # noqa: F401
        from intents.privacy import erase_intents, export_intents
        from marketplace.privacy import register

        # This app's part of a person's export and erasure (see marketplace.privacy).
        register(name="intents", export=export_intents, erase=erase_intents, order=1)
