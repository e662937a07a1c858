"""GIN indexes for matching, on PostgreSQL only (SQLite matches in Python)."""

from django.db import migrations

CREATE = [
    "CREATE INDEX IF NOT EXISTS vendor_coverage_gin ON marketplace_vendor USING gin (coverage)",
    "CREATE INDEX IF NOT EXISTS vendor_keyword_lexemes_gin"
    " ON marketplace_vendor USING gin (keyword_lexemes)",
]
DROP = [
    "DROP INDEX IF EXISTS vendor_coverage_gin",
    "DROP INDEX IF EXISTS vendor_keyword_lexemes_gin",
]


def run(statements: list[str]):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0002_events_webhooks_matching_fields")]

    operations = [migrations.RunPython(run(CREATE), run(DROP))]
