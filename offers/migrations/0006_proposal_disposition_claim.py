"""Proposals: a worker's hold on the decision's e-mail, which lapses if the worker dies.

A nullable column without a default: nothing is rewritten.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('offers', '0005_constraints_second_look'),
    ]

    operations = [
        migrations.AddField(
            model_name='offer',
            name='authors_notice_claimed_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
