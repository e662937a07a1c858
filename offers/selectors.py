"""Reads for offers, and who may see which."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from intents.models import Intent
from marketplace.models import Organization, User, Vendor, VendorBlock
from offers.models import Offer, RewardEntry


def offers_of_vendor(vendor: Vendor) -> QuerySet[Offer]:
    """A vendor's own offers. No vendor ever reads another's offer."""
    return Offer.objects.filter(vendor=vendor).select_related("intent", "terms_agreement")


def offers_on_intent_for_buyer(*, intent_id: object, buyer: User) -> QuerySet[Offer]:
    """Every offer on the buyer's intent, with what the comparison table shows
    (``vendor_blocked``: the buyer blocked its vendor since)."""
    return (
        Offer.objects.filter(intent_id=intent_id, intent__buyer=buyer)
        .annotate(
            vendor_blocked=Exists(
                VendorBlock.objects.filter(buyer=buyer, vendor_id=OuterRef("vendor_id"))
            )
        )
        .select_related("vendor", "rating", "terms_agreement")
        .prefetch_related("revisions")
        .order_by("created_at")
    )


def offer_of_buyer(*, buyer: User, offer_id: object) -> Offer:
    """A vendor's offer on one of the buyer's intents; ``Offer.DoesNotExist`` for anyone else.

    A member's proposal on an internal RFP is not one: the poster decides on it
    in the organization's pages, under their rules.
    """
    return Offer.objects.select_related("intent", "vendor").get(
        pk=offer_id, intent__buyer=buyer, vendor__isnull=False
    )


def live_offer_count(*, intent_id: object) -> int:
    """Offers on the intent still waiting for the buyer's decision."""
    return Offer.objects.filter(intent_id=intent_id, status=Offer.Status.SUBMITTED).count()


# --- Proposals on internal RFPs, and the organization dashboard ---------------------


def proposals_on_intent(*, intent: Intent) -> QuerySet[Offer]:
    """Every proposal on an internal intent, with its authors (for the poster's page)."""
    return (
        Offer.objects.filter(intent=intent, member__isnull=False)
        .select_related("member")
        .prefetch_related("coauthors__member")
        .order_by("created_at")
    )


def proposals_of_member_on_intent(
    *, intent: Intent, member: User
) -> tuple[Offer | None, list[Offer]]:
    """The member's latest own proposal on the intent, and those naming them co-author.

    Apart: being named on a colleague's proposal neither hides nor replaces one's own.
    """
    proposals = list(
        Offer.objects.filter(Q(member=member) | Q(coauthors__member=member), intent=intent)
        .select_related("member")
        .prefetch_related("coauthors__member")
        .distinct()
        .order_by("-created_at")
    )
    own = next((proposal for proposal in proposals if proposal.member_id == member.pk), None)
    return own, [proposal for proposal in proposals if proposal.member_id != member.pk]


def proposals_of_member(*, member: User, organization: Organization) -> QuerySet[Offer]:
    """The member's proposals (made or co-authored) in an organization, with their dispositions.

    Not on an RFP a moderator hid: gone for members, here as on every page.
    """
    return (
        Offer.objects.filter(
            Q(member=member) | Q(coauthors__member=member),
            intent__organization=organization,
            intent__is_hidden=False,
        )
        .select_related("intent", "member")
        .distinct()
        .order_by("-created_at")
    )


def organization_dashboard(*, organization: Organization) -> dict[str, Any]:
    """Open internal RFPs with proposal counts, and reward totals per member.

    Three queries whatever the number of RFPs, proposals or members.
    """
    rfps = list(
        # A moderator's hidden RFP is gone for members, here as on every page.
        Intent.objects.filter(organization=organization, is_hidden=False)
        .exclude(status=Intent.Status.DRAFT)
        .filter(status__in=Intent.UNDECIDED_STATUSES)
        .select_related("buyer")
        .annotate(
            proposals_total=Count("offers", filter=Q(offers__member__isnull=False)),
            proposals_waiting=Count("offers", filter=Q(offers__status=Offer.Status.SUBMITTED)),
            proposals_accepted=Count("offers", filter=Q(offers__status=Offer.Status.ACCEPTED)),
        )
        # A closed one with no proposal left to decide on awaits nothing.
        .filter(Q(status=Intent.Status.OPEN) | Q(proposals_waiting__gt=0))
        .order_by("offers_close_at")
    )
    rewards = list(
        RewardEntry.objects.filter(intent__organization=organization)
        .values("member_id", "member__username", "currency", "is_points")
        .annotate(total=Sum("amount"), entries=Count("id"))
        .order_by("member__username", "is_points", "currency")
    )
    awarded_count = Intent.objects.filter(
        organization=organization, status=Intent.Status.AWARDED, is_hidden=False
    ).count()
    return {"rfps": rfps, "rewards": rewards, "awarded_count": awarded_count}
