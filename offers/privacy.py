"""The offers' part of a buyer's data: export, erasure, and deletion per the buyer's terms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from intents.models import DELETE_AFTER_AWARD, Intent, IntentTerm, Notice
from intents.privacy import criteria_anonymize, redact_intent_events
from marketplace.idempotency import idempotency_responses_forget
from marketplace.models import AuditEntry, Event, User
from marketplace.privacy import admin_log_forget, audit
from offers.models import (
    Offer,
    OfferRevision,
    ProposalCoauthor,
    Question,
    Rating,
    RewardEntry,
    TermsAgreement,
)
from offers.proposal_dispositions import REASON_NO_DECISION
from offers.proposals import (
    REASON_OTHER_PROPOSALS,
    REASON_POSTER_LEFT,
    WITHDRAWN_AS_PROPOSER_ERASED,
    coauthors_tell_withdrawn,
)
from offers.services import (
    REASON_ANOTHER_ACCEPTED,
    REASON_INTENT_WITHDRAWN,
    REASON_OFFER_LAPSED,
    REASON_RFP_WITHDRAWN,
    intent_withdraw_and_decline_offers,
)

REASON_ACCOUNT_DELETED = "the buyer deleted their account"
DELETED = "[deleted]"
# Reasons Intentcast wrote; any other one is the buyer's (or poster's) own words.
STOCK_REASONS = {
    "",
    REASON_ACCOUNT_DELETED,
    REASON_ANOTHER_ACCEPTED,
    REASON_INTENT_WITHDRAWN,
    REASON_NO_DECISION,
    REASON_OFFER_LAPSED,
    REASON_OTHER_PROPOSALS,
    REASON_POSTER_LEFT,
    REASON_RFP_WITHDRAWN,
}


def offer_node(offer: Offer) -> dict[str, Any]:
    """An offer the buyer received, as a schema.org ``Offer``."""
    return {
        "@type": "Offer",
        "@id": f"urn:intentcast:offer:{offer.pk}",
        "price": None if offer.price is None else str(offer.price),  # a proposal has none
        "priceCurrency": offer.currency,
        "priceValidUntil": offer.valid_until.isoformat() if offer.valid_until else None,
        "availabilityStarts": offer.delivery_date.isoformat() if offer.delivery_date else None,
        "description": offer.message,
        "offeredBy": (
            {"@type": "Person", "name": offer.member.get_username()}
            if offer.member_id is not None
            else {"@type": "Organization", "name": offer.vendor.name}
        ),
        "status": offer.status,
        "dateCreated": offer.created_at.isoformat(),
        "ic:lineItems": offer.line_items,
        "ic:criteriaAnswers": offer.criteria_answers,
        "ic:declineReason": offer.decline_reason,
        "ic:revisionCount": offer.revision_count,
        # The buyer's own comparison: their rank and shortlist.
        "ic:buyerRank": offer.buyer_rank,
        "ic:shortlisted": offer.is_shortlisted,
    } | (_proposal_fields(offer) if offer.member_id is not None else {})


def _proposal_fields(proposal: Offer) -> dict[str, Any]:
    """What the RFP's poster saw of a proposal besides an offer's fields, and the share of
    the reward they gave it. Its co-authors are to be prefetched with their accounts."""
    return {
        "ic:approach": proposal.approach,
        "ic:estimate": proposal.estimate,
        "ic:rewardPercent": (
            None if proposal.reward_percent is None else str(proposal.reward_percent)
        ),
        "ic:authors": [proposal.member.get_username()]
        + [row.member.get_username() for row in proposal.coauthors.all()],
    }


def export_offers(user: User, document: dict[str, Any]) -> None:
    """Offers, questions and agreements attached to each ``Demand``; the buyer's reviews.

    And, for an organization member, their proposals and rewards.
    """
    _export_proposals(user, document)
    by_intent: dict[str, dict[str, Any]] = {
        demand["@id"].rsplit(":", 1)[1]: demand for demand in document.get("seeks", [])
    }
    for demand in by_intent.values():
        demand["offersReceived"] = []
        demand["questions"] = []
        demand["termsAgreements"] = []
    # Offers on a sealed intent stay hidden from the buyer until its deadline, here too.
    sealed = {
        str(intent.pk) for intent in Intent.objects.filter(buyer=user) if intent.offers_are_sealed
    }
    received = (
        Offer.objects.filter(intent__buyer=user)
        .select_related("vendor", "member")
        .prefetch_related(
            Prefetch("coauthors", queryset=ProposalCoauthor.objects.select_related("member"))
        )
    )
    for offer in received:
        if str(offer.intent_id) not in sealed:
            by_intent[str(offer.intent_id)]["offersReceived"].append(offer_node(offer))
    for question in Question.objects.filter(intent__buyer=user).order_by("created_at"):
        node: dict[str, Any] = {
            "@type": "Question",
            "text": question.text,
            "dateCreated": question.created_at.isoformat(),
        }
        if question.answered_at:
            node["acceptedAnswer"] = {
                "@type": "Answer",
                "text": question.answer,
                "dateCreated": question.answered_at.isoformat(),
            }
        by_intent[str(question.intent_id)]["questions"].append(node)
    for agreement in TermsAgreement.objects.filter(intent__buyer=user).select_related("vendor"):
        if str(agreement.intent_id) in sealed:
            continue
        by_intent[str(agreement.intent_id)]["termsAgreements"].append(
            {
                "@type": "AgreeAction",
                "agent": {"@type": "Organization", "name": agreement.vendor.name},
                "object": agreement.terms,
                "startTime": agreement.agreed_at.isoformat(),
            }
        )
    document["review"] = [
        {
            "@type": "Review",
            "itemReviewed": {"@type": "Organization", "name": rating.vendor.name},
            "reviewRating": {"@type": "Rating", "ratingValue": rating.stars, "bestRating": 5},
            "reviewBody": rating.text,
            "dateCreated": rating.created_at.isoformat(),
        }
        for rating in Rating.objects.filter(offer__intent__buyer=user).select_related("vendor")
    ]


def _export_proposals(user: User, document: dict[str, Any]) -> None:
    """The member's proposals on internal RFPs (made or co-authored), and their reward ledger."""
    document["proposals"] = [
        {
            "@type": "Offer",
            "@id": f"urn:intentcast:offer:{proposal.pk}",
            "ic:role": "proposer" if proposal.member_id == user.pk else "co-author",
            "itemOffered": {"@type": "Service", "name": proposal.intent.title},
            "description": proposal.message,
            "status": proposal.status,
            "ic:declineReason": proposal.decline_reason,
            "availabilityStarts": (
                proposal.delivery_date.isoformat() if proposal.delivery_date else None
            ),
            "ic:organization": proposal.intent.organization.name
            if proposal.intent.organization
            else None,
            "dateCreated": proposal.created_at.isoformat(),
        }
        | _proposal_fields(proposal)
        for proposal in Offer.objects.filter(Q(member=user) | Q(coauthors__member=user))
        .select_related("intent__organization", "member")
        .prefetch_related("coauthors__member")
        .distinct()
        .order_by("created_at")
    ]
    document["rewards"] = [
        {
            "@type": "MonetaryAmount",
            "value": str(entry.amount),
            "currency": "points" if entry.is_points else entry.currency,
            "ic:percent": str(entry.percent),
            "ic:for": entry.intent.title,
            "ic:proposal": f"urn:intentcast:offer:{entry.offer_id}",
            "dateCreated": entry.created_at.isoformat(),
        }
        for entry in RewardEntry.objects.filter(member=user).select_related("intent")
    ]


