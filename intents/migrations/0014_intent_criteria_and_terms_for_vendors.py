"""Intent.criteria_for_vendors and terms_for_vendors, filled from the existing rows.

The fill repeats Criterion.for_vendors() and IntentTerm.as_data() as they are
today: a migration runs on the historical models, which have no methods.
"""

from django.db import migrations, models

BATCH = 1000


def copy_details(apps, schema_editor) -> None:
    Intent = apps.get_model("intents", "Intent")
    Criterion = apps.get_model("intents", "Criterion")
    IntentTerm = apps.get_model("intents", "IntentTerm")
    with_details = Intent.objects.filter(
        models.Q(criteria__isnull=False) | models.Q(intent_terms__isnull=False)
    ).distinct()
    ids = list(with_details.values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        criteria: dict = {pk: [] for pk in batch}
        terms: dict = {pk: [] for pk in batch}
        for criterion in Criterion.objects.filter(intent_id__in=batch).order_by("position", "id"):
            criteria[criterion.intent_id].append(
                {
                    "key": criterion.key,
                    "name": criterion.name,
                    "kind": criterion.kind,
                    "weight": criterion.weight,
                    "required": criterion.is_required,
                }
            )
        for chosen in (
            IntentTerm.objects.filter(intent_id__in=batch)
            .select_related("term")
            .order_by("term__code")
        ):
            term = chosen.term
            terms[chosen.intent_id].append(
                {
                    "code": term.code,
                    "version": term.version,
                    "title": term.title,
                    "text": term.text.format(days=chosen.days) if term.takes_days else term.text,
                    "days": chosen.days,
                }
            )
        for pk in batch:
            Intent.objects.filter(pk=pk).update(
                criteria_for_vendors=criteria[pk], terms_for_vendors=terms[pk]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("intents", "0013_intent_news_for_buyer"),
    ]

    operations = [
        migrations.AddField(
            model_name="intent",
            name="criteria_for_vendors",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.AddField(
            model_name="intent",
            name="terms_for_vendors",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(copy_details, migrations.RunPython.noop),
    ]
