"""Intent.criteria_for_vendors and terms_for_vendors: the rows as vendors read them, kept in step.

Every service that changes an intent's Criterion or IntentTerm rows copies them
into the intent in the same transaction; vendors' reads (the API's list and
detail, offers' checks, events) use the copy and never read the rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from importlib import import_module
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Criterion, Intent, IntentTerm
from intents.services import intent_create, intent_update
from marketplace.models import Category, User, Vendor
from marketplace.privacy import account_delete
from tests.factories import NoticeFactory

pytestmark = pytest.mark.django_db

CRITERIA = [
    {"name": "Price", "kind": "price", "weight": 40},
    {"name": "Insured", "kind": "yes_no", "weight": 20, "is_required": True},
    {"name": "Years in trade", "kind": "number", "weight": 10},
]
TERMS = [{"code": "no-sharing"}, {"code": "delete-after-award", "days": 30}]


def from_rows(intent: Intent) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the copy must hold, computed from the rows themselves."""
    return (
        [criterion.for_vendors() for criterion in Criterion.objects.filter(intent=intent)],
        [
            intent_term.as_data()
            for intent_term in IntentTerm.objects.filter(intent=intent).select_related("term")
        ],
    )


def stored(intent: Intent) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fresh = Intent.objects.get(pk=intent.pk)
    return fresh.criteria_for_vendors, fresh.terms_for_vendors


def new_intent(buyer: User, category: Category, **extra: Any) -> Intent:
    return intent_create(
        buyer=buyer,
        title="Rewire the workshop",
        description="Three-phase, 40 m².",
        category=category,
        currency="EUR",
        country="DE",
        offers_close_at=timezone.now() + timedelta(days=5),
        **extra,
    )


def test_creating_copies_the_criteria_and_terms(buyer: User, category: Category) -> None:
    intent = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)

    criteria, terms = stored(intent)
    assert (criteria, terms) == from_rows(intent)
    assert [criterion["key"] for criterion in criteria] == ["price", "insured", "years_in_trade"]
    assert criteria[1] == {
        "key": "insured",
        "name": "Insured",
        "kind": "yes_no",
        "weight": 20,
        "required": True,
    }
    assert [term["code"] for term in terms] == ["delete-after-award", "no-sharing"]
    assert terms[0]["days"] == 30 and "30 days" in terms[0]["text"]


def test_the_default_criteria_are_copied_too(buyer: User, category: Category) -> None:
    intent = new_intent(buyer, category)

    assert stored(intent) == from_rows(intent)
    assert [criterion["kind"] for criterion in stored(intent)[0]] == ["price", "delivery", "rating"]
    assert stored(intent)[1] == []


def test_editing_replaces_the_copy_and_other_edits_keep_it(buyer: User, category: Category) -> None:
    intent = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)

    intent_update(intent=intent, criteria=CRITERIA[:1], terms=[])
    assert stored(intent) == from_rows(intent)
    assert [criterion["key"] for criterion in stored(intent)[0]] == ["price"]
    assert stored(intent)[1] == []

    intent_update(intent=intent, title="Rewire the workshop and the shed")
    assert stored(intent) == from_rows(intent)
    assert [criterion["key"] for criterion in stored(intent)[0]] == ["price"]


def test_a_refused_edit_changes_neither_rows_nor_copy(buyer: User, category: Category) -> None:
    intent = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)
    before = stored(intent)

    with pytest.raises(Exception, match="not valid"):
        intent_update(intent=intent, criteria=[{"name": "", "kind": "price", "weight": 1}])

    assert stored(intent) == before == from_rows(intent)


def test_erasing_the_buyer_renames_the_custom_criteria_in_the_copy(
    buyer: User, category: Category
) -> None:
    intent = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)

    account_delete(user=buyer)

    criteria, _ = stored(intent)
    assert criteria == from_rows(intent)[0]
    assert [criterion["name"] for criterion in criteria] == ["Price", "Criterion 1", "Criterion 2"]


