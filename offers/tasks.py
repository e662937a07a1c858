"""Scheduled work on intents and offers. Thin: call a service."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from offers import privacy, services
from offers.buyer_mail import buyers_notify_due
from offers.privacy import intent_redact_for_vendors, intents_due_for_deletion_terms
from offers.proposal_dispositions import (
    intent_remind_poster,
    intents_awaiting_decision,
    proposal_send_disposition,
    proposals_awaiting_announcement,
    proposals_decline_undecided,
)
from offers.proposals import members_departed, proposals_member_left
from offers.services import intents_close_due, offers_lapse_due

logger = logging.getLogger(__name__)

# A task that works through a backlog batch after batch takes no new batch after this
# many seconds, well under the 60 s soft time limit; the next run goes on.
BACKLOG_SECONDS = 40


def _batch_after_batch(run_batch: Callable[[], int], size: Callable[[], int]) -> int:
    """``run_batch`` until one comes back short of ``size()`` or the time is up; the total."""
    deadline = time.monotonic() + BACKLOG_SECONDS
    total = 0
    while True:
        done = run_batch()
        total += done
        if done < size() or time.monotonic() > deadline:
            return total


def _each_apart(pks: Iterable[Any], send: Callable[[Any], bool], what: str) -> int:
    """``send`` each; one failing (logged, retried by a later run) does not stop the others,
    but the task's soft time limit stops them all. Returns how many were sent."""
    sent = 0
    for pk in pks:
        try:
            sent += send(pk)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: a later run goes on
        except Exception:
            logger.exception("%s for %s failed; a later run retries", what, pk)
    return sent


@shared_task(name="offers.close_due_intents")
def close_due_intents() -> dict[str, int]:
    return intents_close_due()


@shared_task(name="offers.lapse_due_offers")
def lapse_due_offers() -> int:
    return _batch_after_batch(offers_lapse_due, lambda: services.LAPSE_BATCH)


@shared_task(name="offers.notify_buyers")
def notify_buyers() -> int:
    """The buyers' e-mails now due (every minute, from the beat)."""
    return buyers_notify_due()


@shared_task(name="offers.enforce_deletion_terms")
def enforce_deletion_terms() -> int:
    """Buyers' "delete my data N days after award" terms whose time has come."""
    return _batch_after_batch(
        lambda: sum(
            intent_redact_for_vendors(intent=intent) for intent in intents_due_for_deletion_terms()
        ),
        lambda: privacy.DELETION_TERMS_BATCH,
    )


@shared_task(name="offers.send_proposal_dispositions")
def send_proposal_dispositions(proposal_ids: list[Any]) -> int:
    """E-mail each proposal's authors its disposition; one failing does not stop the others."""
    return _each_apart(
        proposal_ids, lambda pk: proposal_send_disposition(proposal_id=pk), "Disposition e-mail"
    )


@shared_task(name="offers.sweep_unannounced_proposals")
def sweep_unannounced_proposals() -> int:
    """Decisions on proposals whose e-mail was lost (broker down, sending failed): send them."""
    return send_proposal_dispositions(
        list(proposals_awaiting_announcement().values_list("pk", flat=True)[:200])
    )


@shared_task(name="offers.member_left")
def member_left(organization_id: int, member_id: int) -> int:
    """Someone left an organization: their live proposals there are withdrawn."""
    return proposals_member_left(organization_id=organization_id, member_id=member_id)


@shared_task(name="offers.sweep_departed_members")
def sweep_departed_members() -> int:
    """People gone from an organization whose clean-up was lost or never asked for.

    Returns how many were cleaned up.
    """
    departed = members_departed()
    for organization_id, member_id in departed:
        member_left(organization_id, member_id)
    return len(departed)


@shared_task(name="offers.remind_posters")
def remind_posters() -> int:
    """Buyers and posters of closed intents with undecided offers (at most daily per intent;
    weekly for a public intent 14 days after its deadline).

    An internal RFP's proposals still undecided 14 days after the deadline are
    declined, with the reason.
    """
    proposals_decline_undecided()
    return _each_apart(
        intents_awaiting_decision().values_list("pk", flat=True)[:500],
        lambda pk: intent_remind_poster(intent_id=pk),
        "Reminder",
    )
