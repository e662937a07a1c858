"""The database itself refuses invalid intents, whatever code writes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests.factories import IntentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {"budget_min": Decimal("10"), "budget_max": Decimal("5")},
        {"budget_min": Decimal("-1"), "budget_max": None},
        {"budget_max": Decimal("-1"), "budget_min": None},
        {"currency": "eur"},
        {"currency": "EU"},
        {"quantity": Decimal("0")},
        {"country": "", "is_remote": False},
    ],
)
def test_database_refuses(fields: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentFactory(**fields)


def test_database_accepts_open_ended_budget() -> None:
    intent = IntentFactory(budget_min=None, budget_max=Decimal("10"))
    assert intent.pk
