"""The intents' part of a buyer's export and erasure (registered in IntentsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from intents.models import Criterion, Intent, Notice
from intents.services import intent_copy_details
from marketplace.models import Event, User

DELETED_BUYER = "deleted buyer"


def demand_node(intent: Intent) -> dict[str, Any]:
    """An intent as a schema.org ``Demand``."""
    region: dict[str, Any] | None = None
    if intent.country:
        region = {"@type": "Country", "name": intent.country}
        if intent.postal_area:
            region["postalCode"] = intent.postal_area
    return {
        "@type": "Demand",
        "@id": f"urn:intentcast:intent:{intent.pk}",
        "name": intent.title,
        "description": intent.description,
        "itemOffered": {"@type": "Service", "name": intent.title, "category": intent.category.name},
        "priceSpecification": {
            "@type": "PriceSpecification",
            "minPrice": None if intent.budget_min is None else str(intent.budget_min),
            "maxPrice": None if intent.budget_max is None else str(intent.budget_max),
            "priceCurrency": intent.currency,
        },
        "eligibleQuantity": {
            "@type": "QuantitativeValue",
            "value": str(intent.quantity),
            "unitText": intent.unit,
        },
        "eligibleRegion": region or {"@type": "Place", "name": "remote"},
        "availabilityEnds": intent.needed_by.isoformat() if intent.needed_by else None,
        "validThrough": intent.offers_close_at.isoformat(),
        "dateCreated": intent.created_at.isoformat(),
        "status": intent.status,
        # When it moved from one status to the next (none for a step it never took).
        "ic:statusChanges": {
            status: moment.isoformat()
            for status, moment in (
                ("open", intent.published_at),
                ("closed", intent.closed_at),
                ("awarded", intent.awarded_at),
                ("withdrawn", intent.withdrawn_at),
                ("expired", intent.expired_at),
            )
            if moment is not None
        },
        "ic:remote": intent.is_remote,
        "pseudonym": intent.pseudonym,
        "terms": [intent_term.as_data() for intent_term in intent.intent_terms.all()],
        # What else the buyer set: how offers are judged, who is told, what vendors see.
        "ic:criteria": [criterion.for_vendors() for criterion in intent.criteria.all()],
        "ic:visibility": intent.visibility,
        "ic:invitedVendors": [
            {"@type": "Organization", "name": vendor.name, "identifier": vendor.slug}
            for vendor in intent.invited_vendors.all()
        ],
        "ic:blockedVendors": [
            {"@type": "Organization", "name": vendor.name, "identifier": vendor.slug}
            for vendor in intent.blocked_vendors.all()
        ],
        "ic:maxVendors": intent.max_vendors,
        "ic:budgetHidden": intent.is_budget_hidden,
        "ic:sealed": intent.is_sealed,
        "ic:contactDetails": intent.contact_details,
        "ic:emailsEnabled": intent.is_buyer_email_enabled,
        # An internal RFP: where it was posted, and what its contributors share.
        "ic:organization": (
            None
            if intent.organization is None
            else {"@type": "Organization", "name": intent.organization.name}
        ),
        "ic:reward": (
            None
            if intent.reward_amount is None
            else {
                "@type": "MonetaryAmount",
                "value": str(intent.reward_amount),
                "currency": "points" if intent.reward_is_points else intent.currency,
            }
        ),
    }


def export_intents(user: User, document: dict[str, Any]) -> None:
    intents = (
        Intent.objects.filter(buyer=user)
        .select_related("category", "organization")
        .prefetch_related("intent_terms__term", "criteria", "invited_vendors", "blocked_vendors")
        .order_by("created_at")
    )
    document["seeks"] = [demand_node(intent) for intent in intents]
    # A member's "RFPs for you": which internal RFPs they were matched to, and why.
    document["ic:matchedRfps"] = [
        {
            "@type": "Demand",
            "@id": f"urn:intentcast:intent:{notice.intent_id}",
            "name": notice.intent.title,
            "ic:reasons": notice.reasons,
            "dateCreated": notice.created_at.isoformat(),
        }
        for notice in Notice.objects.filter(member=user)
        .select_related("intent")
        .order_by("created_at")
    ]


def redact_intent_events(intent_ids: list[Any]) -> None:
    """Replace the intent text kept in vendors' event feed by a marker."""
    keys = [str(intent_id) for intent_id in intent_ids]
    for event in Event.objects.filter(Q(payload__intent__id__in=keys)):
        event.payload = {
            **event.payload,
            "intent": {"id": event.payload["intent"]["id"], "redacted": True},
        }
        event.save(update_fields=["payload"])


ERASED_INTENT_FIELDS = (
    "pseudonym",
    "title",
    "description",
    "contact_details",
    "postal_area",
    "unit",
    "is_buyer_email_enabled",
)


def erase_intents(user: User) -> None:
    """Anonymize the buyer's intents; vendors keep seeing that they existed. A member's
    notices go (their reasons quote the skills they wrote)."""
    Notice.objects.filter(member=user).delete()
    intents = list(Intent.objects.filter(buyer=user))
    for intent in intents:
        intent.pseudonym = DELETED_BUYER
        intent.title = "Intent of a deleted buyer"
        intent.description = ""
        intent.contact_details = ""
        intent.postal_area = ""
        intent.unit = ""
        intent.is_buyer_email_enabled = False  # nobody left to tell what happened since
        # These columns alone: what the beat or matching wrote since the read is kept.
        intent.save(update_fields=[*ERASED_INTENT_FIELDS, "updated_at"])
        intent.reveals.all().delete()
        # Whom the buyer kept off it is theirs, as their account-wide blocks are.
        intent.blocked_vendors.clear()
        criteria_anonymize(intent=intent)
    redact_intent_events([intent.pk for intent in intents])


def neutral_criterion_keys(criteria: list[tuple[str, str]]) -> dict[str, str]:
    """Each criterion's key (given as ``(key, kind)``, in order) → one that is not the
    buyer's words: its kind ("price"), or ``criterion_N`` for the buyer's own questions."""
    renamed: dict[str, str] = {}
    custom = 0
    for key, kind in criteria:
        if Criterion.kind_is_custom(kind):
            custom += 1
            renamed[key] = f"criterion_{custom}"
        else:
            renamed[key] = kind
    return renamed


def criteria_anonymize(*, intent: Intent) -> dict[str, str]:
    """Give the intent's criteria names and keys that are not the buyer's words.

    A criterion's key is a slug of the name the buyer gave it. Each becomes its
    kind's name ("Price") and key ("price"), or "Criterion N" and
    ``criterion_N`` for the buyer's own questions. Returns the old key → new
    key of each, for the offers' answers (keyed by them) to follow. Calling it
    again changes nothing.
    """
    criteria = list(intent.criteria.order_by("position", "pk"))
    renamed = neutral_criterion_keys([(c.key, c.kind) for c in criteria])
    custom = 0
    for criterion in criteria:
        if criterion.is_custom:
            custom += 1
            criterion.name = f"Criterion {custom}"
        else:
            criterion.name = criterion.kind.capitalize()
    # Two steps, so that no key is ever held by two criteria (one per intent).
    for criterion in criteria:
        criterion.key = f"erasing-{criterion.pk}"
    Criterion.objects.bulk_update(criteria, ["key", "name"])
    for criterion, key in zip(criteria, renamed.values(), strict=True):
        criterion.key = key
    Criterion.objects.bulk_update(criteria, ["key"])
    intent_copy_details(intent=intent)
    return renamed
