"""Writes that act on a row read before someone else changed it: each re-checks under its lock."""

from __future__ import annotations

import re
import types
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

import marketplace.webhooks as webhooks
from intents.models import Intent
from intents.services import intent_set_hidden, intent_update
from marketplace.events import emit, events_dispatch
from marketplace.models import Vendor, WebhookDelivery
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create
from offers.api import views as offer_api_views
from offers.models import Offer, TermsAgreement
from offers.services import offer_revise
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


# --- An offer is checked against the intent as it is when the offer takes its lock -----


def test_offer_made_while_the_buyer_adds_terms_must_accept_them(
    api: APIClient, open_intent: Intent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view loads the intent (no terms); the buyer adds a term and commits; the
    submission then takes the intent's row lock and creates the offer without any
    agreement to the terms now on the intent (DESIGN §1.7)."""
    real_submit = offer_api_views.offer_submit

    def buyer_edits_first(**kwargs: Any) -> Offer:
        intent_update(
            intent=Intent.objects.get(pk=kwargs["intent"].pk), terms=[{"code": "no-marketing"}]
        )
        return real_submit(**kwargs)

    monkeypatch.setattr(offer_api_views, "offer_submit", buyer_edits_first)

    response = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "200.00", "currency": "EUR"},
        format="json",
    )

    assert Intent.objects.get(pk=open_intent.pk).terms_for_vendors[0]["code"] == "no-marketing"
    assert response.status_code == 409, response.json()
    assert "read it again" in response.json()["detail"]
    assert not Offer.objects.filter(intent=open_intent).exists()
    assert not TermsAgreement.objects.exists()


def test_offer_made_while_a_moderator_hides_the_intent_is_refused(
    api: APIClient, open_intent: Intent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """offer_revise re-checks is_hidden under the lock; offer_submit does not."""
    real_submit = offer_api_views.offer_submit

    def moderator_hides_first(**kwargs: Any) -> Offer:
        intent_set_hidden(intent=Intent.objects.get(pk=kwargs["intent"].pk), is_hidden=True)
        return real_submit(**kwargs)

    monkeypatch.setattr(offer_api_views, "offer_submit", moderator_hides_first)

    response = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "200.00", "currency": "EUR"},
        format="json",
    )

    assert response.status_code in (403, 404, 409), response.json()
    assert not Offer.objects.filter(intent=open_intent).exists()


def test_an_offer_on_an_intent_read_before_any_change_still_goes_through(
    api: APIClient, open_intent: Intent
) -> None:
    response = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "200.00", "currency": "EUR"},
        format="json",
    )

    assert response.status_code == 201


# --- The buyer accepts the offer they read, not one revised since ------------------------


def test_an_offer_revised_after_the_confirmation_is_not_accepted(
    open_intent: Intent, vendor: Vendor
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor, price=Decimal("250.00"))
    buyer = Client()
    buyer.force_login(open_intent.buyer)
    confirmation = buyer.get(f"/offers/{offer.pk}/accept/").content.decode()
    revision = re.search(r'name="revision" value="(\d+)"', confirmation).group(1)

    offer_revise(offer=offer, vendor=vendor, price=Decimal("2500.00"))  # meanwhile
    refused = buyer.post(
        f"/offers/{offer.pk}/accept/",
        {"contact_details": "call me", "revision": revision},
        follow=True,
    )
    again = buyer.get(f"/offers/{offer.pk}/accept/").content.decode()
    revision = re.search(r'name="revision" value="(\d+)"', again).group(1)
    buyer.post(f"/offers/{offer.pk}/accept/", {"contact_details": "call me", "revision": revision})

    assert "revised this offer since you read it" in refused.content.decode()
    offer.refresh_from_db()
    assert (offer.status, offer.price) == (Offer.Status.ACCEPTED, Decimal("2500.00"))


# --- A webhook attempt that lost its claim never undoes a later one -----------------------


def test_an_attempt_whose_claim_ran_out_does_not_undo_a_delivery_made_meanwhile(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="http://127.0.0.1:9/hook")
    emit(vendor_id=vendor.pk, type="intent.updated", payload={"x": 1}, dedupe_key="k1")
    events_dispatch()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    def slow_failure(url: str, body: str, headers: dict[str, str], addresses: list[str]) -> int:
        # This attempt outlived its claim; another worker delivered meanwhile.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.SUCCEEDED,
            delivered_at=timezone.now(),
            attempts=1,
            claimed_until=timezone.now() + timedelta(minutes=1),
        )
        return 500

    monkeypatch.setattr(webhooks, "_post", slow_failure)
    monkeypatch.setattr(webhooks, "asyncio", types.SimpleNamespace(run=lambda answer: answer))

    webhook_deliver(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.SUCCEEDED, 1)
    assert delivery.log.count() == 1  # the late answer is still on record


@pytest.mark.parametrize("revision", ["²", "-1", "9" * 12, "abc"])
def test_an_odd_revision_in_the_accept_form_accepts_nothing(
    open_intent: Intent, vendor: Vendor, revision: str
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    buyer = Client()
    buyer.force_login(open_intent.buyer)

    response = buyer.post(
        f"/offers/{offer.pk}/accept/", {"contact_details": "call me", "revision": revision}
    )

    assert response.status_code == 302
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