def test_vendors_read_the_copy_without_reading_the_rows(
    api: APIClient, vendor: Vendor, buyer: User, category: Category
) -> None:
    intent = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)
    NoticeFactory(intent=intent, vendor=vendor)
    intent_update(
        intent=intent, criteria=[*CRITERIA, {"name": "Notes", "kind": "text", "weight": 0}]
    )

    with CaptureQueriesContext(connection) as listing:
        [listed] = api.get("/api/v1/intents/").json()["results"]
    with CaptureQueriesContext(connection) as detail:
        shown = api.get(f"/api/v1/intents/{intent.pk}/").json()

    for body in (listed, shown):
        assert [criterion["key"] for criterion in body["criteria"]][-1] == "notes"
        assert [term["code"] for term in body["terms"]] == ["delete-after-award", "no-sharing"]
    for captured in (listing, detail):
        tables = " ".join(query["sql"] for query in captured)
        assert "intents_criterion" not in tables and "intents_intentterm" not in tables


def test_the_migrations_fill_matches_the_services_copy(
    buyer: User, category: Category, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0014 filled existing intents with its own frozen copy of the shape."""
    both = new_intent(buyer, category, criteria=CRITERIA, terms=TERMS)
    terms_only = new_intent(buyer, category, criteria=[], terms=TERMS[:1])
    neither = new_intent(buyer, category, criteria=[])
    expected = {intent.pk: stored(intent) for intent in (both, terms_only, neither)}
    Intent.objects.update(criteria_for_vendors=[], terms_for_vendors=[])

    name = "0014_intent_criteria_and_terms_for_vendors"
    migration = import_module(f"intents.migrations.{name}")
    monkeypatch.setattr(migration, "BATCH", 1)  # every intent its own batch
    historical = MigrationExecutor(connection).loader.project_state(("intents", name)).apps
    migration.copy_details(historical, None)

    assert {intent.pk: stored(intent) for intent in (both, terms_only, neither)} == expected
    assert stored(terms_only)[0] == [] and len(stored(terms_only)[1]) == 1


def test_recopy_repairs_what_older_code_left_behind(buyer: User, category: Category) -> None:
    emptied, renamed, fine = (
        new_intent(buyer, category, criteria=CRITERIA, terms=TERMS) for _ in range(3)
    )
    # What code that does not copy would leave: the rows or the copy changed alone.
    Intent.objects.filter(pk=emptied.pk).update(criteria_for_vendors=[], terms_for_vendors=[])
    Criterion.objects.filter(intent=renamed, key="insured").update(name="Fully insured")

    out = StringIO()
    call_command("recopy_intent_details", stdout=out)

    assert out.getvalue().strip() == "2 intent(s) recopied."
    for intent in (emptied, renamed, fine):
        assert stored(intent) == from_rows(intent)
    assert stored(renamed)[0][1]["name"] == "Fully insured"
    call_command("recopy_intent_details", stdout=out)
    assert out.getvalue().strip().endswith("0 intent(s) recopied.")


def test_older_code_that_knows_no_copy_can_still_insert_an_intent(
    buyer: User, category: Category
) -> None:
    """The columns have a database default, as during a deploy beside older code."""
    model = new_intent(buyer, category)
    new_id = uuid.uuid4()
    columns = [
        field.column
        for field in Intent._meta.concrete_fields
        if field.name not in ("criteria_for_vendors", "terms_for_vendors")
    ]
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    selected = ", ".join(
        "%s" if column == "id" else connection.ops.quote_name(column) for column in columns
    )
    table = connection.ops.quote_name(Intent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quoted}) SELECT {selected} FROM {table} WHERE id = %s",
            [Intent._meta.pk.get_db_prep_value(new_id, connection),
             Intent._meta.pk.get_db_prep_value(model.pk, connection)],
        )  # fmt: skip

    inserted = Intent.objects.get(pk=new_id)
    assert (inserted.criteria_for_vendors, inserted.terms_for_vendors) == ([], [])
