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
from django.utils import timezone

from intents.models import Intent
from intents.services import intent_lock_for_award, intent_mark_awarded, intent_withdraw
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from marketplace.models import User, Vendor
from offers.models import Offer

REASON_ANOTHER_ACCEPTED = "another offer was accepted"
REASON_INTENT_WITHDRAWN = "the buyer withdrew the intent"

REVISABLE_FIELDS = (
    "price",
    "delivery_date",
    "valid_until",
    "message",
    "line_items",
    "criteria_answers",
)


def _validate_terms(
    *, intent: Intent, price: Decimal, delivery_date: date | None, valid_until: date | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    if price is None or price < 0:
        errors["price"] = ["The price must be zero or more."]
    if delivery_date is not None and delivery_date < today:
        errors["delivery_date"] = ["The delivery date has passed."]
    if valid_until is not None and valid_until < today:
        errors["valid_until"] = ["An offer must be valid until today or later."]
    return errors


def _lock_open_intent(intent_id: Any) -> Intent:
    intent = Intent.objects.select_for_update().get(pk=intent_id)
    if intent.status != Intent.Status.OPEN:
        raise DomainError(f"This intent is {intent.status}; it takes no offers.", kind=CONFLICT)
    if intent.offers_close_at <= timezone.now():
        raise DomainError("The deadline for offers on this intent has passed.", kind=CONFLICT)
    return intent


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
) -> Offer:
    """Submit a vendor's offer on an intent it may see (the caller checked that).

    Refused with 409 when the intent no longer takes offers or the vendor
    already has a live offer on it; 400 when the currency is not the intent's.
    """
    errors = _validate_terms(
        intent=intent, price=price, delivery_date=delivery_date, valid_until=valid_until
    )
    if currency != intent.currency:
        errors["currency"] = [f"Offers on this intent are in {intent.currency}."]
    if errors:
        raise DomainError("The offer is not valid.", kind=INVALID, errors=errors)
    try:
        with transaction.atomic():
            locked_intent = _lock_open_intent(intent.pk)
            if Offer.objects.filter(
                intent=locked_intent, vendor=vendor, status__in=Offer.LIVE_STATUSES
            ).exists():
                raise DomainError(
                    "You already have a live offer on this intent; revise it instead.",
                    kind=CONFLICT,
                )
            return Offer.objects.create(
                intent=locked_intent,
                vendor=vendor,
                price=price,
                currency=currency,
                delivery_date=delivery_date,
                valid_until=valid_until,
                message=message,
                line_items=line_items or [],
                criteria_answers=criteria_answers or {},
            )
    except IntegrityError as error:
        # The partial unique index caught a concurrent submission.
        raise DomainError(
            "You already have a live offer on this intent; revise it instead.", kind=CONFLICT
        ) from error


def offer_revise(*, offer: Offer, vendor: Vendor, **changes: Any) -> Offer:
    """Change a submitted offer while its intent is open."""
    if offer.vendor_id != vendor.pk:
        raise DomainError("Only the vendor who made an offer can revise it.", kind=FORBIDDEN)
    unknown = set(changes) - set(REVISABLE_FIELDS)
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", kind=INVALID)
    with transaction.atomic():
        intent = _lock_open_intent(offer.intent_id)
        locked = Offer.objects.select_for_update().get(pk=offer.pk)
        if locked.status != Offer.Status.SUBMITTED:
            raise DomainError(f"A {locked.status} offer cannot be revised.", kind=CONFLICT)
        merged = {field: changes.get(field, getattr(locked, field)) for field in REVISABLE_FIELDS}
        errors = _validate_terms(
            intent=intent,
            price=merged["price"],
            delivery_date=merged["delivery_date"],
            valid_until=merged["valid_until"],
        )
        if errors:
            raise DomainError("The offer is not valid.", kind=INVALID, errors=errors)
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save()
    return locked


def offer_withdraw(*, offer: Offer, vendor: Vendor) -> Offer:
    """The vendor takes back a submitted offer."""
    if offer.vendor_id != vendor.pk:
        raise DomainError("Only the vendor who made an offer can withdraw it.", kind=FORBIDDEN)
    now = timezone.now()
    changed = Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED).update(
        status=Offer.Status.WITHDRAWN, decided_at=now, updated_at=now
    )
    offer.refresh_from_db()
    if not changed:
        raise DomainError(f"A {offer.status} offer cannot be withdrawn.", kind=CONFLICT)
    return offer


def _decline_live_offers(*, intent: Intent, reason: str, except_offer: Offer | None = None) -> int:
    now = timezone.now()
    live = Offer.objects.filter(intent=intent, status=Offer.Status.SUBMITTED)
    if except_offer is not None:
        live = live.exclude(pk=except_offer.pk)
    return live.update(
        status=Offer.Status.DECLINED, decline_reason=reason, decided_at=now, updated_at=now
    )


def offer_accept(*, offer: Offer, buyer: User) -> Offer:
    """The buyer accepts one offer: the intent is awarded, the other live offers declined.

    Race-safety: the intent row is locked first, so of two concurrent accepts
    the second waits, then finds the intent awarded and is refused (409). The
    partial unique index "one accepted offer per intent" is the backstop.
    """
    with transaction.atomic():
        intent = intent_lock_for_award(intent_id=offer.intent_id)
        if intent.buyer_id != buyer.pk:
            raise DomainError("Only the buyer can accept an offer on their intent.", kind=FORBIDDEN)
        now = timezone.now()
        accepted = Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED).update(
            status=Offer.Status.ACCEPTED, decided_at=now, updated_at=now
        )
        if not accepted:
            offer.refresh_from_db(fields=["status"])
            raise DomainError(f"A {offer.status} offer cannot be accepted.", kind=CONFLICT)
        intent_mark_awarded(intent=intent)
        _decline_live_offers(intent=intent, reason=REASON_ANOTHER_ACCEPTED, except_offer=offer)
    offer.refresh_from_db()
    return offer


def offer_decline(*, offer: Offer, buyer: User, reason: str = "") -> Offer:
    """The buyer turns one offer down, with an optional reason the vendor sees."""
    if offer.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can decline an offer on their intent.", kind=FORBIDDEN)
    now = timezone.now()
    changed = Offer.objects.filter(pk=offer.pk, status=Offer.Status.SUBMITTED).update(
        status=Offer.Status.DECLINED, decline_reason=reason[:300], decided_at=now, updated_at=now
    )
    offer.refresh_from_db()
    if not changed:
        raise DomainError(f"A {offer.status} offer cannot be declined.", kind=CONFLICT)
    return offer


def intent_withdraw_and_decline_offers(*, intent: Intent, buyer: User) -> Intent:
    """The buyer calls the intent off; every live offer is declined with the reason."""
    if intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can withdraw their intent.", kind=FORBIDDEN)
    with transaction.atomic():
        Intent.objects.select_for_update().get(pk=intent.pk)
        intent = intent_withdraw(intent=intent)
        _decline_live_offers(intent=intent, reason=REASON_INTENT_WITHDRAWN)
    return intent
