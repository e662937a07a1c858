"""The buyer rates the vendor after an award; the vendor's reputation follows."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count

from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from marketplace.models import User, Vendor
from marketplace.services import vendor_set_reputation
from offers.models import Offer, Rating

MAX_TEXT = 2000


def rating_create(*, buyer: User, offer: Offer, stars: int, text: str = "") -> Rating:
    """Rate the vendor of the accepted offer: once, 1 to 5 stars."""
    if offer.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can rate this vendor.", kind=FORBIDDEN)
    if offer.status != Offer.Status.ACCEPTED:
        raise DomainError("Only the vendor of the accepted offer can be rated.", kind=CONFLICT)
    if offer.vendor_id is None:  # a colleague's proposal on an internal RFP: no vendor
        raise DomainError("A colleague's proposal has no vendor to rate.", kind=CONFLICT)
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        raise DomainError("Give 1 to 5 stars.", kind=INVALID, errors={"stars": ["1 to 5."]})
    if len(text) > MAX_TEXT:
        raise DomainError("Too long.", kind=INVALID, errors={"text": [f"At most {MAX_TEXT}."]})
    try:
        with transaction.atomic():
            _lock_vendor(offer.vendor_id)
            rating = Rating.objects.create(
                offer=offer, vendor_id=offer.vendor_id, stars=stars, text=text.strip()
            )
            _refresh_reputation(offer.vendor_id)
    except IntegrityError as error:  # the one-rating-per-offer constraint
        raise DomainError(
            "You already rated this vendor for this intent.", kind=CONFLICT
        ) from error
    return rating


def rating_delete(*, rating: Rating) -> None:
    """An operator removes a rating (abusive, or not the buyer's own); the reputation follows."""
    with transaction.atomic():
        _lock_vendor(rating.vendor_id)
        Rating.objects.filter(pk=rating.pk).delete()
        _refresh_reputation(rating.vendor_id)


def _lock_vendor(vendor_id: object) -> None:
    # The vendor's row first: two ratings at once count in turn, not over each other.
    list(Vendor.objects.select_for_update(no_key=True).filter(pk=vendor_id).values_list("pk"))


def _refresh_reputation(vendor_id: object) -> None:
    summary = Rating.objects.filter(vendor_id=vendor_id).aggregate(
        count=Count("id"), mean=Avg("stars")
    )
    mean = summary["mean"]
    vendor_set_reputation(
        vendor_id=vendor_id,
        rating_count=summary["count"],
        # No rating left: unrated again (matching ranks the unrated last).
        rating_mean=None
        if mean is None
        else Decimal(mean).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
    )
