from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('offers', '0007_constraints_third_look'),
    ]

    operations = [
        # An offer decided before the services stamped every decision gets the time of
        # its last change, so the constraint of the next migration holds for every row.
        migrations.RunSQL(
            "UPDATE offers_offer SET decided_at = updated_at"
            " WHERE status <> 'submitted' AND decided_at IS NULL",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
