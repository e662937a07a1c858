"""The sweep's index on ``match_again_at`` replaces the one on ``updated_at``.

Partial (the intents waiting for matching alone). On PostgreSQL built and dropped
CONCURRENTLY (reads and writes go on meanwhile), outside a transaction. A deploy
interrupted half-way can run again: an index a stopped build left invalid is dropped
first, and the old index goes only once the new one is built.
"""

from django.db import migrations, models

NEW = ("intent_match_again", "match_again_at")
OLD = ("intent_needs_matching", "updated_at")


def _build(schema_editor, built, dropped) -> None:
    name, column = built
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name]
            )
            if (cursor.fetchone() or [False])[0]:  # left invalid by an interrupted build
                schema_editor.execute(f"DROP INDEX CONCURRENTLY {name}")
        concurrently = "CONCURRENTLY "
    else:
        concurrently = ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON intents_intent ({column})"
        " WHERE needs_matching"
    )
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {dropped[0]}")


def swap(apps, schema_editor) -> None:
    _build(schema_editor, NEW, OLD)


def swap_back(apps, schema_editor) -> None:
    _build(schema_editor, OLD, NEW)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("intents", "0024_match_again_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(swap, swap_back, elidable=False)],
            state_operations=[
                migrations.RemoveIndex(model_name="intent", name="intent_needs_matching"),
                migrations.AddIndex(
                    model_name="intent",
                    index=models.Index(
                        condition=models.Q(("needs_matching", True)),
                        fields=["match_again_at"],
                        name="intent_match_again",
                    ),
                ),
            ],
        ),
    ]
