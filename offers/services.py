"""Writes for offers: submit, revise, withdraw, and the buyer's decisions.

Concurrency: every write that depends on the intent's state first locks the
intent row (``select_for_update``). Submitting and accepting therefore run one
after the other for a given intent, so an offer can never slip in beside an
award, and the partial unique indexes on Offer back both invariants should
anything bypass this module.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from intents.models import Criterion, Intent, Notice
from intents.services import (
    intent_close,
    intent_expire,
    intent_lock_for_award,
    intent_lock_open,
    intent_mark_awarded,
    intent_note_buyer_activity,
    intent_take_offer,
    intent_withdraw,
)
from marketplace import clock
from marketplace.codes import amount_problem
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, DomainError, with_article
from marketplace.events import NewEvent, emit_many
from marketplace.models import ApiKey, AuditEntry, User, Vendor, VendorBlock
from marketplace.privacy import audit
from marketplace.queue import enqueue_on_commit
from offers.models import Offer, OfferRevision, TermsAgreement

REASON_ANOTHER_ACCEPTED = "another offer was accepted"
REASON_INTENT_WITHDRAWN = "the buyer withdrew the intent"
REASON_RFP_WITHDRAWN = "the poster withdrew the RFP"

MAX_MESSAGE = 5000  # an offer's message, as the API takes it

REVISABLE_FIELDS = (
    "price",
    "delivery_date",
    "valid_until",
    "message",
    "line_items",
    "criteria_answers",
)


def _validate_terms(
    *,
    intent: Intent,
    price: Decimal,
    delivery_date: date | None,
    valid_until: date | None,
    message: str,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    today = clock.today()
    if price is None or price < 0:
        errors["price"] = ["The price must be zero or more."]
    errors |= _message_errors(message)
    if delivery_date is not None and delivery_date < today:
        errors["delivery_date"] = ["The delivery date has passed."]
    if valid_until is not None and valid_until < today:
        errors["valid_until"] = ["An offer must be valid until today or later."]
    return errors


def _message_errors(message: str) -> dict[str, list[str]]:
    """An offer's message keeps to MAX_MESSAGE, whoever writes it (vendor or moderator)."""
    return {"message": [f"At most {MAX_MESSAGE} characters."]} if len(message) > MAX_MESSAGE else {}


