"""Sign-up no longer makes an account before the address is proven (marketplace.accounts).

Joins the two 0014 migrations and deletes the accounts an earlier sign-up left
waiting for a confirmation that can no longer come: they never logged in and
own nothing. Their flag goes in 0016, in a transaction of its own (PostgreSQL
does not alter a table with deletions' checks still pending).
"""

from typing import Any

from django.db import migrations


def delete_unconfirmed_accounts(apps: Any, schema_editor: Any) -> None:
    apps.get_model("marketplace", "User").objects.filter(confirmation_pending=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0014_user_confirmation_pending"),
        ("marketplace", "0014_user_email_unique_any_case"),
    ]

    operations = [
        migrations.RunPython(delete_unconfirmed_accounts, migrations.RunPython.noop),
    ]
