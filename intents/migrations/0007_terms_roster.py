"""The first version of the buyer's terms roster (kept as data, versioned)."""

from django.db import migrations

ROSTER = [
    (
        "no-marketing",
        "No marketing contact after this deal",
        "You will not contact me for marketing after this deal is done.",
        False,
    ),
    (
        "no-sharing",
        "No sharing with third parties",
        "You will not share or sell anything you learn about me to third parties.",
        False,
    ),
    (
        "delete-after-award",
        "Delete my data after the award",
        "You will delete my personal data {days} days after the award.",
        True,
    ),
    (
        "contact-through-intentcast",
        "Contact only through Intentcast",
        "You will contact me only through Intentcast until I reveal myself to you.",
        False,
    ),
]


def add_roster(apps, schema_editor) -> None:
    Term = apps.get_model("intents", "Term")
    for code, title, text, takes_days in ROSTER:
        Term.objects.get_or_create(
            code=code,
            version=1,
            defaults={"title": title, "text": text, "takes_days": takes_days, "is_current": True},
        )


def remove_roster(apps, schema_editor) -> None:
    apps.get_model("intents", "Term").objects.filter(
        code__in=[code for code, *_ in ROSTER], version=1
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("intents", "0006_buyer_terms_and_reveals")]

    operations = [migrations.RunPython(add_roster, remove_roster)]
