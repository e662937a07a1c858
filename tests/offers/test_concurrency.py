"""Two (or more) accepts at once on one intent: exactly one wins. PostgreSQL only."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from intents.models import Intent
from marketplace.errors import DomainError
from offers.models import Offer
from offers.services import offer_accept, offer_submit
from tests.conftest import require_postgresql
from tests.factories import (
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    VendorFactory,
    noticed_intent,
)

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 6
ROUNDS = 5


def race(targets: list, action) -> tuple[list, list]:
    """Run ``action(target)`` for every target in its own thread, released at once."""
    barrier = threading.Barrier(len(targets))
    successes: list = []
    refusals: list = []

    def run(target: object) -> None:
        try:
            barrier.wait()
            successes.append(action(target))
        except DomainError as error:
            refusals.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return successes, refusals


def accept_race_round() -> None:
    intent = IntentFactory()
    offers = [OfferFactory(intent=intent) for _ in range(RACERS)]

    successes, refusals = race(offers, lambda offer: offer_accept(offer=offer, buyer=intent.buyer))

    assert len(successes) == 1
    assert len(refusals) == RACERS - 1
    assert Offer.objects.filter(intent=intent, status=Offer.Status.ACCEPTED).count() == 1
    assert Offer.objects.filter(intent=intent, status=Offer.Status.DECLINED).count() == RACERS - 1
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.AWARDED


@pytest.mark.postgres
def test_concurrent_accepts_accept_exactly_one() -> None:
    require_postgresql()
    for _ in range(ROUNDS):
        accept_race_round()


@pytest.mark.postgres
def test_concurrent_submissions_by_one_vendor_store_one_offer() -> None:
    require_postgresql()
    vendor = VendorFactory()
    intent = noticed_intent(vendor)

    successes, refusals = race(
        list(range(RACERS)),
        lambda n: offer_submit(vendor=vendor, intent=intent, price=100 + n, currency="EUR"),
    )

    assert len(successes) == 1
    assert len(refusals) == RACERS - 1
    assert Offer.objects.filter(intent=intent, vendor=vendor).count() == 1


def submit_versus_accept_round() -> None:
    intent = IntentFactory()
    chosen = OfferFactory(intent=intent)
    late_vendor = VendorFactory()
    NoticeFactory(intent=intent, vendor=late_vendor)

    def act(which: str) -> object:
        if which == "accept":
            return offer_accept(offer=chosen, buyer=intent.buyer)
        return offer_submit(vendor=late_vendor, intent=intent, price=5, currency="EUR")

    race(["accept", "submit"], act)

    assert not Offer.objects.filter(intent=intent, status=Offer.Status.SUBMITTED).exists()


@pytest.mark.postgres
def test_offer_racing_an_accept_is_never_left_undecided() -> None:
    """A submission racing an accept either lands before it (and is declined) or is refused."""
    require_postgresql()
    for _ in range(ROUNDS):
        submit_versus_accept_round()
