"""Before 0020's unique (vendor, url): of a vendor's endpoints at one URL (two requests
raced past the service's check), one that still receives (turned on) is kept, the oldest
of those; the others only doubled its deliveries, and go with their delivery logs.

Its own migration: PostgreSQL alters no table with deletions' foreign-key checks
pending in the same transaction.
"""

from django.db import migrations


def forget_duplicates(apps, schema_editor):
    WebhookEndpoint = apps.get_model("marketplace", "WebhookEndpoint")
    kept = set()
    for endpoint in (
        WebhookEndpoint.objects.order_by("-is_active", "created_at", "id")
        .only("vendor_id", "url")
        .iterator()
    ):
        if (endpoint.vendor_id, endpoint.url) in kept:
            endpoint.delete()
        else:
            kept.add((endpoint.vendor_id, endpoint.url))


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0018_webhook_previous_secret")]

    operations = [migrations.RunPython(forget_duplicates, migrations.RunPython.noop)]
