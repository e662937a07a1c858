"""Telling proposal authors their disposition, and reminding posters who have not decided.

No black hole: every decided proposal's authors are e-mailed once; a poster
is reminded of undecided proposals at most once a day per RFP, and 14 days
after the deadline undecided proposals are declined with that reason. A buyer
of a public intent decides in their own time: reminded daily for 14 days after
the deadline, then weekly. All of
it is claimed with conditional updates, so a task that runs twice sends nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from intents.models import Intent
from marketplace.codes import amount_text
from marketplace.links import absolute_url
from marketplace.mail import send_mail
from offers.models import Offer, RewardEntry
from offers.services import decline_live_offers

REASON_NO_DECISION = "the poster did not decide within 14 days of the deadline"
REMINDER_INTERVAL = timedelta(days=1)
# A buyer decides in their own time (DESIGN §1.4): past the decision period, they are
# reminded once a week, no longer every day.
LATER_REMINDER_INTERVAL = timedelta(days=7)
# After this long closed without a decision, the proposals are declined: no black hole.
DECISION_PERIOD = timedelta(days=14)


# --- Telling the authors, reminding the poster ---------------------------------------


# A worker's hold on a proposal while it sends the decision: past it, a worker that
# died (killed mid-send) lets the sweep send again.
DISPOSITION_CLAIM = timedelta(minutes=10)


def proposal_send_disposition(*, proposal_id: Any) -> bool:
    """E-mail the proposal's authors its disposition: at least once, and of two workers
    holding it at once only one sends (claimed by a guarded update, for a while)."""
    proposal = (
        Offer.objects.select_related("intent", "intent__organization", "member")
        .filter(pk=proposal_id, member__isnull=False)
        .exclude(status=Offer.Status.SUBMITTED)
        .first()
    )
    if proposal is None:
        return False
    now = timezone.now()
    held_until = now + DISPOSITION_CLAIM
    claimed = (
        Offer.objects.filter(pk=proposal.pk, authors_notified_at__isnull=True)
        .filter(
            Q(authors_notice_claimed_until__isnull=True) | Q(authors_notice_claimed_until__lt=now)
        )
        .update(authors_notice_claimed_until=held_until)
    )
    if not claimed:
        return False
    mine = Offer.objects.filter(pk=proposal.pk, authors_notice_claimed_until=held_until)
    # Read again once claimed: an author erased while the claim waited is not written to.
    proposal = Offer.objects.select_related("intent", "intent__organization", "member").get(
        pk=proposal.pk
    )
    try:
        _send_disposition(proposal)
    except BaseException:
        # The claim is given back: the sweep (proposals_awaiting_announcement) tries again.
        mine.update(authors_notice_claimed_until=None)
        raise
    # Sent: marked so even if this send outlived its hold and another worker took it.
    Offer.objects.filter(pk=proposal.pk, authors_notified_at__isnull=True).update(
        authors_notified_at=timezone.now(), authors_notice_claimed_until=None
    )
    return True


# Decided proposals whose e-mail did not go (the broker was down, sending failed) are
# sent by the beat after this grace, while their decision is this recent.
ANNOUNCEMENT_GRACE = timedelta(minutes=5)
ANNOUNCEMENT_WINDOW = timedelta(days=3)


def proposals_awaiting_announcement(*, now: Any = None) -> QuerySet[Offer]:
    """Accepted or declined proposals whose authors were not told yet (the outbox sweep)."""
    now = now or timezone.now()
    return Offer.objects.filter(
        Q(authors_notice_claimed_until__isnull=True) | Q(authors_notice_claimed_until__lt=now),
        member__isnull=False,
        status__in=(Offer.Status.ACCEPTED, Offer.Status.DECLINED),
        authors_notified_at__isnull=True,
        decided_at__lte=now - ANNOUNCEMENT_GRACE,
        decided_at__gte=now - ANNOUNCEMENT_WINDOW,
    ).order_by("decided_at")


def _send_disposition(proposal: Offer) -> None:
    """Tell the proposal's authors (the proposer and the confirmed co-authors still with an
    account), a message each: a claim covers one send, so two workers tell nobody twice
    (a send that fails part-way is tried again whole: at least once). Accepted,
    it says each author's part of the reward, as the ledger has it."""
    intent = proposal.intent
    authors = [proposal.member] + [
        row.member
        for row in proposal.coauthors.select_related("member")
        if row.confirmed_at is not None
    ]
    authors = [author for author in authors if author.is_active]  # an erased one: nothing
    if not authors:
        return
    shares = ""
    if proposal.status == Offer.Status.ACCEPTED:
        what = f"was accepted, with {proposal.reward_percent}% of the reward ({intent.reward_text})"
        parts = {entry.member_id: entry for entry in RewardEntry.objects.filter(offer=proposal)}
        shares = "".join(
            f"  {author.get_username()}: {_part_text(parts[author.pk])}"
            f" ({parts[author.pk].percent.normalize():f}%)\n"
            for author in authors
            if author.pk in parts
        )
        shares = f"\nEach author's part:\n{shares}" if shares else ""
    else:
        what = f"was {proposal.status}" + (
            f": {proposal.decline_reason}" if proposal.decline_reason else ""
        )
    send_mail(
        subject=f"Your proposal on “{intent.title}” {proposal.status}",
        message=(
            f"Your proposal on “{intent.title}” in {intent.organization.name} {what}.\n"
            f"{shares}\nSee it on the organization's page: "
            f"{absolute_url('offers:organization', intent.organization.slug)}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[author.email for author in authors],
    )


def _part_text(entry: RewardEntry) -> str:
    if entry.is_points:
        return f"{entry.amount.normalize():f} points"
    return f"{amount_text(entry.amount, entry.currency)} {entry.currency}"


def intents_awaiting_decision(*, now: Any = None) -> QuerySet[Intent]:
    """Closed intents (public or internal) with undecided offers whose buyer was not reminded today."""
    now = now or timezone.now()
    return (
        Intent.objects.filter(
            status=Intent.Status.CLOSED,
            offers__status=Offer.Status.SUBMITTED,
        )
        .filter(
            Q(decision_reminded_at__isnull=True)
            | Q(decision_reminded_at__lte=now - REMINDER_INTERVAL)
            & (
                Q(closed_at__gt=now - DECISION_PERIOD)
                | Q(decision_reminded_at__lte=now - LATER_REMINDER_INTERVAL)
            )
        )
        .distinct()
    )


def intent_remind_poster(*, intent_id: Any, now: Any = None) -> bool:
    """Remind the poster of undecided proposals: at most one e-mail a day per intent."""
    now = now or timezone.now()
    intent = (
        intents_awaiting_decision(now=now)
        .select_related("buyer", "organization")
        .filter(pk=intent_id)
        .first()
    )
    if intent is None:
        return False
    # Claimed with a conditional update: of two workers, one sends. Still closed: an
    # award, a withdrawal or an erasure that held the row meanwhile makes it no claim.
    reminded_before = intent.decision_reminded_at
    claimed = Intent.objects.filter(
        pk=intent.pk, decision_reminded_at=reminded_before, status=Intent.Status.CLOSED
    ).update(decision_reminded_at=now)
    if not claimed:
        return False
    # Read again once claimed: what was read before may have changed while it waited.
    intent = Intent.objects.select_related("buyer", "organization").get(pk=intent.pk)
    undecided = Offer.objects.filter(intent=intent, status=Offer.Status.SUBMITTED).count()
    if not undecided or not intent.buyer.is_active:
        return False
    if intent.organization is None:
        subject = f"{undecided} offer(s) wait for your decision: {intent.title}"
        message = (
            f"Your intent “{intent.title}” closed with {undecided} offer(s) you have not "
            f"decided on. Accept one, or decline them with a reason — every vendor hears "
            f"back: {absolute_url('offers:intent', intent.pk)}\n"
        )
    else:
        subject = f"{undecided} proposal(s) wait for your decision: {intent.title}"
        message = (
            f"Your RFP “{intent.title}” in {intent.organization.name} closed with "
            f"{undecided} undecided proposal(s). Accept one or several and split the reward, "
            f"or decline them with a reason: "
            f"{absolute_url('offers:rfp', intent.organization.slug, intent.pk)}\n\n"
            f"Proposals still undecided 14 days after the deadline are declined for you.\n"
        )
    try:
        send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[intent.buyer.email],
        )
    except BaseException:
        # Not sent: the claim is given back, and the next hourly run tries again.
        Intent.objects.filter(pk=intent.pk, decision_reminded_at=now).update(
            decision_reminded_at=reminded_before
        )
        raise
    return True


def proposals_decline_undecided(*, now: Any = None) -> int:
    """Decline the proposals of internal RFPs closed for longer than the decision period.

    The poster was reminded daily; after :data:`DECISION_PERIOD` each
    proposer is told, with the reason. Safe to run twice: only submitted
    proposals are declined, under the intent's row lock.
    """
    now = now or timezone.now()
    declined = 0
    due = Intent.objects.filter(
        organization__isnull=False,
        status=Intent.Status.CLOSED,
        closed_at__lte=now - DECISION_PERIOD,
        offers__status=Offer.Status.SUBMITTED,
    ).distinct()
    for intent_id in due.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            locked = Intent.objects.select_for_update().get(pk=intent_id)
            if locked.status == Intent.Status.CLOSED:
                declined += decline_live_offers(intent=locked, reason=REASON_NO_DECISION)
    return declined
