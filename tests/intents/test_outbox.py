"""Publishing while the broker is unreachable: nothing fails, nothing is lost."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

import intents.notices as notices
from intents.models import Intent, Notice
from intents.notices import (
    CATCH_UP_GRACE,
    MATCH_ASK_AGAIN,
    MATCH_GRACE,
    intent_match,
    intents_to_match_again,
    vendor_catch_up,
)
from intents.services import intent_create
from intents.tasks import (
    match_vendor,
    sweep_catch_ups,
    sweep_unmatched_intents,
    sweep_unsent_notices,
)
from marketplace.models import Category, SkillProfile, Vendor
from marketplace.organizations import skill_profile_update
from marketplace.services import vendor_set_suspended, vendor_update
from tests.factories import CategoryFactory, OrganizationFactory, internal_intent, org_member
from tests.real_parts import celery_broker

pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def publish(buyer: Any, category: Category) -> Intent:
    return intent_create(
        buyer=buyer,
        title="Broker-down boiler",
        description="Needs fixing.",
        category=category,
        currency="EUR",
        country="DE",
        offers_close_at=timezone.now() + timedelta(days=2),
    )


def test_publish_with_broker_down_neither_fails_nor_hangs_and_is_swept_later(
    settings: Any, buyer: Any, category: Category, vendor: Vendor
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        started = time.monotonic()
        intent = publish(buyer, category)
        elapsed = time.monotonic() - started

    assert elapsed < 10  # it did not hang on the broker
    stored = Intent.objects.get(pk=intent.pk)
    assert stored.status == Intent.Status.OPEN
    assert stored.needs_matching is True
    assert not Notice.objects.filter(intent=intent).exists()

    # The broker is back (eager here); the beat sweep finds the intent.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert sweep_unmatched_intents() == 0  # within the grace: the first ask may still come
    assert sweep_unmatched_intents(later_by_seconds=30) == 1
    assert Notice.objects.filter(intent=intent, vendor=vendor).count() == 1
    assert Intent.objects.get(pk=intent.pk).needs_matching is False
    assert sweep_unmatched_intents(later_by_seconds=600) == 0


def test_a_matching_waiting_in_a_busy_queue_is_asked_for_again_only_after_a_while(
    settings: Any, buyer: Any, category: Category
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        intent = publish(buyer, category)
    published = Intent.objects.get(pk=intent.pk).published_at

    first = intents_to_match_again(now=published + MATCH_GRACE + timedelta(seconds=1))
    next_sweeps = [
        intents_to_match_again(now=published + MATCH_GRACE + timedelta(seconds=seconds))
        for seconds in (31, 61, 91)
    ]
    later = intents_to_match_again(
        now=published + MATCH_GRACE + MATCH_ASK_AGAIN + timedelta(seconds=1)
    )

    assert first == [str(intent.pk)]
    assert next_sweeps == [[], [], []]  # still waiting in the queue: not queued again
    assert later == [str(intent.pk)]  # lost after all: asked for again


def test_an_intent_asked_to_match_before_the_column_was_kept_is_swept(
    buyer: Any, category: Category
) -> None:
    intent = publish(buyer, category)
    Intent.objects.filter(pk=intent.pk).update(needs_matching=True, match_again_at=None)
    updated = Intent.objects.get(pk=intent.pk).updated_at

    assert intents_to_match_again(now=updated + timedelta(seconds=1)) == []
    assert intents_to_match_again(now=updated + MATCH_GRACE) == [str(intent.pk)]


def test_publish_in_eager_mode_matches_after_commit(
    buyer: Any, category: Category, vendor: Vendor
) -> None:
    intent = publish(buyer, category)
    assert Notice.objects.filter(intent=intent, vendor=vendor).count() == 1
    assert Intent.objects.get(pk=intent.pk).needs_matching is False


def notice_whose_email_was_lost(
    settings: Any, buyer: Any, category: Category, vendor: Vendor
) -> Notice:
    """The vendor's notice of a new intent, matched while the broker was down."""
    intent = publish(buyer, category)
    Notice.objects.filter(intent=intent).delete()  # matched again below, with the broker down
    mail.outbox.clear()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        intent_match(intent_id=intent.pk)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return Notice.objects.get(intent=intent, vendor=vendor)


