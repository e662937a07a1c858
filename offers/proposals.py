"""Proposals on an organization's internal intents, co-authors, the award and its reward split.

A proposal is an :class:`~offers.models.Offer` whose ``member`` is set
instead of a vendor. The poster accepts one or several proposals and gives
each a share of the reward in percent (at most two decimals, together exactly
100). Each accepted proposal's share is split *equally* among its confirmed
authors (the proposer and every co-author who confirmed); the amounts are
written to the reward ledger (:class:`~offers.models.RewardEntry`) with
cents handed out by largest remainder, so the ledger adds up to the reward
exactly. Every other live proposal is declined with a reason, and every
author is told.

Concurrency: like vendor offers, every write that depends on the intent's
state locks the intent row first, so an award and a late submission or a
second award run one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from intents.models import Intent
from intents.services import (
    intent_lock_for_award,
    intent_mark_awarded,
    intent_note_buyer_activity,
)
from marketplace import clock
from marketplace.codes import CENT, minor_unit
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError, with_article
from marketplace.links import absolute_url
from marketplace.mail import send_mail_after_commit
from marketplace.models import Membership, Organization, User
from offers.models import Offer, OfferRevision, ProposalCoauthor, RewardEntry
from offers.services import (
    decline_live_offers,
    emit_dispositions,
    intent_withdraw_and_decline_offers,
    offer_set_declined,
    revision_changes,
)

REASON_OTHER_PROPOSALS = "the poster chose other proposals"
REASON_POSTER_LEFT = "the poster left the organization"
MAX_TEXT = 5000


def _is_member(user: User, organization_id: Any) -> bool:
    return Membership.objects.filter(organization_id=organization_id, user=user).exists()


def _lock_open_internal_intent(intent_id: Any) -> Intent:
    intent = Intent.objects.select_for_update().get(pk=intent_id)
    if intent.organization_id is None:
        raise DomainError("Proposals are made on internal RFPs only.", kind=INVALID)
    if intent.status != Intent.Status.OPEN:
        raise DomainError(f"This RFP is {intent.status}; it takes no proposals.", kind=CONFLICT)
    if intent.offers_close_at <= timezone.now():
        raise DomainError("The deadline for proposals has passed.", kind=CONFLICT)
    return intent


# Co-authors a proposal may name. The smallest share, 0.01 %, is split among the authors
# in units of PERCENT_UNIT: it reaches every author of up to a hundred.
MAX_COAUTHORS = 20


def _coauthor_members(
    *, intent: Intent, proposer: User, coauthors: list[User], already: int = 0
) -> list[User]:
    """The co-authors to name, each checked; ``already`` named on the proposal besides."""
    unique: dict[Any, User] = {}
    for coauthor in coauthors:
        if coauthor.pk == proposer.pk:
            raise DomainError(
                "You are the proposer already.", errors={"coauthors": ["Not yourself."]}
            )
        if coauthor.pk == intent.buyer_id:
            raise DomainError(
                "The RFP's poster cannot co-author a proposal on it.",
                errors={"coauthors": [f"{coauthor.get_username()} posted this RFP."]},
            )
        unique[coauthor.pk] = coauthor
    if already + len(unique) > MAX_COAUTHORS:
        raise DomainError(
            f"A proposal has at most {MAX_COAUTHORS} co-authors.",
            errors={"coauthors": [f"At most {MAX_COAUTHORS} co-authors."]},
        )
    members = set(
        Membership.objects.filter(
            organization_id=intent.organization_id, user_id__in=list(unique)
        ).values_list("user_id", flat=True)
    )
    outsiders = [user.get_username() for pk, user in unique.items() if pk not in members]
    if outsiders:
        raise DomainError(
            "Co-authors must be members of the organization.",
            errors={"coauthors": [f"Not a member: {', '.join(sorted(outsiders))}."]},
        )
    return list(unique.values())


def _refuse_invalid(*, message: str, approach: str, delivery_date: date | None) -> None:
    errors: dict[str, list[str]] = {}
    if not message.strip():
        errors["message"] = ["Say what you propose."]
    if len(message) > MAX_TEXT or len(approach) > MAX_TEXT:
        errors["message"] = [f"At most {MAX_TEXT} characters."]
    if delivery_date is not None and delivery_date < clock.today():
        errors["delivery_date"] = ["The delivery date has passed."]
    if errors:
        raise DomainError("The proposal is not valid.", errors=errors)


def proposal_submit(
    *,
    member: User,
    intent: Intent,
    message: str,
    approach: str = "",
    estimate: str = "",
    delivery_date: date | None = None,
    coauthors: list[User] | None = None,
) -> Offer:
    """A member proposes on an internal RFP of their organization (not their own).

    No price: the reward is fixed by the poster. Co-authors named here are
    asked to confirm; until all have, the proposal cannot be accepted.
    """
    _refuse_invalid(message=message, approach=approach, delivery_date=delivery_date)
    if not _is_member(member, intent.organization_id):
        raise DomainError("Only members of the organization can propose.", kind=FORBIDDEN)
    if intent.buyer_id == member.pk:
        raise DomainError("You posted this RFP; you cannot propose on it.", kind=FORBIDDEN)
    named = _coauthor_members(intent=intent, proposer=member, coauthors=coauthors or [])
    try:
        with transaction.atomic():
            locked = _lock_open_internal_intent(intent.pk)
            if Offer.objects.filter(
                intent=locked, member=member, status__in=Offer.LIVE_STATUSES
            ).exists():
                raise DomainError("You already have a live proposal on this RFP.", kind=CONFLICT)
            proposal = Offer.objects.create(
                intent=locked,
                member=member,
                price=None,
                currency=locked.currency,
                message=message.strip(),
                approach=approach.strip(),
                estimate=estimate.strip()[:100],
                delivery_date=delivery_date,
            )
            ProposalCoauthor.objects.bulk_create(
                ProposalCoauthor(offer=proposal, member=coauthor) for coauthor in named
            )
            if named:
                _ask_coauthors(proposal=proposal, intent=locked, proposer=member, coauthors=named)
            # The poster hears of it like a buyer of a new offer (unread, batched e-mail).
            intent_note_buyer_activity(intent_id=locked.pk)
            return proposal
    except IntegrityError as error:
        raise DomainError("You already have a live proposal on this RFP.", kind=CONFLICT) from error


def _ask_coauthors(
    *, proposal: Offer, intent: Intent, proposer: User, coauthors: list[User]
) -> None:
    recipients = [coauthor.email for coauthor in coauthors]
    organization = Organization.objects.get(pk=intent.organization_id)
    body = (
        f"{proposer.get_username()} named you co-author of a proposal on “{intent.title}” "
        f"in {organization.name}.\n\nConfirm or decline on the organization's page: "
        f"{absolute_url('offers:rfp', organization.slug, intent.pk)}\n"
    )
    send_mail_after_commit(
        subject=f"Confirm your co-authorship: {intent.title}",
        message=body,
        recipient_list=recipients,
    )


def proposal_add_coauthor(*, member: User, proposal: Offer, coauthor: User) -> ProposalCoauthor:
    """The proposer names one more co-author while the RFP is open."""
    if proposal.member_id != member.pk:
        raise DomainError("Only the proposer can name co-authors.", kind=FORBIDDEN)
    with transaction.atomic():
        intent = _lock_open_internal_intent(proposal.intent_id)
        if Offer.objects.filter(pk=proposal.pk, status=Offer.Status.SUBMITTED).count() != 1:
            raise DomainError("Only a submitted proposal takes co-authors.", kind=CONFLICT)
        already = ProposalCoauthor.objects.filter(offer=proposal).exclude(member=coauthor).count()
        (named,) = _coauthor_members(
            intent=intent, proposer=member, coauthors=[coauthor], already=already
        )
        row, created = ProposalCoauthor.objects.get_or_create(offer=proposal, member=named)
        if created:
            _ask_coauthors(proposal=proposal, intent=intent, proposer=member, coauthors=[named])
    return row


def coauthor_confirm(*, member: User, proposal: Offer) -> ProposalCoauthor:
    """The named co-author confirms; a second confirm changes nothing."""
    row = ProposalCoauthor.objects.filter(offer=proposal, member=member).first()
    if row is None:
        raise DomainError("You are not named on this proposal.", kind=FORBIDDEN)
    if member.pk == proposal.intent.buyer_id:
        raise DomainError("You posted this RFP; you cannot co-author on it.", kind=FORBIDDEN)
    if proposal.status != Offer.Status.SUBMITTED:
        raise DomainError(f"This proposal is {proposal.status}.", kind=CONFLICT)
    ProposalCoauthor.objects.filter(pk=row.pk, confirmed_at__isnull=True).update(
        confirmed_at=timezone.now()
    )
    row.refresh_from_db()
    return row


def coauthor_decline(*, member: User, proposal: Offer) -> None:
    """The named co-author says no: they are taken off the proposal."""
    if not ProposalCoauthor.objects.filter(offer=proposal, member=member).exists():
        raise DomainError("You are not named on this proposal.", kind=FORBIDDEN)
    with transaction.atomic():
        # The proposal as the database has it now, locked as the award locks it: once
        # accepted, the reward ledger counts this co-author.
        status = (
            Offer.objects.select_for_update().values_list("status", flat=True).get(pk=proposal.pk)
        )
        if status != Offer.Status.SUBMITTED:
            raise DomainError(f"This proposal is {status}.", kind=CONFLICT)
        ProposalCoauthor.objects.filter(offer=proposal, member=member).delete()


def proposal_withdraw(*, member: User, proposal: Offer) -> Offer:
    if proposal.member_id != member.pk:
        raise DomainError("Only the proposer can withdraw a proposal.", kind=FORBIDDEN)
    now = timezone.now()
    changed = Offer.objects.filter(pk=proposal.pk, status=Offer.Status.SUBMITTED).update(
        status=Offer.Status.WITHDRAWN, decided_at=now, updated_at=now
    )
    proposal.refresh_from_db()
    if not changed:
        raise DomainError(
            f"{with_article(proposal.status)} proposal cannot be withdrawn.", kind=CONFLICT
        )
    coauthors_tell_withdrawn(proposal_ids=[proposal.pk], why=f"{member.get_username()} withdrew it")
    return proposal


def proposal_revise(
    *,
    member: User,
    proposal: Offer,
    message: str,
    approach: str = "",
    estimate: str = "",
    delivery_date: date | None = None,
) -> Offer:
    """The proposer changes their live proposal while the RFP takes proposals. Every
    revision is kept (what changed, when) and counted, as an offer's: a poster about to
    accept what they read before is asked to look again, and hears of it as of an offer's."""
    if proposal.member_id != member.pk:
        raise DomainError("Only the proposer can revise a proposal.", kind=FORBIDDEN)
    _refuse_invalid(message=message, approach=approach, delivery_date=delivery_date)
    with transaction.atomic():
        intent = _lock_open_internal_intent(proposal.intent_id)
        locked = Offer.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != Offer.Status.SUBMITTED:
            raise DomainError(
                f"{with_article(locked.status)} proposal cannot be revised.", kind=CONFLICT
            )
        wanted = {
            "message": message.strip(),
            "approach": approach.strip(),
            "estimate": estimate.strip()[:100],
            "delivery_date": delivery_date,
        }
        changed = revision_changes(locked, wanted)
        if changed:
            Offer.objects.filter(pk=locked.pk).update(
                **wanted, revision_count=F("revision_count") + 1, updated_at=timezone.now()
            )
            OfferRevision.objects.create(offer=locked, changes=changed)
            intent_note_buyer_activity(intent_id=intent.pk)
            proposer = member.get_username()
            _tell_confirmed_coauthors(
                proposal_ids=[locked.pk],
                subject=lambda rfp: f"Your joint proposal on “{rfp.title}” was revised",
                said=lambda rfp, organization: (
                    f"{proposer} revised the proposal you co-author"
                    f" on “{rfp.title}” in {organization.name}. Read it as it is now"
                ),
            )
    proposal.refresh_from_db()
    return proposal