def _amount_errors(
    intent: Intent, *, price: Decimal | None, line_items: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Amounts given in a currency without a minor unit (JPY) must be whole: the price,
    and each line item's unit price. Only what is given is checked: a revision of the
    delivery date is not refused for an amount stored before the rule."""
    errors: dict[str, list[str]] = {}
    if price is not None and price >= 0 and (problem := amount_problem(price, intent.currency)):
        errors["price"] = [problem]
    for item in line_items:
        if problem := amount_problem(Decimal(item["unit_price"]), intent.currency):
            errors["line_items"] = [f"{item['description']}: {problem}"]
            break
    return errors


def validate_criteria_answers(*, intent: Intent, answers: dict[str, Any]) -> dict[str, list[str]]:
    """Answers to the intent's custom criteria, checked by kind; required ones must be there."""
    errors: dict[str, list[str]] = {}
    custom = {
        criterion["key"]: criterion
        for criterion in intent.criteria_for_vendors
        if Criterion.kind_is_custom(criterion["kind"])
    }
    for key in sorted(set(answers) - set(custom)):
        errors[f"criteria_answers.{key}"] = ["This intent has no such criterion."]
    for key, criterion in custom.items():
        value = answers.get(key)
        field = f"criteria_answers.{key}"
        if value is None:
            if criterion["required"]:
                errors[field] = [f"“{criterion['name']}” needs an answer."]
            continue
        problem = Criterion.answer_problem(criterion["kind"], value)
        if problem:
            errors[field] = [problem]
    return errors


def offer_submit(
    *,
    vendor: Vendor,
    intent: Intent,
    price: Decimal,
    currency: str,
    delivery_date: date | None = None,
    valid_until: date | None = None,
    message: str = "",
    line_items: list[dict[str, Any]] | None = None,
    criteria_answers: dict[str, Any] | None = None,
    accept_terms: bool = False,
) -> Offer:
    """Submit a vendor's offer on an intent it may see (the caller checked that).

    Refused with 409 when the intent no longer takes offers or the vendor
    already has a live offer on it; 400 when the currency is not the intent's
    or the buyer set terms and the vendor did not accept them.
    """
    errors = _validate_terms(
        intent=intent,
        price=price,
        delivery_date=delivery_date,
        valid_until=valid_until,
        message=message,
    )
    errors |= _amount_errors(intent, price=price, line_items=line_items or [])
    if currency != intent.currency:
        errors["currency"] = [f"Offers on this intent are in {intent.currency}."]
    errors |= validate_criteria_answers(intent=intent, answers=criteria_answers or {})
    terms = _terms_of(intent)
    if terms and accept_terms is not True:
        errors["accept_terms"] = ["Accept the buyer's terms (accept_terms: true) to make an offer."]
    if errors:
        raise DomainError("The offer is not valid.", kind=INVALID, errors=errors)
    try:
        with transaction.atomic():
            intent_take_offer(intent=intent)
            # Asked again once the intent is locked: a buyer who blocked the vendor
            # (or stopped inviting it) while the offer was on its way is not reached.
            if not Notice.objects.filter(intent=intent, vendor=vendor).exists():
                raise DomainError("No intent with this id is open to you.", kind=NOT_FOUND)
            # No "already has a live offer?" query first: the partial unique index
            # refuses the duplicate (IntegrityError below, 409), one round trip less.
            offer = Offer.objects.create(
                intent=intent,
                vendor=vendor,
                price=price,
                currency=currency,
                delivery_date=delivery_date,
                valid_until=valid_until,
                message=message,
                line_items=line_items or [],
                criteria_answers=criteria_answers or {},
            )
            if terms:
                _record_agreement(offer=offer, terms=terms)
            else:
                # Known to have no agreement: whoever shows the offer next (the API's
                # serializer) need not ask the database.
                Offer.terms_agreement.related.set_cached_value(offer, None)
            return offer
    except IntegrityError as error:
        # The partial unique index caught a concurrent submission.
        raise DomainError(
            "You already have a live offer on this intent; revise it instead.", kind=CONFLICT
        ) from error


def _terms_of(intent: Intent) -> list[dict[str, Any]]:
    """The intent's terms as recorded in an agreement: as the vendor read them."""
    return list(intent.terms_for_vendors)


def _record_agreement(*, offer: Offer, terms: list[dict[str, Any]]) -> TermsAgreement:
    """Both sides keep the record: which terms, which version, which vendor, when."""
    agreement = TermsAgreement.objects.create(
        offer=offer, intent_id=offer.intent_id, vendor_id=offer.vendor_id, terms=terms
    )
    codes = ", ".join(f"{term['code']} v{term['version']}" for term in terms)
    # Sealed, the offers (and so who made them) stay unseen until the deadline.
    who = "A vendor" if offer.intent.offers_are_sealed else offer.vendor.name
    audit(
        user_id=offer.intent.buyer_id,
        action=AuditEntry.Action.TERMS_AGREED,
        detail=f"{who} agreed to your terms ({codes}) on “{offer.intent.title}”.",
    )
    return agreement


def offer_moderate_message(*, offer: Offer, message: str, moderator: User | None = None) -> Offer:
    """A moderator corrects an offer's message, under the rule a vendor's message keeps.

    Only the message is written: a decision or revision meanwhile is kept. The correction
    is a revision like a vendor's (kept, counted): a buyer about to accept what they read
    before it is asked to look again.
    """
    if errors := _message_errors(message):
        raise DomainError("The message is too long.", errors=errors)
    with transaction.atomic():
        locked = Offer.objects.select_for_update().get(pk=offer.pk)
        if locked.message != message:
            OfferRevision.objects.create(
                offer=locked, changes={"message": [locked.message, message]}, moderator=moderator
            )
            Offer.objects.filter(pk=offer.pk).update(
                message=message, revision_count=F("revision_count") + 1, updated_at=timezone.now()
            )
    offer.refresh_from_db()
    return offer


def offer_revise(
    *, offer: Offer, vendor: Vendor, api_key: ApiKey | None = None, **changes: Any
) -> Offer:
    """Change a submitted offer while its intent is open; ``api_key``, the key that asked."""
    if offer.vendor_id != vendor.pk:
        raise DomainError("Only the vendor who made an offer can revise it.", kind=FORBIDDEN)
    unknown = set(changes) - set(REVISABLE_FIELDS)
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", kind=INVALID)
    with transaction.atomic():
        intent = intent_lock_open(intent_id=offer.intent_id)
        if intent.is_hidden or not Notice.objects.filter(intent=intent, vendor=vendor).exists():
            # A moderator hid the intent, or the buyer blocked the vendor or no longer
            # invites it, since the offer.
            raise DomainError("This intent is no longer open to you.", kind=FORBIDDEN)
        locked = Offer.objects.select_for_update().get(pk=offer.pk)
        locked.intent = intent  # already read: whoever shows the offer need not read it again
        if locked.status != Offer.Status.SUBMITTED:
            raise DomainError(
                f"{with_article(locked.status)} offer cannot be revised.", kind=CONFLICT
            )
        merged = {field: changes.get(field, getattr(locked, field)) for field in REVISABLE_FIELDS}
        errors = _validate_terms(
            intent=intent,
            price=merged["price"],
            delivery_date=merged["delivery_date"],
            valid_until=merged["valid_until"],
            message=merged["message"],
        )
        # Amounts the revision changes: one stored before the rule, sent back as it was,
        # is not refused.
        errors |= _amount_errors(
            intent,
            price=changes["price"]
            if "price" in changes and changes["price"] != locked.price
            else None,
            line_items=changes["line_items"]
            if "line_items" in changes and changes["line_items"] != locked.line_items
            else [],
        )
        errors |= validate_criteria_answers(intent=intent, answers=merged["criteria_answers"])
        if errors:
            raise DomainError("The offer is not valid.", kind=INVALID, errors=errors)
        changed = revision_changes(locked, changes)
        if not changed:
            return locked
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.revision_count += 1
        locked.save()
        # Every revision is kept, so the buyer sees what moved.
        OfferRevision.objects.create(offer=locked, changes=changed, api_key=api_key)
        intent_note_buyer_activity(intent_id=intent.pk)
    return locked


def revision_changes(offer: Offer, wanted: dict[str, Any]) -> dict[str, list[Any]]:
    """What a revision changes, as kept in ``OfferRevision.changes``: each field that
    differs, [as it was, as it is now], written out as text where JSON needs it."""
    return {
        field: [revision_text(getattr(offer, field)), revision_text(value)]
        for field, value in wanted.items()
        if getattr(offer, field) != value
    }


def revision_text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def offer_withdraw(*, offer: Offer, vendor: Vendor) -> Offer:
    """The vendor takes back a submitted offer."""
    if offer.vendor_id != vendor.pk:
        raise DomainError("Only the vendor who made an offer can withdraw it.", kind=FORBIDDEN)
    now = timezone.now()
    changed = Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED).update(
        status=Offer.Status.WITHDRAWN, decided_at=now, updated_at=now
    )
    # The columns that may have changed: the intent read with the offer stays.
    offer.refresh_from_db(fields=["status", "decided_at", "updated_at"])
    if not changed:
        raise DomainError(f"{with_article(offer.status)} offer cannot be withdrawn.", kind=CONFLICT)
    return offer


