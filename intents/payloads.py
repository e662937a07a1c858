"""An intent as vendors see it: the one shape used by the API, webhooks and the event feed.

The buyer appears only as the intent's pseudonym. The shape is built from the
columns in ``FIELDS_FOR_VENDOR`` alone, so a list reads those columns as plain
values (:func:`vendor_rows`, then :func:`intent_row_for_vendor` on each) instead
of building a model per intent; on PostgreSQL, as JSON the database writes
(:func:`vendor_rows_as_json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from functools import reduce
from typing import Any

from django.db.models import F, Func, QuerySet, TextField

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


def vendor_rows_as_json(intents: QuerySet[Intent]) -> QuerySet[Any]:
    """The intents as JSON texts of the shape, written by PostgreSQL: slice them, then join them.

    For lists, on PostgreSQL: decoding, shaping and encoding fifty rows in Python
    cost more than the rest of the request. The shape is
    :func:`intent_row_for_vendor`'s, said once more in SQL (``VENDOR_JSON_SQL``;
    as ORM expressions, compiling it cost as much again); a test holds the two
    equal.
    """
    return intents.values_list(_VendorJson(), flat=True)


class _VendorJson(Func):
    """``VENDOR_JSON_SQL``, its category's slug read through the ORM's own join.

    The intents' table is the queryset's own, which Django always names by the
    table; the category's alias is Django's to choose (another join to the
    table may take the plain name).
    """

    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(F("category__slug"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        category, params = compiler.compile(self.get_source_expressions()[0])
        return VENDOR_JSON_SQL.replace("{category_slug}", category), [REDACTED_TITLE, *params]


def _iso_timestamp(column: str) -> str:
    """SQL for a timestamp as Python's ``isoformat()`` writes it in UTC (no fraction when zero)."""
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC',"
        """ 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'), '.000000+', '+')"""
    )


# The shape of intent_row_for_vendor, key for key.
VENDOR_JSON_SQL = f"""json_build_object(
    'id', intents_intent.id,
    'buyer', intents_intent.pseudonym,
    'title', CASE WHEN intents_intent.redacted_at IS NULL THEN intents_intent.title ELSE %s END,
    'description', CASE WHEN intents_intent.redacted_at IS NULL
                        THEN intents_intent.description ELSE '' END,
    'category', {{category_slug}},
    'quantity', intents_intent.quantity::text,
    'unit', CASE WHEN intents_intent.redacted_at IS NULL THEN intents_intent.unit ELSE '' END,
    'budget_min', CASE WHEN intents_intent.is_budget_hidden THEN NULL
                       ELSE intents_intent.budget_min::text END,
    'budget_max', CASE WHEN intents_intent.is_budget_hidden THEN NULL
                       ELSE intents_intent.budget_max::text END,
    'currency', intents_intent.currency,
    'region', json_build_object(
        'country', NULLIF(intents_intent.country, ''),
        'postal_area', CASE WHEN intents_intent.redacted_at IS NULL
                            THEN intents_intent.postal_area ELSE '' END,
        'remote', intents_intent.is_remote
    ),
    'needed_by', intents_intent.needed_by,
    'offers_close_at', {_iso_timestamp("intents_intent.offers_close_at")},
    'criteria', CASE WHEN intents_intent.redacted_at IS NULL
                     THEN intents_intent.criteria_for_vendors ELSE '[]'::jsonb END,
    'terms', intents_intent.terms_for_vendors,
    'sealed', intents_intent.is_sealed,
    'status', intents_intent.status,
    'created_at', {_iso_timestamp("intents_intent.created_at")}
)::text"""


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
            "postal_area": "" if redacted else row["postal_area"],
            "remote": row["is_remote"],
        },
        "needed_by": needed_by.isoformat() if needed_by else None,
        "offers_close_at": row["offers_close_at"].astimezone(UTC).isoformat(),
        "criteria": [] if redacted else row["criteria_for_vendors"],
        "terms": row["terms_for_vendors"],
        "sealed": row["is_sealed"],
        "status": row["status"],
        "created_at": row["created_at"].astimezone(UTC).isoformat(),
    }