WITHDRAWN_AS_PROPOSER_LEFT = "its proposer left the organization"
WITHDRAWN_AS_PROPOSER_ERASED = "its proposer deleted their account"


def coauthors_tell_withdrawn(*, proposal_ids: Collection[Any], why: str) -> None:
    """No black hole: the confirmed co-authors of proposals just withdrawn hear of it,
    and why."""
    _tell_confirmed_coauthors(
        proposal_ids=proposal_ids,
        subject=lambda rfp: f"Your joint proposal on “{rfp.title}” was withdrawn",
        said=lambda rfp, organization: (
            f"The proposal you co-author on “{rfp.title}” in"
            f" {organization.name} was withdrawn: {why}"
        ),
    )


def _tell_confirmed_coauthors(
    *,
    proposal_ids: Collection[Any],
    subject: Callable[[Intent], str],
    said: Callable[[Intent, Organization], str],
) -> None:
    """E-mail the confirmed co-authors (still with an account) of each proposal what
    ``said`` says of its RFP, with the RFP's link: once the caller's transaction commits,
    a message each."""
    rows = (
        ProposalCoauthor.objects.filter(
            offer_id__in=proposal_ids, confirmed_at__isnull=False, member__is_active=True
        )
        .select_related("member", "offer__intent__organization")
        .order_by("offer_id")
    )
    told: dict[Any, list[ProposalCoauthor]] = {}
    for row in rows:
        told.setdefault(row.offer_id, []).append(row)
    for coauthors in told.values():
        intent = coauthors[0].offer.intent
        organization = intent.organization
        send_mail_after_commit(
            subject=subject(intent),
            message=f"{said(intent, organization)}.\n\nSee the RFP: "
            f"{absolute_url('offers:rfp', organization.slug, intent.pk)}\n",
            recipient_list=[row.member.email for row in coauthors],
        )