def offer_event_payload(offer: Offer) -> dict[str, Any]:
    """What a vendor is told about its own offer's disposition."""
    return {
        "offer": {
            "id": str(offer.pk),
            "intent": str(offer.intent_id),
            "status": offer.status,
            "price": f"{offer.price:.2f}",
            "currency": offer.currency,
            "decline_reason": offer.decline_reason,
            "decided_at": offer.decided_at.isoformat() if offer.decided_at else None,
        }
    }


def emit_dispositions(offers: list[Offer], *, buyer_contact: str | None = None) -> None:
    """``offer.accepted`` / ``offer.declined`` to each offer's vendor (no black hole).

    The accepted vendor also learns the buyer's chosen contact details. A
    member's proposal has no vendor: its authors are e-mailed after commit
    (and read the decision on the organization's page).
    """
    proposal_ids = [str(offer.pk) for offer in offers if offer.member_id is not None]
    if proposal_ids:
        enqueue_on_commit("offers.send_proposal_dispositions", proposal_ids)
    offers = [offer for offer in offers if offer.vendor_id is not None]
    emit_many(
        NewEvent(
            vendor_id=offer.vendor_id,
            type=f"offer.{offer.status}",
            payload=offer_event_payload(offer)
            | ({"buyer_contact": buyer_contact} if offer.status == Offer.Status.ACCEPTED else {}),
            dedupe_key=f"offer.{offer.status}:{offer.pk}",
        )
        for offer in offers
    )


