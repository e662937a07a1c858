from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from intents.models import Intent
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from marketplace.models import Vendor
from offers.models import Offer
from offers.services import (
    REASON_ANOTHER_ACCEPTED,
    REASON_INTENT_WITHDRAWN,
    intent_withdraw_and_decline_offers,
    offer_accept,
    offer_decline,
    offer_revise,
    offer_submit,
    offer_withdraw,
)
from tests.factories import IntentFactory, OfferFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db


def submit(vendor: Vendor, intent: Intent, **overrides: Any) -> Offer:
    fields = {"price": Decimal("200.00"), "currency": intent.currency} | overrides
    return offer_submit(vendor=vendor, intent=intent, **fields)


def test_submit_stores_a_submitted_offer(vendor: Vendor, open_intent: Intent) -> None:
    offer = submit(vendor, open_intent, message="We can come Monday.")
    stored = Offer.objects.get(pk=offer.pk)
    assert (stored.status, stored.price, stored.message) == (
        Offer.Status.SUBMITTED,
        Decimal("200.00"),
        "We can come Monday.",
    )


def test_submit_refuses_second_live_offer(vendor: Vendor, open_intent: Intent) -> None:
    submit(vendor, open_intent)
    with pytest.raises(DomainError) as refused:
        submit(vendor, open_intent, price=Decimal("150"))
    assert refused.value.kind == CONFLICT
    assert Offer.objects.count() == 1


def test_submit_refuses_other_currency(vendor: Vendor, open_intent: Intent) -> None:
    with pytest.raises(DomainError) as refused:
        submit(vendor, open_intent, currency="USD")
    assert refused.value.kind == INVALID
    assert "currency" in refused.value.errors
    assert Offer.objects.count() == 0


@pytest.mark.parametrize(
    "status",
    [Intent.Status.CLOSED, Intent.Status.AWARDED, Intent.Status.WITHDRAWN, Intent.Status.DRAFT],
)
def test_submit_refuses_intent_not_open(vendor: Vendor, status: str) -> None:
    intent = IntentFactory(status=status)
    with pytest.raises(DomainError) as refused:
        submit(vendor, intent)
    assert refused.value.kind == CONFLICT
    assert str(refused.value) == f"This intent is {status}; it takes no offers."
    assert Offer.objects.count() == 0


