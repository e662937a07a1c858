# The sweep re-asks for an intent's matching by match_again_at, not by updated_at;
# its index follows in 0025 (built concurrently, outside a transaction).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intents", "0023_status_stamps"),
    ]

    operations = [
        migrations.AddField(
            model_name="intent",
            name="match_again_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