def proposals_member_left(*, organization_id: Any, member_id: Any) -> int:
    """A person left the organization: their live proposals on its RFPs are withdrawn,
    and they are taken off the live proposals they co-author. Returns how many were withdrawn.

    Their own RFPs there, still open or closed, are withdrawn too: they can no longer
    decide on them, so the proposals are declined with the reason rather than left waiting.
    """
    if Membership.objects.filter(organization_id=organization_id, user_id=member_id).exists():
        return 0  # back again meanwhile
    posted = Intent.objects.filter(
        organization_id=organization_id,
        buyer_id=member_id,
        status__in=Intent.UNDECIDED_STATUSES,
    ).select_related("buyer")
    for intent in posted:
        intent_withdraw_and_decline_offers(
            intent=intent, buyer=intent.buyer, reason=REASON_POSTER_LEFT
        )
    live = Offer.objects.filter(
        intent__organization_id=organization_id, status=Offer.Status.SUBMITTED
    )
    now = timezone.now()
    with transaction.atomic():
        # Locked as read: a decision committed meanwhile is either before (not read, not
        # withdrawn) or waits; the co-authors are told of those withdrawn here alone.
        theirs = list(
            live.filter(member_id=member_id)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        withdrawn = Offer.objects.filter(pk__in=theirs).update(
            status=Offer.Status.WITHDRAWN, decided_at=now, updated_at=now
        )
        ProposalCoauthor.objects.filter(member_id=member_id, offer__in=live).delete()
        coauthors_tell_withdrawn(proposal_ids=theirs, why=WITHDRAWN_AS_PROPOSER_LEFT)
    return withdrawn


def members_departed(*, limit: int = 200) -> list[tuple[Any, Any]]:
    """(organization id, person id) of people gone from an organization whose RFPs,
    proposals or co-authorships there are still live: ``proposals_member_left`` was lost
    (the broker was down) or never asked for (the membership deleted in the admin)."""

    def gone(organization: str, person: str) -> Exists:
        return ~Exists(
            Membership.objects.filter(
                organization_id=OuterRef(organization), user_id=OuterRef(person)
            )
        )

    live = Offer.Status.SUBMITTED
    sources = (
        Intent.objects.filter(organization__isnull=False, status__in=Intent.UNDECIDED_STATUSES)
        .filter(gone("organization_id", "buyer_id"))
        .values_list("organization_id", "buyer_id"),
        Offer.objects.filter(status=live, member__isnull=False, intent__organization__isnull=False)
        .filter(gone("intent__organization_id", "member_id"))
        .values_list("intent__organization_id", "member_id"),
        ProposalCoauthor.objects.filter(offer__status=live)
        .filter(gone("offer__intent__organization_id", "member_id"))
        .values_list("offer__intent__organization_id", "member_id"),
    )
    departed: set[tuple[Any, Any]] = set()
    for source in sources:
        departed.update(source.distinct()[:limit])
    return sorted(departed)[:limit]


def proposal_decline(*, poster: User, proposal: Offer, reason: str) -> Offer:
    """The poster turns one proposal down; a reason is required (no black hole)."""
    reason = reason.strip()
    if proposal.intent.buyer_id != poster.pk:
        raise DomainError("Only the poster can decline a proposal.", kind=FORBIDDEN)
    if not reason:
        raise DomainError(
            "Say why.", errors={"reason": ["Give the proposer a reason (they will read it)."]}
        )
    return offer_set_declined(offer=proposal, reason=reason, noun="proposal")


# --- The award and the reward split ----------------------------------------------


def _parse_percent(value: Any) -> Decimal | None:
    """A percentage with at most two decimals; a decimal comma reads as a point (the form's
    field allows both)."""
    try:
        percent = (
            value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
        )
        if not percent.is_finite() or percent != percent.quantize(CENT):
            return None
    except (InvalidOperation, ValueError):  # quantize too: a number past 28 digits
        return None
    return percent


def validate_shares(shares: Mapping[Any, Any]) -> dict[str, Decimal]:
    """Shares as ``{proposal id: percent}``: each above 0, two decimals at most, 100 in all."""
    problems: list[str] = []
    cleaned: dict[str, Decimal] = {}
    if not shares:
        problems.append("Accept at least one proposal.")
    for proposal_id, value in shares.items():
        percent = _parse_percent(value)
        if percent is None:
            problems.append(f"“{value}” is not a percentage with at most two decimals.")
        elif percent <= 0:
            problems.append("Each accepted proposal's share must be more than 0%.")
        elif percent > 100:
            problems.append("A share cannot be more than 100%.")
        elif _canonical_id(proposal_id) in cleaned:
            problems.append("A proposal is named twice.")
        else:
            cleaned[_canonical_id(proposal_id)] = percent
    if not problems and sum(cleaned.values()) != 100:
        problems.append(f"The shares add up to {sum(cleaned.values())}%, not 100%.")
    if problems:
        raise DomainError("The reward split is not valid.", errors={"shares": problems})
    return cleaned


def split_amount(total: Decimal, weights: list[Decimal], unit: Decimal = CENT) -> list[Decimal]:
    """``total`` in ``unit``s (cents), proportionally to ``weights``; the parts add up to
    ``total``: leftover units go by largest remainder."""
    weight_sum = sum(weights)
    if not weights or weight_sum <= 0:
        return [Decimal(0) for _ in weights]
    units = int((total / unit).to_integral_value(ROUND_DOWN))
    exact = [Decimal(units) * weight / weight_sum for weight in weights]
    floors = [int(value.to_integral_value(ROUND_DOWN)) for value in exact]
    leftover = units - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in by_remainder[:leftover]:
        floors[index] += 1
    return [Decimal(value) * unit for value in floors]


def _authors(proposal: Offer, members: set[Any]) -> list[Any]:
    """The proposer first, then the confirmed co-authors still in the organization."""
    return [proposal.member_id] + [
        row.member_id
        for row in proposal.coauthors.all()
        if row.confirmed_at is not None and row.member_id in members
    ]


PERCENT_UNIT = Decimal("0.0001")


def _reward_ledger(
    intent: Intent, accepted: list[Offer], cleaned: dict[str, Decimal], members: set[Any]
) -> list[tuple[Offer, Any, Decimal, Decimal]]:
    """(proposal, author, amount, percent) for each author of each accepted proposal.

    A proposal's share is split equally among its authors. The amounts are cut from the
    reward in one largest-remainder pass over every author, in the currency's minor unit
    (a cent, a whole yen; points in hundredths), so they add up to it exactly and no
    author's part is rounded twice; each author's percent, to 0.0001 %, adds up to the
    proposal's share.
    """
    reward = intent.reward_amount or Decimal(0)
    unit = CENT if intent.reward_is_points else minor_unit(intent.currency)
    authors = [(proposal, _authors(proposal, members)) for proposal in accepted]
    weights = [cleaned[str(proposal.pk)] / len(own) for proposal, own in authors for _author in own]
    amounts = iter(split_amount(reward, weights, unit))
    ledger = []
    for proposal, own in authors:
        percents = split_amount(cleaned[str(proposal.pk)], [Decimal(1)] * len(own), PERCENT_UNIT)
        ledger += [
            (proposal, author, next(amounts), percent)
            for author, percent in zip(own, percents, strict=True)
        ]
    return ledger


def proposals_award_preview(
    *,
    intent: Intent,
    poster: User,
    shares: Mapping[Any, Any],
    seen_revisions: Mapping[str, str] | None = None,
) -> tuple[list[tuple[Offer, Decimal, Decimal]], list[Offer]]:
    """What ``proposals_award`` would do, changing nothing: (proposal, percent, amount) for
    each accepted proposal, and the proposals it would decline. Refused as the award
    would be. For the poster only: the preview names every proposer."""
    if intent.buyer_id != poster.pk:
        raise DomainError("Only the poster can award this RFP.", kind=FORBIDDEN)
    cleaned = validate_shares(shares)
    proposals, members = _proposals_to_award(intent, cleaned, lock=False)
    accepted = [proposals[proposal_id] for proposal_id in cleaned]
    _refuse_revised_since(accepted, seen_revisions)
    totals: dict[Any, Decimal] = {}
    for proposal, _author, amount, _percent in _reward_ledger(intent, accepted, cleaned, members):
        totals[proposal.pk] = totals.get(proposal.pk, Decimal(0)) + amount
    rows = [(proposal, cleaned[str(proposal.pk)], totals[proposal.pk]) for proposal in accepted]
    declined = (
        _live_proposals(intent)
        .exclude(pk__in=list(proposals))
        .select_related("member")
        .order_by("created_at", "pk")
    )
    return rows, list(declined)


AWARD_SEEN_DIFFERS = (
    "A proposal was made or withdrawn since you looked: here is the award as it is now."
)
REVISED_SINCE = "revised"
AWARD_REVISED_SINCE = "{who}'s proposal was revised since you read it: read it again, then award."


def _refuse_revised_since(accepted: list[Offer], seen: Mapping[str, str] | None) -> None:
    """409 when a proposal to accept was revised since the poster read it (``seen``: each
    proposal's revision count then; one not given is not checked)."""
    for proposal in accepted:
        read = (seen or {}).get(str(proposal.pk))
        if read is not None and read != str(proposal.revision_count):
            message = AWARD_REVISED_SINCE.format(who=proposal.member.get_username())
            raise DomainError(message, kind=CONFLICT, errors={REVISED_SINCE: [message]})


def _live_proposals(intent: Intent) -> QuerySet[Offer]:
    """The proposals an award of ``intent`` accepts or declines."""
    return Offer.objects.filter(intent=intent, member__isnull=False, status=Offer.Status.SUBMITTED)


def proposals_award(
    *,
    intent: Intent,
    poster: User,
    shares: Mapping[Any, Any],
    seen_declined: Collection[str] | None = None,
    seen_revisions: Mapping[str, str] | None = None,
) -> list[RewardEntry]:
    """Accept the proposals named in ``shares`` and split the reward; decline the rest.

    Refused, with nothing changed, when the split is not valid, a proposal is
    not a live proposal on this intent, its proposer left the organization, or
    it still waits for a co-author's confirmation; and, given the ids of the
    proposals the poster was shown as declined (``seen_declined``, from the
    preview), when the rest is no longer those: a proposal came or went since; given
    each proposal's revision count as the poster read it (``seen_revisions``), when one
    to accept was revised since.
    Co-authors who left the organization are taken off first: the split goes to
    those still in it.
    """
    cleaned = validate_shares(shares)
    with transaction.atomic():
        locked = intent_lock_for_award(intent_id=intent.pk)
        if locked.buyer_id != poster.pk:
            raise DomainError("Only the poster can award this RFP.", kind=FORBIDDEN)
        if locked.organization_id is None:
            raise DomainError("Only an internal RFP is awarded with a split.", kind=INVALID)
        proposals, members = _proposals_to_award(locked, cleaned, lock=True)
        _refuse_revised_since([proposals[pk] for pk in cleaned], seen_revisions)
        if seen_declined is not None:
            rest = (
                _live_proposals(locked).exclude(pk__in=list(proposals)).values_list("pk", flat=True)
            )
            if {str(pk) for pk in rest} != set(seen_declined):
                raise DomainError(
                    AWARD_SEEN_DIFFERS,
                    kind=CONFLICT,
                    errors={"declined": [AWARD_SEEN_DIFFERS]},
                )
        # Co-authors who left the organization since are no longer on the proposal.
        ProposalCoauthor.objects.filter(offer_id__in=list(proposals)).exclude(
            member_id__in=members
        ).delete()
        now = timezone.now()
        accepted = [proposals[proposal_id] for proposal_id in cleaned]
        for proposal in accepted:
            percent = cleaned[str(proposal.pk)]
            changed = Offer.objects.filter(pk=proposal.pk, status=Offer.Status.SUBMITTED).update(
                status=Offer.Status.ACCEPTED, reward_percent=percent, decided_at=now, updated_at=now
            )
            if not changed:  # the row lock makes this unreachable; the guard stays
                raise DomainError("A proposal changed meanwhile; try again.", kind=CONFLICT)
        entries = [
            RewardEntry(
                intent=locked,
                offer=proposal,
                member_id=author_id,
                percent=percent,
                amount=amount,
                currency=locked.currency,
                is_points=locked.reward_is_points,
            )
            for proposal, author_id, amount, percent in _reward_ledger(
                locked, accepted, cleaned, members
            )
        ]
        RewardEntry.objects.bulk_create(entries)
        intent_mark_awarded(intent=locked)
        for proposal in accepted:
            proposal.refresh_from_db()
        emit_dispositions(accepted)
        decline_live_offers(intent=locked, reason=REASON_OTHER_PROPOSALS)
    return entries


def _proposals_to_award(
    intent: Intent, cleaned: dict[str, Decimal], *, lock: bool
) -> tuple[dict[str, Offer], set[Any]]:
    """The proposals a split names, by id, and which of their authors are still members.

    Refused unless each is a live proposal on ``intent`` whose proposer is still a
    member and whose co-authors still in the organization all confirmed. ``lock``
    (the award itself): the proposals' rows stay locked until it commits.
    """
    named = (
        Offer.objects.filter(intent=intent, member__isnull=False, pk__in=_valid_uuids(cleaned))
        .select_related("member")
        .prefetch_related("coauthors")  # the authors, read once for the checks and the ledger
        .order_by("created_at", "pk")
    )
    if lock:
        named = named.select_for_update(of=("self",))
    proposals = {str(proposal.pk): proposal for proposal in named}
    problems = []
    for proposal_id in cleaned:
        proposal = proposals.get(proposal_id)
        if proposal is None:
            problems.append(f"“{proposal_id}” is not a proposal on this RFP.")
        elif proposal.status != Offer.Status.SUBMITTED:
            problems.append(f"{with_article(proposal.status)} proposal cannot be accepted.")
    authors = {proposal.member_id for proposal in proposals.values()} | {
        row.member_id for proposal in proposals.values() for row in proposal.coauthors.all()
    }
    memberships = Membership.objects.filter(
        organization_id=intent.organization_id, user_id__in=authors
    )
    if lock:
        # The authors' memberships too: a removal committed meanwhile is seen here, and
        # one that comes after waits until the award is made.
        memberships = memberships.select_for_update(no_key=True).order_by("pk")
    members = set(memberships.values_list("user_id", flat=True))
    for proposal in proposals.values():
        if proposal.member_id not in members:
            problems.append(f"{proposal.member.get_username()} is no longer a member.")
    if problems:
        raise DomainError("The reward split is not valid.", errors={"shares": problems})
    waiting = (
        ProposalCoauthor.objects.filter(
            offer_id__in=list(proposals), confirmed_at__isnull=True, member_id__in=members
        )
        .select_related("member")
        .order_by("member__username")
    )
    if waiting:
        names = ", ".join(row.member.get_username() for row in waiting)
        raise DomainError(
            f"Co-authors have not confirmed yet: {names}.",
            kind=CONFLICT,
            errors={"shares": [f"Waiting for co-authors to confirm: {names}."]},
        )
    return proposals, members


def _canonical_id(value: Any) -> str:
    """A proposal id as the database writes it (a UUID in any letter case reads the same)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _valid_uuids(ids: Mapping[str, Any]) -> list[str]:
    valid = []
    for value in ids:
        try:
            valid.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return valid
