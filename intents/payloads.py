"""An intent as vendors see it: the one shape used by the API, webhooks and the event feed.

The buyer appears only as the intent's pseudonym.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from intents.models import Intent


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def intent_for_vendor(intent: Intent) -> dict[str, Any]:
    hidden = intent.is_budget_hidden
    return {
        "id": str(intent.pk),
        "buyer": intent.pseudonym,
        "title": intent.title,
        "description": intent.description,
        "category": intent.category.slug,
        "quantity": f"{intent.quantity:.2f}",
        "unit": intent.unit,
        "budget_min": None if hidden else _money(intent.budget_min),
        "budget_max": None if hidden else _money(intent.budget_max),
        "currency": intent.currency,
        "region": {
            "country": intent.country or None,
            "postal_area": intent.postal_area,
            "remote": intent.is_remote,
        },
        "needed_by": intent.needed_by.isoformat() if intent.needed_by else None,
        "offers_close_at": intent.offers_close_at.isoformat(),
        "criteria": intent.criteria_for_vendors,
        "terms": intent.terms_for_vendors,
        "sealed": intent.is_sealed,
        "status": intent.status,
        "created_at": intent.created_at.isoformat(),
    }
