"""Catch-up requests kept on the row, for the beat's sweep to ask again when one is lost.

Both columns are nullable without a default: adding one rewrites nothing, though it
takes the table's exclusive lock for that moment. Their indexes follow in 0013,
built without holding up writes.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0011_vendor_room_for_capacity_updates"),
    ]

    operations = [
        migrations.AddField(
            model_name="skillprofile",
            name="catch_up_requested_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="vendor",
            name="catch_up_requested_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
