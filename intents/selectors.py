"""Reads for intents, and who may see which."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import RawSQL

from intents.models import Intent, Notice
from marketplace.models import Membership, Organization, User, Vendor
from marketplace.search import lexemes

VENDOR_VISIBLE_STATUSES = (
    Intent.Status.OPEN,
    Intent.Status.CLOSED,
    Intent.Status.AWARDED,
    Intent.Status.WITHDRAWN,
    Intent.Status.EXPIRED,
)


def intents_visible_to_vendor(vendor: Vendor) -> QuerySet[Intent]:
    """The intents a vendor may read: those it was noticed about. Anything else is a 404.

    An organization's internal intent is never a vendor's, whatever notice exists.
    """
    return Intent.objects.filter(
        notices__vendor=vendor,
        status__in=VENDOR_VISIBLE_STATUSES,
        is_hidden=False,
        organization__isnull=True,
    ).exclude(visibility=Intent.Visibility.INTERNAL)


def shown_budget_max() -> Case:
    """``budget_max`` as vendors see it: none when the buyer hid the budget."""
    return Case(
        When(is_budget_hidden=True, then=Value(None)),
        default=F("budget_max"),
        output_field=DecimalField(),
    )


def intents_listed_for_vendor(vendor: Vendor) -> QuerySet[Intent]:
    """The vendor's default list: ``intents_visible_to_vendor`` that are open, soonest deadline
    first, read in that order from the vendor's notices (``Notice.listed`` and ``closes_at``,
    kept by the intent's services; one partial index serves both the order and the count).
    """
    return Intent.objects.filter(notices__vendor=vendor, notices__listed=True).order_by(
        "notices__closes_at", "id"
    )


def listed_intents_count(vendor: Vendor) -> int:
    """How many intents the vendor's default list has: ``intents_visible_to_vendor``, open.

    Counted on the vendor's notices alone (``Notice.listed``, kept by the intent's
    status services, with a partial index), not by joining every intent.
    """
    return Notice.objects.filter(vendor=vendor, listed=True).count()


def notices_of_vendor(vendor: Vendor) -> QuerySet[Notice]:
    """The vendor's inbox, newest first, for intents it may still see."""
    return (
        Notice.objects.filter(
            vendor=vendor, intent__is_hidden=False, intent__organization__isnull=True
        )
        .select_related("intent", "intent__category")
        .order_by("-created_at")
    )


def intents_of_buyer(buyer: User) -> QuerySet[Intent]:
    """A buyer's own intents, with the number of live offers each has, and whether the
    buyer left the organization an internal RFP was posted in (its page is the members')."""
    return (
        Intent.objects.filter(buyer=buyer)
        .select_related("category")
        .annotate(
            offer_count=Count("offers", filter=Q(offers__status__in=("submitted", "accepted"))),
            poster_left=Q(organization__isnull=False)
            & ~Exists(
                Membership.objects.filter(organization_id=OuterRef("organization_id"), user=buyer)
            ),
        )
        .order_by("-created_at")
    )


def intent_of_buyer(*, buyer: User, intent_id: object) -> Intent:
    """One of the buyer's intents; raises ``Intent.DoesNotExist`` for anyone else's."""
    # Its terms are read from the intent's own copy (``terms_for_vendors``).
    return (
        Intent.objects.select_related("category")
        .prefetch_related("criteria", "reveals")
        .get(pk=intent_id, buyer=buyer)
    )


# Must stay identical to the index in migration 0004 for PostgreSQL to use it.
INTENT_DOCUMENT_SQL = (
    "to_tsvector('english'::regconfig, intents_intent.title || ' ' || intents_intent.description)"
)


def intents_matching_text(queryset: QuerySet[Intent], text: str) -> QuerySet[Intent]:
    """Full-text search on PostgreSQL (GIN index); every word as a substring on SQLite.

    An intent whose words vendors may no longer read (the buyer's "delete my data after
    award" came due) is never found by them: finding it would tell the words.
    """
    text = text.strip()[:200]
    if not text:
        return queryset
    queryset = queryset.filter(redacted_at__isnull=True)
    if connection.vendor == "postgresql":
        return queryset.alias(
            document=RawSQL(INTENT_DOCUMENT_SQL, [], output_field=SearchVectorField())
        ).filter(document=SearchQuery(text, config="english", search_type="websearch"))
    for word in text.split()[:10]:
        queryset = queryset.filter(Q(title__icontains=word) | Q(description__icontains=word))
    return queryset


def intent_ids_mentioning_any(
    queryset: QuerySet[Intent], words: list[str], *, limit: int
) -> list[Any]:
    """The first ``limit`` intents (in the queryset's order) whose title or description has
    one of these lexemes: matching's keyword rule (``intents.matching``), for choosing
    which intents to match a vendor or member against.

    PostgreSQL asks its full-text index; SQLite reads the texts.
    """
    words = [word for word in words if word]
    if not words:
        return []
    if connection.vendor == "postgresql":
        # The lexemes as they are (a tsquery cast parses no words): quotes and
        # backslashes doubled, as PostgreSQL reads a quoted lexeme.
        query = " | ".join(
            "'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words
        )
        mentioning = RawSQL(
            f"{INTENT_DOCUMENT_SQL} @@ %s::tsquery", [query], output_field=BooleanField()
        )
        return list(queryset.filter(mentioning).values_list("pk", flat=True)[:limit])
    wanted = set(words)
    found = []
    for pk, title, description in queryset.values_list("pk", "title", "description").iterator():
        if wanted & set(lexemes(f"{title}\n{description}")):
            found.append(pk)
            if len(found) == limit:
                break
    return found


def organizations_of_member(user: User) -> QuerySet[Organization]:
    """The organizations a person belongs to."""
    return Organization.objects.filter(memberships__user=user).order_by("name")


def internal_intents_visible_to_member(
    *, user: User, organization: Organization
) -> QuerySet[Intent]:
    """An organization's published internal intents, for one of its members only.

    A non-member gets an empty queryset, so every page built on it is a 404
    or empty for outsiders.
    """
    return (
        Intent.objects.filter(
            organization=organization,
            organization__memberships__user=user,
            visibility=Intent.Visibility.INTERNAL,
            is_hidden=False,
        )
        .exclude(status=Intent.Status.DRAFT)
        .select_related("category", "buyer", "organization")
    )


def internal_notices_of_member(*, user: User, organization: Organization) -> QuerySet[Notice]:
    """The member's "RFPs for you" in one organization, newest first, while they are a member."""
    return (
        Notice.objects.filter(
            member=user,
            intent__organization=organization,
            intent__status=Intent.Status.OPEN,
            intent__is_hidden=False,
        )
        .filter(
            intent__organization__in=Membership.objects.filter(user=user).values("organization")
        )
        .select_related("intent")
        .order_by("-created_at")
    )


def open_intents_told_to(*, vendor: Vendor, buyer: User) -> int:
    """How many of the buyer's open intents the vendor was told of: those a block takes
    from it at once (and, vanishing together, tells it were one buyer's)."""
    return Notice.objects.filter(
        vendor=vendor,
        intent__buyer=buyer,
        intent__status=Intent.Status.OPEN,
        intent__is_hidden=False,
    ).count()
