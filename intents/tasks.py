"""Celery tasks for matching and notices. Thin: take ids, call a service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from intents.notices import (
    EMAIL_BATCH,
    catch_ups_awaiting,
    intent_match,
    intents_to_match_again,
    member_catch_up,
    notice_send_email,
    notices_due_for_email,
    vendor_catch_up,
)
from marketplace.queue import enqueue


@shared_task(name="intents.match_intent")
def match_intent(intent_id: str) -> int:
    return len(intent_match(intent_id=intent_id))


@shared_task(name="intents.send_notice_emails")
def send_notice_emails(notice_ids: list[Any]) -> None:
    for notice_id in notice_ids:
        notice_send_email(notice_id=notice_id)


@shared_task(name="intents.sweep_unsent_notices")
def sweep_unsent_notices() -> int:
    """Notices whose e-mail was lost (broker down) or failed: send them again, in batches."""
    notice_ids = notices_due_for_email()
    for start in range(0, len(notice_ids), EMAIL_BATCH):
        enqueue("intents.send_notice_emails", notice_ids[start : start + EMAIL_BATCH])
    return len(notice_ids)


@shared_task(name="intents.sweep_unmatched_intents")
def sweep_unmatched_intents(later_by_seconds: float = 0) -> int:
    """Re-enqueue matching that was asked for but never ran (broker down, worker killed).

    ``later_by_seconds``: sweep as if that much later (a test's clock)."""
    intent_ids = intents_to_match_again(now=timezone.now() + timedelta(seconds=later_by_seconds))
    for intent_id in intent_ids:
        enqueue("intents.match_intent", intent_id)
    return len(intent_ids)


@shared_task(name="intents.sweep_catch_ups")
def sweep_catch_ups() -> int:
    """Re-enqueue the catch-ups of vendors and people that were asked for but never ran."""
    vendor_ids, user_ids = catch_ups_awaiting()
    for vendor_id in vendor_ids:
        enqueue("intents.match_vendor", vendor_id)
    for user_id in user_ids:
        enqueue("intents.match_member", user_id)
    return len(vendor_ids) + len(user_ids)


@shared_task(name="intents.match_vendor")
def match_vendor(vendor_id: str) -> int:
    """A vendor joined or changed its profile: tell it about fitting intents already open."""
    return vendor_catch_up(vendor_id=vendor_id, requested_only=True)


@shared_task(name="intents.match_member")
def match_member(user_id: int) -> int:
    """A person joined an organization or changed their skills: tell them of fitting open RFPs."""
    return member_catch_up(user_id=user_id, requested_only=True)
