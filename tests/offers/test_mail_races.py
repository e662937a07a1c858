"""The beat's mailers racing the people they write to: what they send is read after the claim. PostgreSQL only.

Each test holds one writer's transaction open (its row locks taken, not yet
committed) while a task reads the row as it was and then waits on the lock;
the writer commits, and the task goes on with what it read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction

from intents.models import Intent
from marketplace.privacy import account_delete
from offers.buyer_mail import buyer_notify
from offers.models import Offer
from offers.proposal_dispositions import intent_remind_poster, proposal_send_disposition
from offers.services import offer_accept
from tests.conftest import require_postgresql
from tests.factories import (
    OfferFactory,
    OrganizationFactory,
    VendorFactory,
    internal_intent,
    noticed_intent,
    org_member,
    proposal,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def writer_commits_while_task_waits(
    write: Callable[[], Any], task: Callable[[], Any]
) -> list[BaseException]:
    """``write`` in a transaction held open until ``task`` (started after the write)
    waits on a row lock; then the write commits and ``task`` finishes."""
    written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                write()
                written.set()
                release.wait(timeout=20)
        except BaseException as error:
            errors.append(error)
            written.set()
        finally:
            connection.close()

    def runner() -> None:
        try:
            written.wait(timeout=20)
            task()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=runner)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while not _someone_waits_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_no_reminder_to_decide_goes_out_after_the_buyer_accepted() -> None:
    """remind_posters reads a closed intent; the buyer accepts an offer meanwhile. The
    claim on decision_reminded_at does not ask again whether the intent is still closed
    with undecided offers: the buyer is told "0 offer(s) wait for your decision"."""
    require_postgresql()
    vendor = VendorFactory()
    intent = noticed_intent(vendor, status=Intent.Status.CLOSED)
    offer = OfferFactory(intent=intent, vendor=vendor)

    errors = writer_commits_while_task_waits(
        lambda: offer_accept(offer=offer, buyer=intent.buyer),
        lambda: intent_remind_poster(intent_id=intent.pk),
    )

    assert errors == []
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.AWARDED
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.ACCEPTED
    reminders = [m for m in mail.outbox if "wait for your decision" in m.subject]
    assert reminders == [], [m.subject for m in reminders]


def test_no_reminder_goes_to_an_account_erased_meanwhile() -> None:
    """The buyer erases their account while remind_posters holds their intent: the
    reminder goes to the address the erasure just removed, naming the intent's title."""
    require_postgresql()
    vendor = VendorFactory()
    intent = noticed_intent(vendor, status=Intent.Status.CLOSED, title="Private kitchen plan")
    OfferFactory(intent=intent, vendor=vendor)
    buyer, address = intent.buyer, intent.buyer.email

    errors = writer_commits_while_task_waits(
        lambda: account_delete(user=buyer),
        lambda: intent_remind_poster(intent_id=intent.pk),
    )

    assert errors == []
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.WITHDRAWN
    to_erased = [m for m in mail.outbox if address in m.to]
    assert to_erased == [], [(m.to, m.subject) for m in to_erased]


def test_no_news_e_mail_goes_to_an_account_erased_meanwhile() -> None:
    """notify_buyers reads an intent with news; its buyer erases the account meanwhile
    (which turns the intent's e-mails off). The claim does not look again: the e-mail
    goes to the erased address, with the intent's original title."""
    require_postgresql()
    vendor = VendorFactory()
    intent = noticed_intent(vendor, title="Private kitchen plan")
    OfferFactory(intent=intent, vendor=vendor)
    Intent.objects.filter(pk=intent.pk).update(buyer_activity_at=intent.created_at)
    buyer, address = intent.buyer, intent.buyer.email

    errors = writer_commits_while_task_waits(
        lambda: account_delete(user=buyer),
        lambda: buyer_notify(intent_id=intent.pk),
    )

    assert errors == []
    assert Intent.objects.get(pk=intent.pk).is_buyer_email_enabled is False
    to_erased = [m for m in mail.outbox if address in m.to]
    assert to_erased == [], [(m.to, m.subject) for m in to_erased]


def test_no_disposition_e_mail_goes_to_a_proposer_erased_meanwhile() -> None:
    """The disposition sweep reads a declined proposal with its author; the author erases
    their account meanwhile (which rewrites the proposal's row). The claim then succeeds
    and the e-mail goes to the author's erased address, from what was read before."""
    require_postgresql()
    organization = OrganizationFactory()
    poster = org_member(organization)
    member = org_member(organization)
    intent = internal_intent(organization, poster, title="Private reorganization")
    declined = proposal(intent, member, status=Offer.Status.DECLINED, decline_reason="no")
    address = member.email

    errors = writer_commits_while_task_waits(
        lambda: account_delete(user=member),
        lambda: proposal_send_disposition(proposal_id=declined.pk),
    )

    assert errors == []
    to_erased = [m for m in mail.outbox if address in m.to]
    assert to_erased == [], [(m.to, m.subject) for m in to_erased]
