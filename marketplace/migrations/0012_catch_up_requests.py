"""Catch-up requests kept on the row, for the beat's sweep to ask again when one is lost.

Both columns are nullable without a default: adding one rewrites nothing, though it
takes the table's exclusive lock for that moment. Each partial index holds only
the rows with a request, so it is built from an empty set: a scan of the table
that holds up writes (not reads), about a second for 100,000 vendors. Not atomic:
each step commits at once, so no lock is held longer than its own step.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

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
        migrations.AddIndex(
            model_name="skillprofile",
            index=models.Index(
                condition=models.Q(("catch_up_requested_at__isnull", False)),
                fields=["catch_up_requested_at"],
                name="skills_catch_up_requested",
            ),
        ),
        migrations.AddIndex(
            model_name="vendor",
            index=models.Index(
                condition=models.Q(("catch_up_requested_at__isnull", False)),
                fields=["catch_up_requested_at"],
                name="vendor_catch_up_requested",
            ),
        ),
    ]
