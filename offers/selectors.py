"""Reads for offers, and who may see which."""

from __future__ import annotations

from django.db.models import QuerySet

from marketplace.models import User, Vendor
from offers.models import Offer


def offers_of_vendor(vendor: Vendor) -> QuerySet[Offer]:
    """A vendor's own offers. No vendor ever reads another's offer."""
    return Offer.objects.filter(vendor=vendor).select_related("intent", "terms_agreement")


def offers_on_intent_for_buyer(*, intent_id: object, buyer: User) -> QuerySet[Offer]:
    """Every offer on the buyer's intent, with what the comparison table shows."""
    return (
        Offer.objects.filter(intent_id=intent_id, intent__buyer=buyer)
        .select_related("vendor", "rating", "terms_agreement")
        .prefetch_related("revisions")
        .order_by("created_at")
    )


def offer_of_buyer(*, buyer: User, offer_id: object) -> Offer:
    """An offer on one of the buyer's intents; ``Offer.DoesNotExist`` for anyone else."""
    return Offer.objects.select_related("intent", "vendor").get(pk=offer_id, intent__buyer=buyer)


def live_offer_count(*, intent_id: object) -> int:
    """Offers on the intent still waiting for the buyer's decision."""
    return Offer.objects.filter(intent_id=intent_id, status=Offer.Status.SUBMITTED).count()
