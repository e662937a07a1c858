from django.db import migrations

# Rows from before the services stamped every status (or written by hand) get the time
# of their last change, so the constraints of the next migration hold for every row.
# (Apart from it: PostgreSQL alters no table with updates pending in its transaction.)
BACKFILL = [
    "UPDATE intents_intent SET published_at = created_at"
    " WHERE status <> 'draft' AND published_at IS NULL",
    *(
        f"UPDATE intents_intent SET {status}_at = updated_at"
        f" WHERE status = '{status}' AND {status}_at IS NULL"
        for status in ("closed", "awarded", "withdrawn", "expired")
    ),
]


class Migration(migrations.Migration):

    dependencies = [
        ('intents', '0021_intent_edit_count_database_default'),
    ]

    operations = [
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
