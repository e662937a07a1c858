"""An e-mail address belongs to one account in any case of its letters (every lookup
by address ignores case). Fails, changing nothing, where two accounts share an
address up to case: merge or rename one first (on a database that ran b92c019,
an account still waiting for confirmation may be such a one: delete it).
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("marketplace", "0013_catch_up_request_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                name="user_email_unique_any_case",
                violation_error_message="A user with this e-mail address already exists.",
            ),
        ),
    ]
