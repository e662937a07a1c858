"""The sweep re-asks for an intent's matching by ``match_again_at``, not by ``updated_at``.

The index is partial (the intents waiting for matching alone); on PostgreSQL built and
dropped CONCURRENTLY (reads and writes go on meanwhile), outside a transaction, with
IF [NOT] EXISTS, so a deploy interrupted half-way can run again.
"""

from django.db import migrations, models


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def swap_index(apps, schema_editor) -> None:
    concurrently = _concurrently(schema_editor)
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS intent_match_again ON intents_intent"
        " (match_again_at) WHERE needs_matching"
    )
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS intent_needs_matching")


def swap_back(apps, schema_editor) -> None:
    concurrently = _concurrently(schema_editor)
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS intent_needs_matching ON intents_intent"
        " (updated_at) WHERE needs_matching"
    )
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS intent_match_again")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("intents", "0023_status_stamps"),
    ]

    operations = [
        migrations.AddField(
            model_name="intent",
            name="match_again_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(swap_index, swap_back, elidable=False)],
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
