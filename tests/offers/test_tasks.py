"""The beat schedule's work on intents and offers, and the vendors' dispositions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from config.celery import app
from intents.models import Intent
from marketplace.models import Event, Vendor
from offers import services
from offers.models import Offer
from offers.proposal_dispositions import intent_remind_poster
from offers.services import (
    REASON_ANOTHER_ACCEPTED,
    intents_close_due,
    offer_accept,
    offers_lapse_due,
)
from offers.tasks import close_due_intents, lapse_due_offers, remind_posters
from tests.factories import OfferFactory, noticed_intent

pytestmark = pytest.mark.django_db


def test_beat_schedule_names_registered_tasks() -> None:
    schedule = app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert {
        "offers.close_due_intents",
        "offers.lapse_due_offers",
        "marketplace.retry_due_webhooks",
        "intents.sweep_unmatched_intents",
        "marketplace.dispatch_events",
    } <= {entry["task"] for entry in schedule.values()}


def test_deadline_closes_intents_with_offers_and_expires_the_rest(vendor: Vendor) -> None:
    past = timezone.now() - timedelta(minutes=1)
    with_offer = noticed_intent(vendor, offers_close_at=past)
    OfferFactory(intent=with_offer, vendor=vendor)
    without = noticed_intent(vendor, offers_close_at=past)
    future = noticed_intent(vendor)

    assert close_due_intents() == {"closed": 1, "expired": 1}
    assert intents_close_due() == {"closed": 0, "expired": 0}  # twice: nothing more

    assert Intent.objects.get(pk=with_offer.pk).status == Intent.Status.CLOSED
    assert Intent.objects.get(pk=without.pk).status == Intent.Status.EXPIRED
    assert Intent.objects.get(pk=future.pk).status == Intent.Status.OPEN
    closed_events = Event.objects.filter(vendor=vendor, type="intent.closed")
    assert {event.payload["intent"]["status"] for event in closed_events} == {"closed", "expired"}


def test_an_intent_whose_deadline_moved_while_the_sweep_ran_stays_open(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = timezone.now() - timedelta(minutes=1)
    first = noticed_intent(vendor, offers_close_at=past - timedelta(minutes=1))
    extended = noticed_intent(vendor, offers_close_at=past)
    later = timezone.now() + timedelta(days=7)
    expire = services.intent_expire

    def expire_while_the_buyer_extends(*, intent: Intent) -> Intent:
        # The buyer saves a later deadline for the second one meanwhile.
        Intent.objects.filter(pk=extended.pk).update(offers_close_at=later)
        return expire(intent=intent)

    monkeypatch.setattr(services, "intent_expire", expire_while_the_buyer_extends)

    assert intents_close_due() == {"closed": 0, "expired": 1}
    assert Intent.objects.get(pk=first.pk).status == Intent.Status.EXPIRED
    assert Intent.objects.get(pk=extended.pk).status == Intent.Status.OPEN


def test_offers_past_valid_until_lapse_and_vendor_is_told(vendor: Vendor) -> None:
    intent = noticed_intent(vendor)
    stale = OfferFactory(
        intent=intent, vendor=vendor, valid_until=timezone.localdate() - timedelta(days=1)
    )
    fresh = OfferFactory(intent=intent, valid_until=timezone.localdate())

    assert offers_lapse_due() == 1
    assert offers_lapse_due() == 0

    assert Offer.objects.get(pk=stale.pk).status == Offer.Status.LAPSED
    assert Offer.objects.get(pk=fresh.pk).status == Offer.Status.SUBMITTED
    event = Event.objects.get(vendor=vendor, type="offer.declined")
    assert event.payload["offer"]["status"] == "lapsed"
    # Where a buyer's decline puts its reason, as a handler of offer.declined reads it.
    assert event.payload["offer"]["decline_reason"] == "the offer passed its valid-until date"
    assert event.payload["reason"] == "the offer passed its valid-until date"


def test_award_gives_every_live_offer_a_disposition(open_intent: Intent) -> None:
    chosen = OfferFactory(intent=open_intent)  # each vendor noticed, as it offered
    others = [OfferFactory(intent=open_intent) for _ in range(2)]

    offer_accept(offer=chosen, buyer=open_intent.buyer)

    accepted = Event.objects.get(type="offer.accepted")
    assert accepted.vendor_id == chosen.vendor_id
    assert accepted.payload["offer"]["id"] == str(chosen.pk)
    declined = Event.objects.filter(type="offer.declined")
    assert {event.vendor_id for event in declined} == {offer.vendor_id for offer in others}
    assert {event.payload["offer"]["decline_reason"] for event in declined} == {
        REASON_ANOTHER_ACCEPTED
    }


def test_buyer_of_a_closed_intent_is_reminded_of_undecided_offers_once_a_day(
    vendor: Vendor,
) -> None:
    intent = noticed_intent(vendor, status=Intent.Status.CLOSED)
    OfferFactory(intent=intent, vendor=vendor)
    decided = noticed_intent(vendor, status=Intent.Status.CLOSED)
    OfferFactory(intent=decided, vendor=vendor, status=Offer.Status.DECLINED)

    assert intent_remind_poster(intent_id=intent.pk) is True
    assert intent_remind_poster(intent_id=intent.pk) is False  # not twice a day
    assert intent_remind_poster(intent_id=decided.pk) is False  # nothing to decide

    [message] = mail.outbox
    assert message.to == [intent.buyer.email]
    assert "1 offer(s)" in message.body
    assert f"https://intentcast.test/intents/{intent.pk}/" in message.body


def test_a_buyer_decides_in_their_own_time_reminded_weekly_after_two_weeks(
    vendor: Vendor,
) -> None:
    """DESIGN §1.4: nothing is declined for them; nor are they e-mailed every day forever."""
    intent = noticed_intent(vendor, status=Intent.Status.CLOSED)
    offer = OfferFactory(intent=intent, vendor=vendor, valid_until=None)
    now = timezone.now()
    Intent.objects.filter(pk=intent.pk).update(
        closed_at=now - timedelta(days=13), decision_reminded_at=now - timedelta(days=1, hours=1)
    )
    assert remind_posters() == 1  # daily, the first two weeks

    Intent.objects.filter(pk=intent.pk).update(
        closed_at=now - timedelta(days=30), decision_reminded_at=now - timedelta(days=2)
    )
    assert remind_posters() == 0  # then weekly
    Intent.objects.filter(pk=intent.pk).update(decision_reminded_at=now - timedelta(days=8))
    assert remind_posters() == 1

    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    assert not Event.objects.filter(type="offer.declined").exists()
    assert len(mail.outbox) == 2


def test_a_backlog_of_lapsed_offers_is_worked_through_in_one_run(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "LAPSE_BATCH", 2)
    yesterday = timezone.localdate() - timedelta(days=1)
    offers = [
        OfferFactory(intent=noticed_intent(vendor), vendor=vendor, valid_until=yesterday)
        for _ in range(5)
    ]

    assert lapse_due_offers() == 5

    assert {Offer.objects.get(pk=offer.pk).status for offer in offers} == {Offer.Status.LAPSED}
    assert Event.objects.filter(type="offer.declined").count() == 5
