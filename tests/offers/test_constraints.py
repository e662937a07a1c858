"""Offer invariants backed by the database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from intents.models import Intent
from offers.models import Offer
from tests.factories import IntentFactory, OfferFactory, VendorFactory

pytestmark = pytest.mark.django_db


def test_one_live_offer_per_vendor_and_intent() -> None:
    offer = OfferFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=offer.intent, vendor=offer.vendor)


def test_a_withdrawn_offer_does_not_block_a_new_one() -> None:
    offer = OfferFactory(status=Offer.Status.WITHDRAWN)
    again = OfferFactory(intent=offer.intent, vendor=offer.vendor)
    assert again.pk != offer.pk


def test_at_most_one_accepted_offer_per_intent() -> None:
    intent = IntentFactory(status=Intent.Status.AWARDED)
    OfferFactory(intent=intent, status=Offer.Status.ACCEPTED)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=intent, vendor=VendorFactory(), status=Offer.Status.ACCEPTED)


@pytest.mark.parametrize(
    "fields",
    [
        {"price": Decimal("-0.01")},
        {"currency": "eur"},
        # Decided without the time it was decided.
        *(
            {"status": status, "decided_at": None}
            for status in ("withdrawn", "declined", "accepted", "lapsed")
        ),
    ],
)
def test_database_refuses(fields: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(**fields)


@pytest.mark.parametrize(
    ("make", "changes"),
    [
        (VendorFactory, {"deal_size_max": Decimal("-5.00")}),
        (VendorFactory, {"deal_size_max": Decimal("500.00"), "deal_size_currency": ""}),
        (OfferFactory, {"status": "approved"}),
        (IntentFactory, {"status": "paused"}),
    ],
    ids=["negative-deal-size", "deal-size-without-currency", "offer-status", "intent-status"],
)
def test_the_database_refuses_what_the_services_never_write(
    make: Any, changes: dict[str, Any]
) -> None:
    row = make()

    with pytest.raises(IntegrityError), transaction.atomic():
        type(row).objects.filter(pk=row.pk).update(**changes)
