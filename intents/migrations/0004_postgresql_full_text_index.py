"""Full-text index on intents' title and description, on PostgreSQL only.

The expression must stay identical to ``intents.search.INTENT_DOCUMENT_SQL``
for the planner to use it.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS intent_document_fts ON intents_intent USING gin"
    " (to_tsvector('english'::regconfig, title || ' ' || description))"
)
DROP = "DROP INDEX IF EXISTS intent_document_fts"


def run(statement: str):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("intents", "0003_notices_and_matching")]

    operations = [migrations.RunPython(run(CREATE), run(DROP))]
