"""The flag of accounts waiting for confirmation: no sign-up makes such an account now."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0015_delete_unconfirmed_accounts"),
    ]

    operations = [
        migrations.RemoveField(model_name="user", name="confirmation_pending"),
    ]
