"""Reads for intents, and who may see which."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from intents.models import Intent
from marketplace.models import User, Vendor
from marketplace.selectors import category_ids_with_descendants

VENDOR_VISIBLE_STATUSES = (
    Intent.Status.OPEN,
    Intent.Status.CLOSED,
    Intent.Status.AWARDED,
    Intent.Status.WITHDRAWN,
    Intent.Status.EXPIRED,
)


def intents_visible_to_vendor(vendor: Vendor) -> QuerySet[Intent]:
    """The intents a vendor may read; anything else is a 404.

    Until matching lands this is every published, public, unhidden intent
    in a category the vendor serves (or below one in the tree).
    """
    category_ids = category_ids_with_descendants(vendor.categories.values_list("id", flat=True))
    return Intent.objects.filter(
        category_id__in=category_ids,
        status__in=VENDOR_VISIBLE_STATUSES,
        visibility=Intent.Visibility.PUBLIC,
        is_hidden=False,
    ).select_related("category")


def intents_of_buyer(buyer: User) -> QuerySet[Intent]:
    """A buyer's own intents, with the number of live offers each has."""
    return (
        Intent.objects.filter(buyer=buyer)
        .select_related("category")
        .annotate(
            offer_count=Count("offers", filter=Q(offers__status__in=("submitted", "accepted")))
        )
        .order_by("-created_at")
    )


def intent_of_buyer(*, buyer: User, intent_id: object) -> Intent:
    """One of the buyer's intents; raises ``Intent.DoesNotExist`` for anyone else's."""
    return Intent.objects.select_related("category").get(pk=intent_id, buyer=buyer)
