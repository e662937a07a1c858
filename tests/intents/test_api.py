from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Intent
from intents.payloads import REDACTED_TITLE, intent_for_vendor, vendor_rows_as_json
from marketplace.models import Category, Vendor
from tests.conftest import require_postgresql
from tests.factories import (
    CategoryFactory,
    IntentFactory,
    OfferFactory,
    VendorFactory,
    noticed_intent,
)

pytestmark = pytest.mark.django_db


def ids(response: object) -> set[str]:
    return {item["id"] for item in response.json()["results"]}  # type: ignore[attr-defined]


def test_lists_only_open_intents_the_vendor_was_noticed_about(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    mine = noticed_intent(vendor, category=category)
    IntentFactory(category=category)  # same category, but not matched to this vendor
    noticed_intent(VendorFactory(), category=category)  # matched to another vendor
    noticed_intent(vendor, category=category, status=Intent.Status.DRAFT)
    noticed_intent(vendor, category=category, status=Intent.Status.CLOSED)
    noticed_intent(vendor, category=category, is_hidden=True)

    response = api.get("/api/v1/intents/")

    assert response.status_code == 200
    assert ids(response) == {str(mine.pk)}
    assert set(response.json()) == {"count", "next", "previous", "results"}


def test_list_items_have_the_shape_of_intent_for_vendor(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    """The list reads plain values, the detail, webhooks and events a model: one shape."""
    varied = [
        noticed_intent(vendor, category=category),
        noticed_intent(vendor, category=category, is_budget_hidden=True, is_sealed=True),
        noticed_intent(
            vendor,
            category=CategoryFactory(),
            country="",
            is_remote=True,
            budget_min=None,
            budget_max=Decimal("0.50"),
            needed_by=timezone.localdate() + timedelta(days=20),
            criteria_for_vendors=[
                {
                    "key": "insured",
                    "name": "Insured",
                    "kind": "yes_no",
                    "weight": 20,
                    "required": True,
                }
            ],
            terms_for_vendors=[
                {
                    "code": "no-sharing",
                    "version": 1,
                    "title": "No sharing",
                    "text": "Keep it to yourself.",
                    "days": None,
                }
            ],
        ),
    ]
    # Texts JSON must escape, and timestamps Python writes with and without a fraction:
    # on PostgreSQL the list's JSON is written by the database, not by Python.
    awkward = noticed_intent(
        vendor,
        category=category,
        title='Tiles "Ø 30 cm" \\ back\tslash\x01 — ünïcode 🧱',
        description="Line one\nline two\r\u2028end",
        unit="m²",
        postal_area="",
    )
    Intent.objects.filter(pk=awkward.pk).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        offers_close_at=timezone.now().replace(microsecond=120000) + timedelta(days=3),
    )
    varied.append(awkward)
    expected = {
        str(intent.pk): intent_for_vendor(Intent.objects.get(pk=intent.pk)) for intent in varied
    }
    assert expected[str(awkward.pk)]["created_at"] == "2026-01-02T03:04:05+00:00"
    assert expected[str(awkward.pk)]["offers_close_at"].endswith(".120000+00:00")

    for url in ("/api/v1/intents/", "/api/v1/intents/?ordering=-created_at&currency=EUR"):
        items = api.get(url).json()["results"]
        assert {item["id"]: item for item in items} == expected, url
    # The buyer's words deleted after the award: vendors keep the deal, not the words.
    redacted = noticed_intent(
        vendor,
        category=category,
        status=Intent.Status.AWARDED,
        redacted_at=timezone.now(),
        unit="pallets",
    )
    items = api.get("/api/v1/intents/?status=awarded").json()["results"]
    assert items == [intent_for_vendor(Intent.objects.get(pk=redacted.pk))]
    assert items[0]["title"] == REDACTED_TITLE and items[0]["criteria"] == []
    detail = api.get(f"/api/v1/intents/{varied[2].pk}/").json()
    assert {key: detail[key] for key in expected[str(varied[2].pk)]} == expected[str(varied[2].pk)]


def test_json_rows_name_the_intents_own_category_whatever_joined_first(
    vendor: Vendor, category: Category
) -> None:
    """The SQL shape reads the category through the ORM's join, whatever alias it got."""
    require_postgresql()
    intent = noticed_intent(vendor, category=CategoryFactory(slug="roofing"))
    # Joins the categories table through the vendor's categories first.
    rows = vendor_rows_as_json(Intent.objects.filter(notices__vendor__categories__slug="plumbing"))
    assert [json.loads(row) for row in rows] == [
        intent_for_vendor(Intent.objects.get(pk=intent.pk))
    ]
    assert json.loads(rows[0])["category"] == "roofing"


def test_vendor_never_sees_the_buyer(api: APIClient, open_intent: Intent) -> None:
    body = api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    assert body["buyer"] == open_intent.pseudonym
    text = str(body)
    assert open_intent.buyer.email not in text
    assert open_intent.buyer.username not in text
    assert open_intent.buyer.pk not in body.values()


def test_hidden_budget_is_not_shown(api: APIClient, vendor: Vendor, category: Category) -> None:
    intent = noticed_intent(vendor, category=category, is_budget_hidden=True)
    body = api.get(f"/api/v1/intents/{intent.pk}/").json()
    assert (body["budget_min"], body["budget_max"]) == (None, None)


def test_a_hidden_budget_cannot_be_found_out_by_filtering_or_ordering(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    def budget(low: str, high: str, **fields: object) -> Intent:
        return noticed_intent(
            vendor, category=category, budget_min=Decimal(low), budget_max=Decimal(high), **fields
        )

    high_hidden = budget("1000", "9000", is_budget_hidden=True)
    shown = budget("1000", "5000")
    low_hidden = budget("10", "100", is_budget_hidden=True)

    for query in ("budget_min=50", "budget_min=9000", "budget_max=10", "budget_max=99999"):
        assert ids(api.get(f"/api/v1/intents/?{query}")) <= {str(shown.pk)}, query
    # Ordered by budget, hidden ones come last, in the order of their id, either way.
    tail = sorted([str(high_hidden.pk), str(low_hidden.pk)])
    for ordering in ("budget_max", "-budget_max"):
        listed = api.get(f"/api/v1/intents/?ordering={ordering}").json()["results"]
        assert [item["id"] for item in listed] == [str(shown.pk), *tail], ordering


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordering=nonsense", "ordering"),
        ("ordering=budget_max,buyer", "ordering"),
        ("ordering=-buyer__email", "ordering"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-1", "page"),
    ],
)
def test_a_bad_ordering_or_page_is_a_400_naming_it(api: APIClient, query: str, field: str) -> None:
    for path in ("/api/v1/intents/", "/api/v1/offers/"):
        response = api.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert response["Content-Type"] == "application/problem+json"
        assert list(response.json()["errors"]) == [field]


def test_a_page_past_the_end_is_404_and_last_is_the_last(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    for _ in range(3):
        noticed_intent(vendor, category=category)

    assert api.get("/api/v1/intents/?page_size=2&page=3").status_code == 404
    last = api.get("/api/v1/intents/?page_size=2&page=last").json()
    assert (len(last["results"]), last["next"]) == (1, None)


def test_detail_of_an_intent_outside_the_vendor_is_404(api: APIClient) -> None:
    other = IntentFactory(category=CategoryFactory(slug="catering"))
    response = api.get(f"/api/v1/intents/{other.pk}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_detail_shows_only_own_offer(api: APIClient, vendor: Vendor, open_intent: Intent) -> None:
    OfferFactory(intent=open_intent, price=Decimal("99.00"))  # another vendor's
    own = OfferFactory(intent=open_intent, vendor=vendor, price=Decimal("120.00"))

    body = api.get(f"/api/v1/intents/{open_intent.pk}/").json()

    assert body["my_offer"] == {
        "id": str(own.pk),
        "status": "submitted",
        "price": "120.00",
        "currency": "EUR",
    }
    assert "99.00" not in str(body)


def test_closed_intent_still_readable_in_detail(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    intent = noticed_intent(vendor, category=category, status=Intent.Status.CLOSED)
    assert api.get(f"/api/v1/intents/{intent.pk}/").json()["status"] == "closed"


def test_filters(api: APIClient, vendor: Vendor, category: Category) -> None:
    soon = timezone.now() + timedelta(days=1)
    cheap = noticed_intent(
        vendor,
        category=category,
        budget_min=Decimal("10"),
        budget_max=Decimal("50"),
        title="Tap washer",
    )
    dear = noticed_intent(
        vendor,
        category=category,
        budget_min=Decimal("1000"),
        budget_max=Decimal("5000"),
        currency="CHF",
        country="CH",
        offers_close_at=soon,
        description="Whole bathroom renovation",
    )
    assert ids(api.get("/api/v1/intents/?currency=CHF")) == {str(dear.pk)}
    assert ids(api.get("/api/v1/intents/?budget_min=500")) == {str(dear.pk)}
    assert ids(api.get("/api/v1/intents/?budget_max=100")) == {str(cheap.pk)}
    assert ids(api.get("/api/v1/intents/?country=CH")) == {str(dear.pk)}
    assert ids(api.get("/api/v1/intents/?q=bathroom")) == {str(dear.pk)}
    assert ids(api.get("/api/v1/intents/?q=washer")) == {str(cheap.pk)}
    closes_before = (soon + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(api.get("/api/v1/intents/", {"closes_before": closes_before})) == {str(dear.pk)}
    ordered = api.get("/api/v1/intents/?ordering=-budget_max").json()["results"]
    assert [item["id"] for item in ordered] == [str(dear.pk), str(cheap.pk)]


def test_budget_filters_find_a_budget_with_one_bound(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    up_to = noticed_intent(vendor, category=category, budget_min=None, budget_max=Decimal(300))
    from_ = noticed_intent(vendor, category=category, budget_min=Decimal(2000), budget_max=None)
    noticed_intent(vendor, category=category, budget_min=None, budget_max=None)  # no budget

    assert ids(api.get("/api/v1/intents/?budget_max=1000")) == {str(up_to.pk)}
    assert ids(api.get("/api/v1/intents/?budget_min=1000")) == {str(from_.pk)}
    both = api.get("/api/v1/intents/?budget_min=100&budget_max=5000")
    assert ids(both) == {str(up_to.pk), str(from_.pk)}
    assert ids(api.get("/api/v1/intents/?budget_min=400&budget_max=1000")) == set()


def test_bad_filter_value_is_400(api: APIClient) -> None:
    response = api.get("/api/v1/intents/?budget_min=lots")
    assert response.status_code == 400
    assert "budget_min" in response.json()["errors"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("currency=%25s", "currency", "“%s” is not an ISO 4217 currency code."),
        ("currency=ab%25", "currency", "“ab%” is not an ISO 4217 currency code."),
        ("country=%25d", "country", "“%d” is not an ISO 3166 country code."),
        ("country=%25%25", "country", "“%%” is not an ISO 3166 country code."),
    ],
)
def test_a_percent_sign_in_a_code_filter_is_a_400_that_quotes_it(
    api: APIClient, query: str, field: str, message: str
) -> None:
    response = api.get(f"/api/v1/intents/?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] == [message]


def test_list_query_count_is_constant(
    vendor_client: Callable[[Vendor], APIClient], category: Category
) -> None:
    vendor = VendorFactory(categories=[category])
    client = vendor_client(vendor)
    client.get("/api/v1/intents/")  # warm: marks the key used

    noticed_intent(vendor, category=category)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/intents/").json()["count"] == 1
    for _ in range(30):
        noticed_intent(vendor, category=category)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/v1/intents/").json()["count"] == 31
    assert len(one) == len(many)


@pytest.mark.parametrize("query", ["closes_before=", "currency=", "status=", "page=", "q="])
def test_a_parameter_given_empty_is_a_400_not_no_filter(api: APIClient, query: str) -> None:
    response = api.get(f"/api/v1/intents/?{query}")

    assert response.status_code == 400
    name = query.rstrip("=")
    assert response.json()["errors"][name] == ["Give a value, or leave the parameter out."]