def decline_live_offers(*, intent: Intent, reason: str, except_offer: Offer | None = None) -> int:
    now = timezone.now()
    live = Offer.objects.select_for_update().filter(intent=intent, status=Offer.Status.SUBMITTED)
    if except_offer is not None:
        live = live.exclude(pk=except_offer.pk)
    declined = list(live)
    for offer in declined:
        offer.status = Offer.Status.DECLINED
        offer.decline_reason = reason
        offer.decided_at = now
        offer.updated_at = now
    Offer.objects.bulk_update(declined, ["status", "decline_reason", "decided_at", "updated_at"])
    emit_dispositions(declined)
    return len(declined)


MAX_CONTACT_DETAILS = 2000


def offer_accept(
    *,
    offer: Offer,
    buyer: User,
    contact_details: str | None = None,
    seen_revision: int | None = None,
) -> Offer:
    """The buyer accepts one offer: the intent is awarded, the other live offers declined.

    ``contact_details``, when given (the confirmation asks), is how the chosen vendor may
    reach the buyer: it replaces the intent's, and may not be empty. Not given, the
    intent's stay as the buyer set them. ``seen_revision``, when given, is the offer's
    ``revision_count`` the buyer read: revised since, it is not accepted (409).

    Race-safety: the intent row is locked first, so of two concurrent accepts
    the second waits, then finds the intent awarded and is refused (409). The
    partial unique index "one accepted offer per intent" is the backstop.
    """
    if offer.member_id is not None:
        raise DomainError(
            "Proposals on an internal RFP are accepted with a reward split.", kind=CONFLICT
        )
    if contact_details is not None:
        contact_details = contact_details.strip()
        if not contact_details:
            problem = "Say how the vendor can reach you: they will need it."
        elif len(contact_details) > MAX_CONTACT_DETAILS or "\x00" in contact_details:
            problem = f"At most {MAX_CONTACT_DETAILS} characters of text."
        else:
            problem = ""
        if problem:
            raise DomainError(
                "The contact details are not valid.", errors={"contact_details": [problem]}
            )
    with transaction.atomic():
        intent = intent_lock_for_award(intent_id=offer.intent_id)
        if intent.buyer_id != buyer.pk:
            raise DomainError("Only the buyer can accept an offer on their intent.", kind=FORBIDDEN)
        _refuse_while_sealed(intent)
        # The winner must be able to read what it won: a vendor the buyer blocked, or no
        # longer invites, lost the intent with its notice. A block or an invitation's end
        # locks the intent first, so it and this accept come one after the other.
        # And a vendor the buyer blocked is not given their contact, on a closed intent too.
        if VendorBlock.objects.filter(buyer_id=buyer.pk, vendor_id=offer.vendor_id).exists():
            raise DomainError(
                "You blocked this vendor: unblock it on “My data” to accept its offer.",
                kind=CONFLICT,
            )
        if not Notice.objects.filter(intent=intent, vendor_id=offer.vendor_id).exists():
            if intent.blocked_vendors.filter(pk=offer.vendor_id).exists():
                raise DomainError(
                    "You keep this vendor off this intent, so its offer cannot be accepted.",
                    kind=CONFLICT,
                )
            raise DomainError(
                "This vendor is no longer matched to this intent (it cannot read it),"
                " so its offer cannot be accepted.",
                kind=CONFLICT,
            )
        now = timezone.now()
        # Past its valid-until date the vendor is no longer bound, whether or not the
        # beat has lapsed it yet.
        accepted = (
            Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED)
            .filter(**({} if seen_revision is None else {"revision_count": seen_revision}))
            .exclude(valid_until__lt=clock.today())
            .update(status=Offer.Status.ACCEPTED, decided_at=now, updated_at=now)
        )
        if not accepted:
            offer.refresh_from_db(fields=["status", "valid_until", "revision_count"])
            if offer.status != Offer.Status.SUBMITTED:
                raise DomainError(
                    f"{with_article(offer.status)} offer cannot be accepted.", kind=CONFLICT
                )
            if offer.has_lapsed:
                raise DomainError(offer.lapsed_text, kind=CONFLICT)
            raise DomainError(
                "The vendor revised this offer since you read it: read it again first.",
                kind=CONFLICT,
            )
        if contact_details is not None and contact_details != intent.contact_details:
            Intent.objects.filter(pk=intent.pk).update(contact_details=contact_details)
            intent.contact_details = contact_details
        intent_mark_awarded(intent=intent)
        offer.refresh_from_db()
        emit_dispositions([offer], buyer_contact=intent.contact_details)
        decline_live_offers(intent=intent, reason=REASON_ANOTHER_ACCEPTED, except_offer=offer)
    return offer


