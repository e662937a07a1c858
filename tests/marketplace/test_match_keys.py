"""Vendor.match_keys follow the vendor's categories and regions; emit_shared writes emit_many's rows."""

from __future__ import annotations

import pytest
from django.db import connection

from marketplace.events import NewEvent, emit_many, emit_shared
from marketplace.models import Category, Event, Vendor
from marketplace.services import vendor_create, vendor_update
from tests.conftest import require_postgresql
from tests.factories import CategoryFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_vendor_services_keep_match_keys(category: Category) -> None:
    other = CategoryFactory()
    vendor = vendor_create(
        name="Keys Co", email="keys@example.test", categories=[category], regions=["DE-BY", "*"]
    ).vendor
    assert Vendor.objects.get(pk=vendor.pk).match_keys == [
        f"{category.pk}:*",
        f"{category.pk}:DE",
    ]

    vendor_update(vendor=vendor, regions=["FR"])
    assert Vendor.objects.get(pk=vendor.pk).match_keys == [f"{category.pk}:FR"]

    vendor_update(vendor=vendor, categories=[category, other])
    assert Vendor.objects.get(pk=vendor.pk).match_keys == sorted(
        [f"{category.pk}:FR", f"{other.pk}:FR"]
    )


def test_emit_shared_writes_the_rows_emit_many_would() -> None:
    first, second = VendorFactory(), VendorFactory()
    shared = {"intent": {"id": "i-1", "title": 'Tiles "quoted" and \\ slashed'}}
    each = [
        (first.pk, "k", {"notice": "n-1", "reasons": ["a"]}),
        (second.pk, "k", {"notice": "n-2"}),
    ]

    emit_shared(type="intent.matched", shared=shared, each=each)
    emit_shared(type="intent.matched", shared=shared, each=each)  # no-op again
    shared_rows = {
        event.vendor_id: (event.type, event.payload)
        for event in Event.objects.filter(dedupe_key="k")
    }
    emit_many(
        NewEvent(vendor_id=vendor_id, type="intent.matched", payload=shared | part, dedupe_key="m")
        for vendor_id, _key, part in each
    )
    many_rows = {
        event.vendor_id: (event.type, event.payload)
        for event in Event.objects.filter(dedupe_key="m")
    }

    assert shared_rows == many_rows
    assert len(shared_rows) == 2


def test_vendor_gin_indexes_keep_no_pending_list() -> None:
    # Each notice updates its vendor's row: entries pending in a GIN index would
    # be scanned, one by one, by every matching (marketplace migration 0010).
    require_postgresql()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class"
            " WHERE relname IN ('vendor_match_keys_gin', 'vendor_coverage_gin',"
            " 'vendor_keyword_lexemes_gin')"
        )
        options = dict(cursor.fetchall())
    assert options == {
        "vendor_match_keys_gin": ["fastupdate=off"],
        "vendor_coverage_gin": ["fastupdate=off"],
        "vendor_keyword_lexemes_gin": ["fastupdate=off"],
    }
