"""An intent as vendors see it: the one shape used by the API, webhooks and the event feed.

The buyer appears only as the intent's pseudonym. The shape is built from the
columns in ``FIELDS_FOR_VENDOR`` alone, so a list reads those columns as plain
values (:func:`vendor_rows`, then :func:`intent_row_for_vendor` on each) instead
of building a model per intent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import reduce
from typing import Any

from django.db.models import QuerySet

from intents.models import Intent

REDACTED_TITLE = "Deleted at the buyer's request"

# What the shape reads, as ORM lookups ("category__slug" follows the foreign key).
FIELDS_FOR_VENDOR = (
    "id",
    "pseudonym",
    "title",
    "description",
    "category__slug",
    "quantity",
    "unit",
    "is_budget_hidden",
    "budget_min",
    "budget_max",
    "currency",
    "country",
    "postal_area",
    "is_remote",
    "needed_by",
    "offers_close_at",
    "criteria_for_vendors",
    "terms_for_vendors",
    "is_sealed",
    "redacted_at",
    "status",
    "created_at",
)


def intent_for_vendor(intent: Intent) -> dict[str, Any]:
    return intent_row_for_vendor(
        {field: reduce(getattr, field.split("__"), intent) for field in FIELDS_FOR_VENDOR}
    )


def vendor_rows(intents: QuerySet[Intent]) -> QuerySet[Any]:
    """The intents as rows of ``FIELDS_FOR_VENDOR`` (dicts): slice them, then shape each."""
    return intents.values(*FIELDS_FOR_VENDOR)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def intent_row_for_vendor(row: Mapping[str, Any]) -> dict[str, Any]:
    """The shape, from a row of ``FIELDS_FOR_VENDOR``."""
    hidden = row["is_budget_hidden"]
    needed_by = row["needed_by"]
    # The buyer's "delete my data after award" came due: vendors keep the deal, not
    # the buyer's words.
    redacted = row["redacted_at"] is not None
    return {
        "id": str(row["id"]),
        "buyer": row["pseudonym"],
        "title": REDACTED_TITLE if redacted else row["title"],
        "description": "" if redacted else row["description"],
        "category": row["category__slug"],
        "quantity": f"{row['quantity']:.2f}",
        "unit": "" if redacted else row["unit"],
        "budget_min": None if hidden else _money(row["budget_min"]),
        "budget_max": None if hidden else _money(row["budget_max"]),
        "currency": row["currency"],
        "region": {
            "country": row["country"] or None,
            "postal_area": row["postal_area"],
            "remote": row["is_remote"],
        },
        "needed_by": needed_by.isoformat() if needed_by else None,
        "offers_close_at": row["offers_close_at"].isoformat(),
        "criteria": [] if redacted else row["criteria_for_vendors"],
        "terms": row["terms_for_vendors"],
        "sealed": row["is_sealed"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
    }
