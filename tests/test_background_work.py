"""Background work: a notice e-mail sent once, the soft time limit obeyed, lapsed offers at the deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.utils import timezone

import intents.notices
from intents.models import Intent, Notice
from intents.notices import notice_send_email
from intents.tasks import send_notice_emails
from marketplace.events import emit, events_dispatch
from marketplace.models import Category, Vendor, WebhookDelivery
from marketplace.tasks import deliver_webhooks
from marketplace.webhooks import webhook_endpoint_create
from tests.factories import IntentFactory, VendorFactory
from tests.real_parts import soft_time_limit_after
from tests.receiver import raw_receiver, webhook_receiver


@pytest.mark.django_db
def test_a_notice_email_is_sent_once_when_two_workers_hold_the_same_notice(
    open_intent: Intent, vendor: Vendor, monkeypatch: Any
) -> None:
    # Given a pending notice whose e-mail task is running, and the sweep's copy of the
    # same notice (re-enqueued after the 5-minute grace) running on another worker
    notice = Notice.objects.get(intent=open_intent, vendor=vendor)
    assert notice.state == Notice.State.PENDING
    mail.outbox.clear()
    real_send = intents.notices.send_mail
    other_worker_ran = []

    def send_while_the_other_worker_runs(**kwargs: Any) -> int:
        if not other_worker_ran:
            other_worker_ran.append(True)
            notice_send_email(notice_id=notice.pk)  # the sweep's task, same notice
        return real_send(**kwargs)

    monkeypatch.setattr("intents.notices.send_mail", send_while_the_other_worker_runs)

    # When the first worker sends it
    notice_send_email(notice_id=notice.pk)

    # Then the vendor got one e-mail, not two
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_deliver_webhooks_stops_at_the_soft_time_limit(vendor: Vendor) -> None:
    """The soft limit strikes the task's thread (Celery raises it from a signal) while a
    receiver that never answers holds its request; one that answered is recorded."""
    never_answers = raw_receiver(lambda connection, done: done.wait())
    with webhook_receiver() as answering, never_answers as silent_url:
        webhook_endpoint_create(vendor=vendor, url=answering.url)
        other = VendorFactory()
        webhook_endpoint_create(vendor=other, url=silent_url)
        for to in (vendor, other):
            emit(vendor_id=to.pk, type="intent.closed", payload={}, dedupe_key="k")
        events_dispatch()
        ids = list(WebhookDelivery.objects.values_list("pk", flat=True))

        with soft_time_limit_after(1.0), pytest.raises(SoftTimeLimitExceeded):
            deliver_webhooks(ids)

    answered = WebhookDelivery.objects.get(endpoint__vendor=vendor)
    held = WebhookDelivery.objects.get(endpoint__vendor=other)
    assert (answered.status, answered.attempts) == ("succeeded", 1)
    # The silent receiver is not blamed for the task's time: let go at once, uncounted,
    # for the retry sweep.
    assert (held.status, held.attempts, held.claimed_until) == ("pending", 0, None)


@pytest.mark.django_db
def test_send_notice_emails_stops_at_the_soft_time_limit(
    category: Category, monkeypatch: Any
) -> None:
    vendors = [VendorFactory(categories=[category]) for _ in range(2)]
    intent = IntentFactory(category=category)
    notices = [Notice.objects.create(intent=intent, vendor=v, reasons=["x"]) for v in vendors]
    sends = []

    def soft_limit_strikes(**kwargs: Any) -> int:
        sends.append(kwargs["recipient_list"])
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("intents.notices.send_mail", soft_limit_strikes)

    with pytest.raises(SoftTimeLimitExceeded):
        send_notice_emails([str(n.pk) for n in notices])

    assert len(sends) == 1


@pytest.mark.django_db
def test_an_intent_whose_only_offer_has_lapsed_expires_at_its_deadline(vendor: Vendor) -> None:
    from offers.tasks import close_due_intents, lapse_due_offers
    from tests.factories import OfferFactory, noticed_intent

    intent = noticed_intent(vendor, offers_close_at=timezone.now() - timedelta(minutes=1))
    # Valid until yesterday: the vendor is no longer bound (offer_accept refuses it);
    # lapse_due_offers (every 15 min) has not run since midnight.
    OfferFactory(intent=intent, vendor=vendor, valid_until=timezone.localdate() - timedelta(days=1))

    close_due_intents()
    lapse_due_offers()

    intent.refresh_from_db()
    assert intent.status == Intent.Status.EXPIRED  # is CLOSED, with nothing left to decide
