"""Writes that act on a row read before someone else changed it: each re-checks under its lock."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

import marketplace.webhooks as webhooks
from intents.models import Intent
from intents.services import buyer_block_vendor, intent_set_hidden, intent_update, intent_withdraw
from marketplace.errors import DomainError
from marketplace.events import emit, events_dispatch
from marketplace.models import Event, Vendor, WebhookDelivery
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create
from offers.api import views as offer_api_views
from offers.models import Offer, Question, TermsAgreement
from offers.questions import question_answer, question_ask
from offers.services import offer_accept, offer_revise
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


def test_offer_made_while_the_buyer_blocks_the_vendor_is_refused(
    api: APIClient, open_intent: Intent, vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view found the intent visible; the buyer blocks the vendor and commits: the
    offer reaches them all the same, against DESIGN §1.2."""
    real_submit = offer_api_views.offer_submit

    def buyer_blocks_first(**kwargs: Any) -> Offer:
        buyer_block_vendor(buyer=kwargs["intent"].buyer, vendor=vendor)
        return real_submit(**kwargs)

    monkeypatch.setattr(offer_api_views, "offer_submit", buyer_blocks_first)

    response = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "200.00", "currency": "EUR"},
        format="json",
    )

    assert response.status_code == 404, response.json()
    assert response.json()["detail"] == "No intent with this id is open to you."
    assert not Offer.objects.filter(intent=open_intent).exists()
    assert Intent.objects.get(pk=open_intent.pk).buyer_activity_at is None


def _asked_after(change: Any, api: APIClient, intent: Intent, monkeypatch: Any) -> Any:
    """Ask a question on ``intent`` through the API, ``change`` committing between the
    view's read of the intent and the service."""
    real_ask = offer_api_views.question_ask

    def change_first(**kwargs: Any) -> Question:
        change(Intent.objects.get(pk=kwargs["intent"].pk))
        return real_ask(**kwargs)

    monkeypatch.setattr(offer_api_views, "question_ask", change_first)
    return api.post(
        f"/api/v1/intents/{intent.pk}/questions/", {"text": "Is copper fine?"}, format="json"
    )


def test_a_question_on_an_intent_withdrawn_meanwhile_is_refused(
    api: APIClient, open_intent: Intent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buyer could never answer it: their questions close with the intent."""
    response = _asked_after(
        lambda intent: intent_withdraw(intent=intent), api, open_intent, monkeypatch
    )

    assert response.status_code == 409, response.json()
    assert response.json()["detail"] == "This intent is withdrawn; it takes no questions."
    assert not Question.objects.exists()


def test_a_question_from_a_vendor_blocked_meanwhile_is_refused(
    api: APIClient, open_intent: Intent, vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = _asked_after(
        lambda intent: buyer_block_vendor(buyer=intent.buyer, vendor=vendor),
        api,
        open_intent,
        monkeypatch,
    )

    assert response.status_code == 404, response.json()
    assert not Question.objects.exists()


def test_a_question_on_an_intent_hidden_meanwhile_is_refused(
    api: APIClient, open_intent: Intent, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = _asked_after(
        lambda intent: intent_set_hidden(intent=intent, is_hidden=True),
        api,
        open_intent,
        monkeypatch,
    )

    assert response.status_code == 404, response.json()
    assert not Question.objects.exists()


def test_an_answer_to_a_question_read_before_the_award_is_not_told(
    open_intent: Intent, vendor: Vendor
) -> None:
    question = question_ask(vendor=vendor, intent=open_intent, text="Is copper fine?")
    read = Question.objects.select_related("intent").get(pk=question.pk)  # the buyer's page
    offer_accept(offer=OfferFactory(intent=open_intent), buyer=open_intent.buyer)

    with pytest.raises(
        DomainError, match=re.escape("This intent is awarded; its questions are closed.")
    ):
        question_answer(buyer=open_intent.buyer, question=read, answer="Yes.")

    assert Question.objects.get(pk=question.pk).answered_at is None
    assert not Event.objects.filter(type="question.answered").exists()


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
        {"contact_details": "Call me on 030 1234 after six", "revision": revision},
    )
    # The confirmation again: the offer as it is now, the contact details as typed.
    again = refused.content.decode()
    assert refused.status_code == 400
    assert "revised this offer since you read it" in again
    assert "<dd>2500.00 EUR</dd>" in again
    assert ">Call me on 030 1234 after six</textarea>" in again
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    revision = re.search(r'name="revision" value="(\d+)"', again).group(1)
    buyer.post(f"/offers/{offer.pk}/accept/", {"contact_details": "call me", "revision": revision})

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

    async def slow_failure(attempts: list[Any], ended: Any) -> None:
        for attempt in attempts:
            attempt.status_code, attempt.done = 500, True
            ended(attempt)

    record = webhooks._record

    def delivered_meanwhile(attempt: Any) -> None:
        # This attempt outlived its claim; another worker delivered meanwhile.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.SUCCEEDED,
            delivered_at=timezone.now(),
            attempts=1,
            claimed_until=timezone.now() + timedelta(minutes=1),
        )
        record(attempt)

    monkeypatch.setattr(webhooks, "_send_all", slow_failure)
    monkeypatch.setattr(webhooks, "_record", delivered_meanwhile)

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

    assert response.status_code == 400  # the confirmation again, with the reason
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