def test_a_notice_email_lost_with_the_broker_is_sent_by_the_sweep(
    settings: Any, buyer: Any, category: Category, vendor: Vendor
) -> None:
    notice = notice_whose_email_was_lost(settings, buyer, category, vendor)
    assert (notice.state, mail.outbox) == (Notice.State.PENDING, [])

    assert sweep_unsent_notices() == 0  # within the grace: the first send may still come
    Notice.objects.filter(pk=notice.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    assert sweep_unsent_notices() == 1

    assert Notice.objects.get(pk=notice.pk).state == Notice.State.DELIVERED
    assert [message.to for message in mail.outbox] == [[vendor.contact_email]]
    assert sweep_unsent_notices() == 0


def test_a_notice_email_that_waited_past_the_deadline_is_not_sent(
    settings: Any, buyer: Any, category: Category, vendor: Vendor
) -> None:
    notice = notice_whose_email_was_lost(settings, buyer, category, vendor)
    Notice.objects.filter(pk=notice.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    # Still open: the beat that closes it has not run yet.
    Intent.objects.filter(pk=notice.intent_id).update(offers_close_at=timezone.now())

    sweep_unsent_notices()

    assert mail.outbox == []
    assert Notice.objects.get(pk=notice.pk).state == Notice.State.FAILED


def test_a_failed_notice_email_is_tried_three_times_in_all(
    settings: Any, buyer: Any, category: Category, vendor: Vendor, monkeypatch: Any
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("the mail server is down")

    monkeypatch.setattr("intents.notices.send_mail", refuse)
    intent = publish(buyer, category)  # matched and e-mailed at once: the first try fails
    notice = Notice.objects.get(intent=intent, vendor=vendor)
    Notice.objects.filter(pk=notice.pk).update(created_at=timezone.now() - timedelta(minutes=6))

    swept = [sweep_unsent_notices() for _ in range(3)]

    stored = Notice.objects.get(pk=notice.pk)
    assert swept == [1, 1, 0]
    assert (stored.state, stored.attempts) == (Notice.State.FAILED, 3)


def _age_requests(model: Any) -> None:
    """The requests were made longer ago than the sweep's grace."""
    model.objects.exclude(catch_up_requested_at=None).update(
        catch_up_requested_at=timezone.now() - CATCH_UP_GRACE - timedelta(seconds=1)
    )


def test_a_vendor_catch_up_lost_with_the_broker_is_asked_for_again_by_the_sweep(
    settings: Any, buyer: Any, category: Category, vendor: Vendor
) -> None:
    vendor_update(vendor=vendor, is_paused=True)
    intent = publish(buyer, category)  # while paused: not matched to this vendor
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        vendor_update(vendor=Vendor.objects.get(pk=vendor.pk), is_paused=False)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert Vendor.objects.get(pk=vendor.pk).catch_up_requested_at is not None
    assert not Notice.objects.filter(vendor=vendor).exists()

    assert sweep_catch_ups() == 0  # within the grace: the task may still come
    _age_requests(Vendor)
    assert sweep_catch_ups() == 1

    assert list(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == [
        intent.pk
    ]
    assert Vendor.objects.get(pk=vendor.pk).catch_up_requested_at is None
    assert sweep_catch_ups() == 0


def test_a_member_catch_up_lost_with_the_broker_is_asked_for_again_by_the_sweep(
    settings: Any,
) -> None:
    organization = OrganizationFactory()
    intent = internal_intent(organization, org_member(organization), category=CategoryFactory())
    member = org_member(organization)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        skill_profile_update(user=member, skills=["python"])
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert not Notice.objects.filter(member=member).exists()

    _age_requests(SkillProfile)
    assert sweep_catch_ups() == 1

    assert Notice.objects.get(member=member).intent_id == intent.pk
    assert SkillProfile.objects.get(user=member).catch_up_requested_at is None
    assert sweep_catch_ups() == 0


def test_a_request_made_while_a_catch_up_runs_stays_for_the_next(
    vendor: Vendor, monkeypatch: Any
) -> None:
    first = timezone.now() - timedelta(minutes=1)
    Vendor.objects.filter(pk=vendor.pk).update(catch_up_requested_at=first)
    real = notices._vendor_catch_up

    def profile_changed_meanwhile(running: Vendor) -> int:
        Vendor.objects.filter(pk=running.pk).update(catch_up_requested_at=timezone.now())
        return real(running)

    monkeypatch.setattr(notices, "_vendor_catch_up", profile_changed_meanwhile)

    vendor_catch_up(vendor_id=vendor.pk)

    assert Vendor.objects.get(pk=vendor.pk).catch_up_requested_at > first


def test_a_suspended_vendors_request_is_done_without_matching(
    buyer: Any, category: Category, vendor: Vendor
) -> None:
    # Not left for the sweep to ask again every minute; reinstating asks anew.
    vendor_set_suspended(vendor=vendor, is_suspended=True)
    Vendor.objects.filter(pk=vendor.pk).update(catch_up_requested_at=timezone.now())
    publish(buyer, category)

    assert vendor_catch_up(vendor_id=vendor.pk) == 0

    assert Vendor.objects.get(pk=vendor.pk).catch_up_requested_at is None


def test_the_sweep_asks_again_once_per_grace_not_every_minute(
    settings: Any, vendor: Vendor
) -> None:
    # A queue running late (or a broker still down) gets one more copy per grace.
    Vendor.objects.filter(pk=vendor.pk).update(catch_up_requested_at=timezone.now())
    _age_requests(Vendor)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_broker(UNREACHABLE_BROKER):
        asked = [sweep_catch_ups(), sweep_catch_ups()]
        _age_requests(Vendor)
        asked.append(sweep_catch_ups())

    assert asked == [1, 0, 1]


def test_the_task_does_nothing_once_the_request_is_done(
    buyer: Any, category: Category, vendor: Vendor
) -> None:
    # The sweep's copy of a catch-up that another run already did.
    intent = publish(buyer, category)
    Notice.objects.filter(intent=intent).delete()
    Vendor.objects.filter(pk=vendor.pk).update(catch_up_requested_at=None)

    assert match_vendor(str(vendor.pk)) == 0
    assert not Notice.objects.filter(vendor=vendor).exists()

    Vendor.objects.filter(pk=vendor.pk).update(catch_up_requested_at=timezone.now())
    assert match_vendor(str(vendor.pk)) == 1