def offer_decline(*, offer: Offer, buyer: User, reason: str = "") -> Offer:
    """The buyer turns one offer down, with an optional reason the vendor sees."""
    if offer.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can decline an offer on their intent.", kind=FORBIDDEN)
    _refuse_while_sealed(offer.intent)
    return offer_set_declined(offer=offer, reason=reason)


def _refuse_while_sealed(intent: Intent) -> None:
    if intent.offers_are_sealed:
        raise DomainError(
            "The offers are sealed until the deadline: decide on them after it.", kind=CONFLICT
        )


def offer_set_declined(*, offer: Offer, reason: str, noun: str = "offer") -> Offer:
    """Guarded submitted → declined with the reason; its author is told (no black hole).

    The caller has checked who may decline; shared by offers and proposals.
    """
    now = timezone.now()
    with transaction.atomic():
        changed = Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED).update(
            status=Offer.Status.DECLINED,
            decline_reason=reason[:300],
            decided_at=now,
            updated_at=now,
        )
        offer.refresh_from_db()
        if not changed:
            raise DomainError(
                f"{with_article(offer.status)} {noun} cannot be declined.", kind=CONFLICT
            )
        emit_dispositions([offer])
    return offer


def intent_withdraw_and_decline_offers(
    *, intent: Intent, buyer: User, reason: str | None = None
) -> Intent:
    """The buyer calls the intent off; every live offer is declined with the reason
    (``reason``, or that the intent was withdrawn)."""
    if intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can withdraw their intent.", kind=FORBIDDEN)
    with transaction.atomic():
        Intent.objects.select_for_update().get(pk=intent.pk)
        intent = intent_withdraw(intent=intent)
        decline_live_offers(
            intent=intent,
            reason=reason
            or (REASON_RFP_WITHDRAWN if intent.is_internal else REASON_INTENT_WITHDRAWN),
        )
    return intent


REASON_OFFER_LAPSED = "the offer passed its valid-until date"


def intents_close_due(*, now: Any = None, limit: int = 500) -> dict[str, int]:
    """Intents past their deadline: closed if they have offers, expired if not."""
    now = now or timezone.now()
    closed = expired = 0
    due = Intent.objects.filter(status=Intent.Status.OPEN, offers_close_at__lte=now)
    for intent in due.order_by("offers_close_at")[:limit]:
        try:
            with transaction.atomic():
                locked = Intent.objects.select_for_update().get(pk=intent.pk)
                if locked.status != Intent.Status.OPEN or locked.offers_close_at > now:
                    continue  # moved meanwhile: decided, or its deadline extended
                # Offers past their valid-until date bind nobody, lapsed by the beat or not.
                if (
                    Offer.objects.filter(intent=locked, status=Offer.Status.SUBMITTED)
                    .exclude(valid_until__lt=clock.today())
                    .exists()
                ):
                    intent_close(intent=locked)
                    closed += 1
                else:
                    intent_expire(intent=locked)
                    expired += 1
        except DomainError:
            continue  # someone else moved it first
    return {"closed": closed, "expired": expired}


LAPSE_BATCH = 1000


def offers_lapse_due(*, today: date | None = None) -> int:
    """Submitted offers past their valid-until date lapse, the longest past first, up to
    ``LAPSE_BATCH``; their vendors are told. Returns how many lapsed."""
    today = today or clock.today()
    now = timezone.now()
    with transaction.atomic():
        due = list(
            Offer.objects.select_for_update(skip_locked=True)
            .filter(status=Offer.Status.SUBMITTED, valid_until__lt=today)
            .order_by("valid_until", "pk")[:LAPSE_BATCH]
        )
        for offer in due:
            offer.status = Offer.Status.LAPSED
            # Told as a decline (offer.declined), with its reason where a decline has it.
            offer.decline_reason = REASON_OFFER_LAPSED
            offer.decided_at = now
            offer.updated_at = now
        Offer.objects.bulk_update(due, ["status", "decline_reason", "decided_at", "updated_at"])
        emit_many(
            NewEvent(
                vendor_id=offer.vendor_id,
                type="offer.declined",
                payload=offer_event_payload(offer) | {"reason": REASON_OFFER_LAPSED},
                dedupe_key=f"offer.lapsed:{offer.pk}",
            )
            for offer in due
        )
    return len(due)
