from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.serializers import ModelSerializer
from rest_framework.test import APIClient

from intents.models import Intent
from intents.services import intent_update
from marketplace.models import Category, Vendor
from marketplace.services import api_key_create
from offers.api.serializers import OfferSerializer
from offers.models import Offer, OfferRevision
from tests.factories import IntentFactory, OfferFactory, VendorFactory, noticed_intent

pytestmark = pytest.mark.django_db


def offer_body(intent: Intent, **overrides: Any) -> dict[str, Any]:
    return {
        "intent": str(intent.pk),
        "price": "240.00",
        "currency": intent.currency,
        "delivery_date": (timezone.localdate() + timedelta(days=5)).isoformat(),
        "valid_until": (timezone.localdate() + timedelta(days=10)).isoformat(),
        "message": "Two plumbers, half a day.",
        "line_items": [{"description": "Labour", "quantity": "4", "unit_price": "60.00"}],
    } | overrides


def offers_snapshot() -> list[dict[str, Any]]:
    return list(Offer.objects.order_by("pk").values())


def test_submit_offer(api: APIClient, vendor: Vendor, open_intent: Intent) -> None:
    response = api.post("/api/v1/offers/", offer_body(open_intent), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "submitted"
    assert body["price"] == "240.00"
    assert body["intent"] == str(open_intent.pk)
    assert body["line_items"] == [
        {"description": "Labour", "quantity": "4.00", "unit_price": "60.00"}
    ]
    offer = Offer.objects.get(pk=body["id"])
    assert (offer.vendor, offer.intent, offer.price) == (vendor, open_intent, Decimal("240.00"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"currency": "XXY"}, "currency"),
        ({"price": "-1.00"}, "price"),
        ({"price": "12.345"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "1e20"}, "price"),
        ({"delivery_date": "2001-01-01"}, "delivery_date"),
        ({"valid_until": "yesterday"}, "valid_until"),
        ({"surprise": True}, "surprise"),
        ({"status": "accepted"}, "status"),
        ({"vendor": "someone-else"}, "vendor"),
        (
            {"line_items": [{"description": "x", "quantity": "1", "unit_price": "1", "extra": 1}]},
            "line_items",
        ),
        *(
            ({"line_items": [{"description": "x", "quantity": q, "unit_price": "1"}]}, "line_items")
            for q in (0.1, 2, "1e1", "-1")  # a quantity is a decimal string, as money is
        ),
    ],
)
def test_submit_refuses_bad_input_with_nothing_stored(
    api: APIClient, open_intent: Intent, overrides: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/offers/", offer_body(open_intent, **overrides), format="json")

    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert Offer.objects.count() == 0


def test_submit_missing_price_names_the_field(api: APIClient, open_intent: Intent) -> None:
    body = offer_body(open_intent)
    del body["price"]
    response = api.post("/api/v1/offers/", body, format="json")
    assert response.status_code == 400
    assert "price" in response.json()["errors"]


@pytest.mark.parametrize("status", [Intent.Status.CLOSED, Intent.Status.AWARDED])
def test_submit_on_closed_or_awarded_intent_is_409(
    api: APIClient, vendor: Vendor, category: Category, status: str
) -> None:
    intent = noticed_intent(vendor, category=category, status=status)
    response = api.post("/api/v1/offers/", offer_body(intent), format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert Offer.objects.count() == 0


def test_second_live_offer_is_409(api: APIClient, open_intent: Intent) -> None:
    assert api.post("/api/v1/offers/", offer_body(open_intent), format="json").status_code == 201
    response = api.post("/api/v1/offers/", offer_body(open_intent, price="1.00"), format="json")
    assert response.status_code == 409
    assert Offer.objects.count() == 1


def test_submit_on_intent_not_matched_to_the_vendor_is_404(
    api: APIClient, category: Category
) -> None:
    elsewhere = IntentFactory(category=category)
    response = api.post("/api/v1/offers/", offer_body(elsewhere), format="json")
    assert response.status_code == 404
    assert Offer.objects.count() == 0


def test_vendor_lists_only_own_offers(api: APIClient, vendor: Vendor, open_intent: Intent) -> None:
    own = OfferFactory(intent=open_intent, vendor=vendor)
    OfferFactory(intent=open_intent)
    body = api.get("/api/v1/offers/").json()
    assert [item["id"] for item in body["results"]] == [str(own.pk)]


def test_another_vendors_offer_is_404_for_every_operation(
    api: APIClient, open_intent: Intent
) -> None:
    theirs = OfferFactory(intent=open_intent, price=Decimal("77.00"))
    before = offers_snapshot()

    assert api.get(f"/api/v1/offers/{theirs.pk}/").status_code == 404
    assert (
        api.patch(f"/api/v1/offers/{theirs.pk}/", {"price": "1.00"}, format="json").status_code
        == 404
    )
    assert api.post(f"/api/v1/offers/{theirs.pk}/withdraw/").status_code == 404
    assert offers_snapshot() == before


def test_revise_own_offer(api: APIClient, vendor: Vendor, open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    response = api.patch(
        f"/api/v1/offers/{offer.pk}/", {"price": "199.99", "message": "Better"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["price"] == "199.99"
    offer.refresh_from_db()
    assert (offer.price, offer.message) == (Decimal("199.99"), "Better")


def test_a_revision_records_the_api_key_that_made_it(vendor: Vendor, open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    issued = api_key_create(vendor=vendor, name="bob-integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")

    response = client.patch(f"/api/v1/offers/{offer.pk}/", {"price": "199.00"}, format="json")

    assert response.status_code == 200
    [revision] = OfferRevision.objects.filter(offer=offer)
    assert (revision.api_key.name, revision.moderator) == ("bob-integration", None)


@pytest.mark.parametrize(
    "payload", [{"currency": "USD"}, {"intent": "x"}, {"status": "accepted"}, {"price": "-3"}]
)
def test_revise_refuses_fixed_or_bad_fields(
    api: APIClient, vendor: Vendor, open_intent: Intent, payload: dict[str, str]
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    before = offers_snapshot()
    assert api.patch(f"/api/v1/offers/{offer.pk}/", payload, format="json").status_code == 400
    assert offers_snapshot() == before


def test_revise_accepted_offer_is_409(api: APIClient, vendor: Vendor, category: Category) -> None:
    intent = noticed_intent(vendor, category=category, status=Intent.Status.AWARDED)
    offer = OfferFactory(intent=intent, vendor=vendor, status=Offer.Status.ACCEPTED)
    before = offers_snapshot()
    assert (
        api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "1.00"}, format="json").status_code
        == 409
    )
    assert offers_snapshot() == before


def test_withdraw_own_offer_then_again_409(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    response = api.post(f"/api/v1/offers/{offer.pk}/withdraw/")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert api.post(f"/api/v1/offers/{offer.pk}/withdraw/").status_code == 409


def test_put_and_delete_are_not_allowed(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    assert api.put(f"/api/v1/offers/{offer.pk}/", {}, format="json").status_code == 405
    assert api.delete(f"/api/v1/offers/{offer.pk}/").status_code == 405
    assert Offer.objects.filter(pk=offer.pk).exists()


def test_offers_list_query_count_is_constant(
    vendor_client: Callable[[Vendor], APIClient], category: Category
) -> None:
    vendor = VendorFactory(categories=[category])
    client = vendor_client(vendor)
    client.get("/api/v1/offers/")
    OfferFactory(vendor=vendor)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/offers/")
    for _ in range(20):
        OfferFactory(vendor=vendor)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/v1/offers/").json()["count"] == 21
    assert len(one) == len(many)


def test_submitting_reads_the_intent_once_and_takes_it_with_one_update(
    api: APIClient, open_intent: Intent
) -> None:
    api.get("/api/v1/offers/")  # warm: marks the key used

    with CaptureQueriesContext(connection) as captured:
        response = api.post("/api/v1/offers/", offer_body(open_intent), format="json")

    assert response.status_code == 201
    statements = [
        query["sql"]
        for query in captured
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    on_intent = [sql for sql in statements if sql.split(" WHERE ")[0].count('"intents_intent"')]
    assert [sql.split()[0] for sql in on_intent] == ["SELECT", "UPDATE"]
    assert "marketplace_category" not in on_intent[0]  # the offer needs no category
    assert not any("FOR UPDATE" in sql for sql in statements)
    # The key, the intent (its criteria and terms in its own row), its UPDATE, the
    # vendor's notice asked again under that lock, the offer.
    assert len(statements) == 5, statements


@pytest.mark.parametrize("action", ["revise", "withdraw"])
def test_revising_or_withdrawing_reads_the_intent_once(
    api: APIClient, open_intent: Intent, vendor: Vendor, action: str
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    api.get("/api/v1/offers/")  # warm: marks the key used

    with CaptureQueriesContext(connection) as captured:
        if action == "revise":
            response = api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "90.00"}, format="json")
        else:
            response = api.post(f"/api/v1/offers/{offer.pk}/withdraw/")

    assert response.status_code == 200, response.json()
    reads = [
        query["sql"]
        for query in captured
        if query["sql"].startswith("SELECT") and 'FROM "intents_intent"' in query["sql"]
    ]
    # Revising locks the intent (one read); withdrawing has it with the offer (none).
    assert len(reads) == (1 if action == "revise" else 0), reads


def test_accepting_the_buyers_terms_records_them_without_reading_the_buyer(
    api: APIClient, open_intent: Intent
) -> None:
    intent_update(intent=open_intent, terms=[{"code": "no-sharing"}])
    api.get("/api/v1/offers/")  # warm: marks the key used

    with CaptureQueriesContext(connection) as captured:
        response = api.post(
            "/api/v1/offers/", offer_body(open_intent, accept_terms=True), format="json"
        )

    assert response.status_code == 201
    assert [term["code"] for term in response.json()["terms_agreement"]["terms"]] == ["no-sharing"]
    statements = [query["sql"] for query in captured if "SAVEPOINT" not in query["sql"]]
    assert not any('FROM "marketplace_user"' in sql for sql in statements), statements
    # The key, the intent, its UPDATE, the notice, the offer, the agreement, the buyer's
    # audit entry.
    assert len(statements) == 7, statements


def test_offer_shape_is_what_the_serializers_fields_give(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    """The offer is written out by hand for speed; DRF's field-by-field path gives the same."""
    intent_update(intent=open_intent, terms=[{"code": "no-sharing"}])
    body = offer_body(
        open_intent,
        accept_terms=True,
        price="1250.50",
        valid_until=(timezone.localdate() + timedelta(days=9)).isoformat(),
        message="Ünïcode — fine",
        line_items=[
            {"description": "Labour", "quantity": "2.5", "unit_price": "400.00"},
            {"description": "Parts", "quantity": "1", "unit_price": "450.5"},
        ],
    )
    created = api.post("/api/v1/offers/", body, format="json")
    assert created.status_code == 201, created.json()
    declined = OfferFactory(
        intent=noticed_intent(vendor),
        vendor=vendor,
        status=Offer.Status.DECLINED,
        decline_reason="Too late",
        decided_at=timezone.now().replace(microsecond=0),
        delivery_date=None,
    )
    revised = api.patch(
        f"/api/v1/offers/{created.json()['id']}/", {"message": "Sooner"}, format="json"
    )
    listed = api.get("/api/v1/offers/").json()["results"]

    def generic(pk: str) -> dict[str, Any]:
        offer = Offer.objects.select_related("terms_agreement").get(pk=pk)
        serializer = OfferSerializer()
        return json.loads(
            JSONRenderer().render(ModelSerializer.to_representation(serializer, offer))
        )

    assert revised.json() == generic(created.json()["id"])
    assert revised.json()["line_items"][0] == {
        "description": "Labour",
        "quantity": "2.50",
        "unit_price": "400.00",
    }
    assert revised.json()["terms_agreement"]["terms"][0]["code"] == "no-sharing"
    assert {item["id"]: item for item in listed} == {
        pk: generic(pk) for pk in (created.json()["id"], str(declined.pk))
    }
    withdrawn = api.post(f"/api/v1/offers/{created.json()['id']}/withdraw/")
    assert withdrawn.json() == generic(created.json()["id"])
    assert withdrawn.json()["decided_at"].endswith("Z")


def test_an_offer_in_a_currency_without_cents_is_whole(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    intent = noticed_intent(vendor, category=category, currency="JPY")

    fraction = api.post("/api/v1/offers/", offer_body(intent, price="24000.50"), format="json")
    whole = api.post("/api/v1/offers/", offer_body(intent, price="24000"), format="json")

    assert fraction.status_code == 400, fraction.json()
    assert fraction.json()["errors"]["price"] == ["JPY has no minor unit: give a whole amount."]
    assert whole.status_code == 201, whole.json()
    assert Offer.objects.get().price == Decimal("24000")
