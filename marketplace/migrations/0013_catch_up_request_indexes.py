"""The sweep's indexes on catch-up requests: partial, so they hold only the rows waiting.

On PostgreSQL built CONCURRENTLY (reads and writes go on meanwhile), outside a
transaction, and IF NOT EXISTS, so a deploy interrupted half-way can run again.
"""

from django.db import migrations, models
from django.db.models import Q

INDEXES = (
    ("marketplace_skillprofile", "skills_catch_up_requested"),
    ("marketplace_vendor", "vendor_catch_up_requested"),
)


def create(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for table, name in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table}"
            " (catch_up_requested_at) WHERE catch_up_requested_at IS NOT NULL"
        )


def drop(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for _table, name in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("marketplace", "0012_catch_up_requests")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
            state_operations=[
                migrations.AddIndex(
                    model_name="skillprofile",
                    index=models.Index(
                        condition=Q(catch_up_requested_at__isnull=False),
                        fields=["catch_up_requested_at"],
                        name="skills_catch_up_requested",
                    ),
                ),
                migrations.AddIndex(
                    model_name="vendor",
                    index=models.Index(
                        condition=Q(catch_up_requested_at__isnull=False),
                        fields=["catch_up_requested_at"],
                        name="vendor_catch_up_requested",
                    ),
                ),
            ],
        )
    ]
