"""The database itself refuses invalid intents, whatever code writes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from intents.models import Notice
from offers.models import Question
from tests.factories import IntentFactory, NoticeFactory, VendorFactory

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
        {"visibility": "everyone"},
        {"max_vendors": 0},
        {"max_vendors": 201},
        # A status reached without the time it was reached.
        {"status": "open", "published_at": None},
        {"status": "closed", "closed_at": None},
        {"status": "awarded", "awarded_at": None},
        {"status": "withdrawn", "withdrawn_at": None},
        {"status": "expired", "expired_at": None},
    ],
)
def test_database_refuses(fields: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentFactory(**fields)


def test_database_accepts_a_draft_never_published() -> None:
    assert IntentFactory(status="draft", published_at=None).pk


def test_database_accepts_open_ended_budget() -> None:
    intent = IntentFactory(budget_min=None, budget_max=Decimal("10"))
    assert intent.pk


def test_a_notice_state_outside_its_values_is_refused() -> None:
    notice = NoticeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Notice.objects.filter(pk=notice.pk).update(state="lost")


def test_an_answered_question_has_an_answer_and_an_unanswered_one_none() -> None:
    question = Question.objects.create(
        intent=IntentFactory(), vendor=VendorFactory(), text="Which floor?"
    )
    for changes in (
        {"answered_at": timezone.now()},  # answered with nothing
        {"answer": "Third."},  # an answer never given
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Question.objects.filter(pk=question.pk).update(**changes)
    Question.objects.filter(pk=question.pk).update(answer="Third.", answered_at=timezone.now())
