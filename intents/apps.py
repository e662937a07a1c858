from django.apps import AppConfig


class IntentsConfig(AppConfig):
    name = "intents"
    verbose_name = "Intents"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name.
        from intents import tasks  # noqa: F401
        from intents.notices import intent_events_no_longer_to_tell
        from intents.privacy import erase_intents, export_intents
        from marketplace.events import register_no_longer_to_tell
        from marketplace.privacy import register

        # This app's part of a person's export and erasure (see marketplace.privacy).
        register(name="intents", export=export_intents, erase=erase_intents, order=1)
        # Events about an intent the vendor may no longer read are not told (webhooks, feed).
        register_no_longer_to_tell("intents", intent_events_no_longer_to_tell)
