from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process, not only in workers,
        # so services can enqueue them by name; links registers its check; database
        # watches each new PostgreSQL connection for plans a migration made stale.
        from marketplace import database, links, tasks  # noqa: F401
        from marketplace.organizations import erase_organizations, export_organizations
        from marketplace.privacy import register

        # Skills, experience and memberships: part of the person's export and
        # erasure. Order 1 so it runs before the account itself is anonymized.
        register(
            name="organizations",
            export=export_organizations,
            erase=erase_organizations,
            order=1,
        )
