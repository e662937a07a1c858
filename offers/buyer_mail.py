"""The buyer hears back: one e-mail per intent per hour at most, batching what happened."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from intents.models import Intent
from marketplace.links import absolute_url
from marketplace.mail import send_mail
from offers.models import Offer, OfferRevision, Question

logger = logging.getLogger(__name__)

MIN_INTERVAL = timedelta(hours=1)
# How long a worker holds an intent while it sends its e-mail (a send takes seconds).
EMAIL_CLAIM = timedelta(minutes=10)


def intents_with_news_for_buyer() -> QuerySet[Intent]:
    """Intents with activity the buyer was not yet e-mailed about, and no e-mail this hour.

    News waiting longest first (the partial index ``intent_news_for_buyer``).
    """
    now = timezone.now()
    return Intent.objects.filter(
        Q(buyer_emailed_at__isnull=True) | Q(buyer_emailed_at__lt=F("buyer_activity_at")),
        Q(buyer_emailed_at__isnull=True) | Q(buyer_emailed_at__lte=now - MIN_INTERVAL),
        Q(buyer_email_claimed_until__isnull=True) | Q(buyer_email_claimed_until__lt=now),
        is_buyer_email_enabled=True,
        buyer_activity_at__isnull=False,
    ).order_by("buyer_activity_at")


# The beat runs the sweep every minute under a 60 s soft time limit: it stops taking
# intents after this many seconds, and the next run goes on where it stopped.
SWEEP_SECONDS = 40
SWEEP_LIMIT = 500


def buyers_notify_due() -> int:
    """Send every buyer's e-mail now due; returns how many were sent.

    One failed e-mail is logged and stays due (``buyer_notify`` gives its claim
    back); the others are still sent.
    """
    sent = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    for intent_id in intents_with_news_for_buyer().values_list("pk", flat=True)[:SWEEP_LIMIT]:
        if time.monotonic() > deadline:
            break
        try:
            sent += buyer_notify(intent_id=intent_id)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: the next run goes on
        except Exception:
            logger.exception(
                "The buyer's e-mail for intent %s failed; the next sweep retries", intent_id
            )
    return sent


def buyer_notify(*, intent_id: Any) -> bool:
    """Send the buyer one e-mail about what is new on the intent, if allowed now.

    Claimed with a conditional update (``buyer_email_claimed_until``) so two sweeps
    cannot both send; ``buyer_emailed_at`` moves on only once the e-mail is sent. If
    sending fails, the claim is given back and the error is raised; if the worker dies,
    the claim runs out: either way the intent stays due for a later sweep.
    """
    intent = (
        intents_with_news_for_buyer()
        .select_related("buyer", "organization")
        .filter(pk=intent_id)
        .first()
    )
    if intent is None:
        return False
    since = intent.buyer_emailed_at
    now = timezone.now()
    claimed = (
        # Still wanted: an erasure that held the row meanwhile turned the e-mails off.
        Intent.objects.filter(pk=intent.pk, buyer_emailed_at=since, is_buyer_email_enabled=True)
        .filter(Q(buyer_email_claimed_until__isnull=True) | Q(buyer_email_claimed_until__lt=now))
        .update(buyer_email_claimed_until=now + EMAIL_CLAIM)
    )
    if not claimed:
        return False
    # Read again once claimed: the title and the address as they are now.
    intent = Intent.objects.select_related("buyer", "organization").get(pk=intent.pk)
    done = Intent.objects.filter(pk=intent.pk)
    window = {"created_at__gt": since} if since else {}
    # An internal RFP's offers are its members' proposals.
    noun = "proposal" if intent.organization_id else "offer"
    news = [
        (Offer.objects.filter(intent=intent, **window), f"new {noun}"),
        (OfferRevision.objects.filter(offer__intent=intent, **window), f"revised {noun}"),
        (Question.objects.filter(intent=intent, **window), "new question"),
    ]
    lines, counts = [], []
    # The next e-mail starts after the newest row told: one made after "now", while this
    # e-mail was claimed (its transaction held the intent), is not told twice.
    told_until = now
    for rows, what in news:
        found = rows.aggregate(count=Count("pk"), newest=Max("created_at"))
        counts.append(found["count"])
        if found["count"]:
            lines.append(f"  {found['count']} {what}{'s' if found['count'] != 1 else ''}")
            told_until = max(told_until, found["newest"])
    if intent.offers_are_sealed and (counts[0] or counts[1]):
        # Sealed, how many offers came (or were revised) is no more the buyer's before
        # the deadline than what they say: the pages show no count either.
        lines = [f"  {noun.capitalize()}s came in: sealed until the deadline"] + (
            [lines[-1]] if counts[2] else []
        )
    if not lines:
        done.update(buyer_emailed_at=now, buyer_email_claimed_until=None)
        return False
    try:
        _send(intent, lines, offers=bool(counts[0] or counts[1]), questions=bool(counts[2]))
    except Exception:
        done.update(buyer_email_claimed_until=None)
        raise
    done.update(buyer_emailed_at=told_until, buyer_email_claimed_until=None)
    return True


def _send(intent: Intent, lines: list[str], *, offers: bool, questions: bool) -> None:
    if intent.organization is None:
        what, link = "intent", absolute_url("offers:intent", intent.pk)
        off = "\nYou can turn these e-mails off in the intent's settings.\n"
    else:
        what, link = "RFP", absolute_url("offers:rfp", intent.organization.slug, intent.pk)
        off = "\n"
    send_mail(
        subject=f"News on your {what}: {intent.title}",
        message=(
            f"Hello {intent.buyer.get_username()},\n\nOn “{intent.title}”:\n"
            + "\n".join(lines)
            + (
                # Sealed: the offers are the buyer's to read once the deadline passed;
                # a question is theirs to answer now.
                f"\n\nYou can read and compare the offers after the deadline,"
                f" {intent.offers_close_at:%Y-%m-%d %H:%M} UTC."
                + (f"\nAnswer the questions: {link}" if questions else f"\n{link}")
                if intent.offers_are_sealed and offers
                else f"\n\n{'Compare and answer' if offers else 'Answer'}: {link}"
            )
            + off
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[intent.buyer.email],
    )
