"""Vendor.match_keys (category × coverage), filled for existing vendors, GIN on PostgreSQL."""

from django.db import migrations, models

CREATE_INDEX = (
    "CREATE INDEX IF NOT EXISTS vendor_match_keys_gin ON marketplace_vendor USING gin (match_keys)"
)
DROP_INDEX = "DROP INDEX IF EXISTS vendor_match_keys_gin"


def fill_match_keys(apps, schema_editor) -> None:
    # The same derivation as marketplace.services.vendor_match_keys, frozen here
    # so that later changes to the service do not change this migration.
    Vendor = apps.get_model("marketplace", "Vendor")
    served: dict[object, list[int]] = {}
    for vendor_id, category_id in Vendor.categories.through.objects.values_list(
        "vendor_id", "category_id"
    ):
        served.setdefault(vendor_id, []).append(category_id)
    for vendor in Vendor.objects.only("id", "coverage").iterator():
        categories = served.get(vendor.id, [])
        keys = sorted({f"{category}:{code}" for category in categories for code in vendor.coverage})
        if keys:
            Vendor.objects.filter(pk=vendor.pk).update(match_keys=keys)


def index(statement: str):
    def apply(apps, schema_editor) -> None:
        # SQLite matches in Python and has no GIN.
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0006_idempotency_keys")]

    operations = [
        migrations.AddField(
            model_name="vendor",
            name="match_keys",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(fill_match_keys, migrations.RunPython.noop),
        migrations.RunPython(index(CREATE_INDEX), index(DROP_INDEX)),
    ]