def erase_offers(user: User) -> None:
    """Before the intents are anonymized: call off live ones, drop the buyer's own words.

    A member's live proposals are withdrawn and their pending co-authorships
    dropped; decided proposals and the reward ledger stay with the
    organization, under the anonymized account.
    """
    # Every intent this erasure touches, locked first and in id order, as an award or a
    # decision locks its intent before its offers and memberships: they wait for each
    # other, and never deadlock.
    touched = Intent.objects.filter(
        Q(buyer=user) | Q(offers__member=user) | Q(offers__coauthors__member=user)
    ).values("pk")
    list(Intent.objects.select_for_update().filter(pk__in=touched).order_by("pk").values("pk"))
    now = timezone.now()
    live = list(
        Offer.objects.filter(member=user, status=Offer.Status.SUBMITTED).values_list(
            "pk", flat=True
        )
    )
    Offer.objects.filter(pk__in=live, status=Offer.Status.SUBMITTED).update(
        status=Offer.Status.WITHDRAWN, decided_at=now, updated_at=now
    )
    coauthors_tell_withdrawn(proposal_ids=live, why=WITHDRAWN_AS_PROPOSER_ERASED)
    # Their words go; the organization keeps the fact, the status and the reward.
    Offer.objects.filter(member=user).update(message=DELETED, approach="", estimate="")
    ProposalCoauthor.objects.filter(member=user, confirmed_at__isnull=True).delete()
    for intent in Intent.objects.filter(buyer=user, status__in=["open", "closed"]):
        # The vendors (in the offer and in what they are told of it) learn why.
        intent_withdraw_and_decline_offers(intent=intent, buyer=user, reason=REASON_ACCOUNT_DELETED)
    for intent in Intent.objects.filter(buyer=user):
        _answers_follow_keys(intent, criteria_anonymize(intent=intent))
    Rating.objects.filter(offer__intent__buyer=user).update(text="")
    _delete_buyer_words_for_vendors(Intent.objects.filter(buyer=user).values_list("pk", flat=True))
    # The admin log names each row it touched: an intent by its title, an offer by it too.
    admin_log_forget(Intent, Intent.objects.filter(buyer=user).values_list("pk", flat=True))
    admin_log_forget(
        Offer,
        Offer.objects.filter(Q(intent__buyer=user) | Q(member=user)).values_list("pk", flat=True),
    )