def test_submit_refuses_after_the_deadline_even_if_still_open(vendor: Vendor) -> None:
    intent = IntentFactory(offers_close_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as refused:
        submit(vendor, intent)
    assert refused.value.kind == CONFLICT
    assert str(refused.value) == "The deadline for offers on this intent has passed."
    assert Offer.objects.count() == 0
    assert Intent.objects.get(pk=intent.pk).buyer_activity_at is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"price": Decimal("-1")}, "price"),
        ({"delivery_date": timezone.localdate() - timedelta(days=1)}, "delivery_date"),
        ({"valid_until": timezone.localdate() - timedelta(days=1)}, "valid_until"),
    ],
)
def test_submit_refuses_invalid_terms(
    vendor: Vendor, open_intent: Intent, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        submit(vendor, open_intent, **overrides)
    assert field in refused.value.errors
    assert Offer.objects.count() == 0


def test_revise_changes_price(vendor: Vendor, open_intent: Intent) -> None:
    offer = submit(vendor, open_intent)
    revised = offer_revise(offer=offer, vendor=vendor, price=Decimal("180.00"))
    assert Offer.objects.get(pk=revised.pk).price == Decimal("180.00")


def test_revise_refuses_another_vendor(vendor: Vendor, open_intent: Intent) -> None:
    offer = submit(vendor, open_intent)
    with pytest.raises(DomainError) as refused:
        offer_revise(offer=offer, vendor=VendorFactory(), price=Decimal("1"))
    assert refused.value.kind == FORBIDDEN
    assert Offer.objects.get(pk=offer.pk).price == Decimal("200.00")


def test_revise_refuses_once_intent_closed(vendor: Vendor, open_intent: Intent) -> None:
    offer = submit(vendor, open_intent)
    Intent.objects.filter(pk=open_intent.pk).update(
        status=Intent.Status.CLOSED, closed_at=timezone.now()
    )
    with pytest.raises(DomainError) as refused:
        offer_revise(offer=offer, vendor=vendor, price=Decimal("1"))
    assert refused.value.kind == CONFLICT
    assert str(refused.value) == "This intent is closed; it takes no offers."
    assert Offer.objects.get(pk=offer.pk).price == Decimal("200.00")


def test_revise_refuses_withdrawn_offer(vendor: Vendor, open_intent: Intent) -> None:
    offer = offer_withdraw(offer=submit(vendor, open_intent), vendor=vendor)
    with pytest.raises(DomainError) as refused:
        offer_revise(offer=offer, vendor=vendor, price=Decimal("1"))
    assert refused.value.kind == CONFLICT


def test_withdraw_then_again_is_refused(vendor: Vendor, open_intent: Intent) -> None:
    offer = submit(vendor, open_intent)
    assert offer_withdraw(offer=offer, vendor=vendor).status == Offer.Status.WITHDRAWN
    with pytest.raises(DomainError) as refused:
        offer_withdraw(offer=offer, vendor=vendor)
    assert refused.value.kind == CONFLICT


def test_accept_awards_intent_and_declines_the_others(open_intent: Intent) -> None:
    chosen = OfferFactory(intent=open_intent)
    other = OfferFactory(intent=open_intent)
    withdrawn = OfferFactory(intent=open_intent, status=Offer.Status.WITHDRAWN)

    offer_accept(offer=chosen, buyer=open_intent.buyer)

    open_intent.refresh_from_db()
    assert open_intent.status == Intent.Status.AWARDED
    assert open_intent.awarded_at is not None
    assert Offer.objects.get(pk=chosen.pk).status == Offer.Status.ACCEPTED
    other.refresh_from_db()
    assert (other.status, other.decline_reason) == (Offer.Status.DECLINED, REASON_ANOTHER_ACCEPTED)
    assert Offer.objects.get(pk=withdrawn.pk).status == Offer.Status.WITHDRAWN


def test_accept_on_closed_intent_is_allowed(open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent)
    Intent.objects.filter(pk=open_intent.pk).update(
        status=Intent.Status.CLOSED, closed_at=timezone.now()
    )
    assert offer_accept(offer=offer, buyer=open_intent.buyer).status == Offer.Status.ACCEPTED


def test_second_accept_is_refused(open_intent: Intent) -> None:
    first, second = OfferFactory(intent=open_intent), OfferFactory(intent=open_intent)
    offer_accept(offer=first, buyer=open_intent.buyer)
    with pytest.raises(DomainError) as refused:
        offer_accept(offer=second, buyer=open_intent.buyer)
    assert refused.value.kind == CONFLICT
    assert Offer.objects.filter(intent=open_intent, status=Offer.Status.ACCEPTED).count() == 1


def test_accept_refuses_someone_elses_intent(open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent)
    with pytest.raises(DomainError) as refused:
        offer_accept(offer=offer, buyer=UserFactory())
    assert refused.value.kind == FORBIDDEN
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN


def test_accept_refuses_withdrawn_offer(open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent, status=Offer.Status.WITHDRAWN)
    with pytest.raises(DomainError):
        offer_accept(offer=offer, buyer=open_intent.buyer)
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN


def test_decline_with_reason(open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent)
    offer_decline(offer=offer, buyer=open_intent.buyer, reason="Too far away")
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason) == (Offer.Status.DECLINED, "Too far away")


def test_decline_refuses_other_buyer_and_decided_offer(open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent)
    with pytest.raises(DomainError):
        offer_decline(offer=offer, buyer=UserFactory())
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    offer_decline(offer=offer, buyer=open_intent.buyer)
    with pytest.raises(DomainError) as refused:
        offer_decline(offer=offer, buyer=open_intent.buyer)
    assert refused.value.kind == CONFLICT


def test_withdrawing_an_intent_declines_every_live_offer(open_intent: Intent) -> None:
    offers = [OfferFactory(intent=open_intent) for _ in range(3)]
    intent_withdraw_and_decline_offers(intent=open_intent, buyer=open_intent.buyer)
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.WITHDRAWN
    assert {
        (offer.status, offer.decline_reason)
        for offer in Offer.objects.filter(pk__in=[o.pk for o in offers])
    } == {(Offer.Status.DECLINED, REASON_INTENT_WITHDRAWN)}