def _delete_buyer_words_for_vendors(intent_ids: Any) -> None:
    """What the buyer wrote to vendors on these intents — answers to their questions,
    reasons for declining — is deleted, in the rows and in the event feed; and what
    they gave the chosen vendor to reach them."""
    keys = [str(pk) for pk in intent_ids]
    Offer.objects.filter(intent__in=keys).exclude(decline_reason__in=STOCK_REASONS).update(
        decline_reason=DELETED
    )
    # Every vendor that answered or was told: one kept off the intent since has no notice.
    vendor_ids = {
        *Notice.objects.filter(intent__in=keys, vendor__isnull=False).values_list(
            "vendor", flat=True
        ),
        *Offer.objects.filter(intent__in=keys, vendor__isnull=False).values_list(
            "vendor", flat=True
        ),
    }
    idempotency_responses_forget(vendor_ids=vendor_ids, mentioning=keys)
    Question.objects.filter(intent__in=keys).exclude(answer="").update(answer=DELETED)
    for event in Event.objects.filter(type="question.answered", payload__question__intent__in=keys):
        event.payload = {
            **event.payload,
            "question": {**event.payload["question"], "answer": DELETED},
        }
        event.save(update_fields=["payload"])
    for event in Event.objects.filter(type="offer.accepted", payload__offer__intent__in=keys):
        event.payload = {**event.payload, "buyer_contact": ""}
        event.save(update_fields=["payload"])
    for event in Event.objects.filter(
        type="offer.declined", payload__offer__intent__in=keys
    ).exclude(payload__offer__decline_reason__in=list(STOCK_REASONS)):
        offer = {**event.payload["offer"], "decline_reason": DELETED}
        event.payload = {**event.payload, "offer": offer}
        event.save(update_fields=["payload"])


def _answers_follow_keys(intent: Intent, renamed: dict[str, str]) -> None:
    """The offers' answers, and their revisions' records of them, keyed by the criteria's
    new keys (the old were slugs of the buyer's words). An answer to a criterion the
    intent no longer has goes: its key is the buyer's words, and nothing shows it."""

    def rekeyed(answers: Any) -> Any:
        if not isinstance(answers, dict):
            return answers
        return {renamed[key]: answer for key, answer in answers.items() if key in renamed}

    offers = [offer for offer in intent.offers.all() if offer.criteria_answers]
    for offer in offers:
        offer.criteria_answers = rekeyed(offer.criteria_answers)
    Offer.objects.bulk_update(offers, ["criteria_answers"])
    revisions = list(
        OfferRevision.objects.filter(offer__intent=intent, changes__has_key="criteria_answers")
    )
    for revision in revisions:
        before, after = revision.changes["criteria_answers"]
        revision.changes = {
            **revision.changes,
            "criteria_answers": [rekeyed(before), rekeyed(after)],
        }
    OfferRevision.objects.bulk_update(revisions, ["changes"])


DELETION_TERMS_BATCH = 200


def intents_due_for_deletion_terms(*, now: Any = None) -> list[Intent]:
    """Awarded intents whose "delete my data N days after award" time has come, a batch
    at a time (the task takes batch after batch).

    Chosen by the database, one query per number of days the buyers chose (a few): not
    every awarded intent with the term, read and compared here each hour.
    """
    now = now or timezone.now()
    pending = IntentTerm.objects.filter(
        term__code=DELETE_AFTER_AWARD,
        intent__status=Intent.Status.AWARDED,
        intent__redacted_at__isnull=True,
    )
    due: list[Intent] = []
    for days in pending.order_by().values_list("days", flat=True).distinct():
        room = DELETION_TERMS_BATCH - len(due)
        if room <= 0:
            break
        due += [
            intent_term.intent
            for intent_term in pending.filter(
                days=days, intent__awarded_at__lte=now - timedelta(days=days or 0)
            ).select_related("intent")[:room]
        ]
    return due


def intent_redact_for_vendors(*, intent: Intent) -> bool:
    """Honour "delete my data": what vendors can see of the buyer on this intent is removed.

    Vendors keep the fact and the price of the deal: the intent's words, postal area and
    criteria, and the buyer's contact details, are no longer shown to them
    (``redacted_at``: ``intents.payloads``, the API's serializers), nor are the names of
    the criteria their answers were keyed by; the buyer's answers, decline reasons and
    identity reveals are deleted, and what the vendors were told (their feed, webhooks
    still to go) is rewritten. The buyer keeps their intent (its words, postal area and
    contact details too) and its offers.
    """
    with transaction.atomic():
        claimed = Intent.objects.filter(pk=intent.pk, redacted_at__isnull=True).update(
            redacted_at=timezone.now()
        )
        if not claimed:
            return False
        intent.reveals.all().delete()
        redact_intent_events([intent.pk])
        _delete_buyer_words_for_vendors([intent.pk])
        audit(
            user_id=intent.buyer_id,
            action=AuditEntry.Action.DATA_REDACTED,
            detail=f"Your data on “{intent.title}” was deleted from vendors' view, as your terms say.",
        )
    return True
