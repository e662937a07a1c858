"""Questions and answers about an intent (services and the vendor's view of them).

A vendor asks about an intent it was matched to; the buyer answers; the
answer is then visible to every matched vendor, without the asker's name.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from intents.models import Intent, Notice
from intents.notices import emit_to_noticed_vendors
from intents.services import intent_note_buyer_activity
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, DomainError
from marketplace.models import Event, User, Vendor
from offers.models import Question

MAX_QUESTION = 2000
MAX_ANSWER = 5000
# Questions a vendor may have waiting for the buyer's answer on one intent: asking is
# answering the buyer's intent, not a way to write to them at will.
MAX_WAITING_QUESTIONS = 5


def question_ask(*, vendor: Vendor, intent: Intent, text: str) -> Question:
    """Ask the buyer about an intent the vendor may see (the caller checked that)."""
    text = text.strip()
    if not text or len(text) > MAX_QUESTION:
        raise DomainError(
            "The question is not valid.",
            errors={"text": [f"Ask in 1 to {MAX_QUESTION} characters."]},
        )
    with transaction.atomic():
        # The intent as it is once locked, not as the caller read it: one withdrawn,
        # awarded or hidden meanwhile, or a buyer who blocked the vendor meanwhile,
        # gets no question that could never be answered.
        intent = Intent.objects.select_for_update(no_key=True).get(pk=intent.pk)
        if intent.is_hidden or not Notice.objects.filter(intent=intent, vendor=vendor).exists():
            raise DomainError("No intent with this id is open to you.", kind=NOT_FOUND)
        if intent.status != Intent.Status.OPEN:
            raise DomainError(
                f"This intent is {intent.status}; it takes no questions.", kind=CONFLICT
            )
        if intent.offers_close_at <= timezone.now():  # as offers: closed, swept yet or not
            raise DomainError("The deadline on this intent has passed.", kind=CONFLICT)
        # Counted under the intent's lock: two questions at once cannot both pass.
        waiting = Question.objects.filter(intent=intent, vendor=vendor, answered_at__isnull=True)
        if waiting.count() >= MAX_WAITING_QUESTIONS:
            raise DomainError(
                f"You have {MAX_WAITING_QUESTIONS} questions waiting for the buyer's answer on"
                " this intent; ask again once one is answered.",
                kind=CONFLICT,
            )
        question = Question.objects.create(intent=intent, vendor=vendor, text=text)
        intent_note_buyer_activity(intent_id=intent.pk)
    return question


def question_payload(question: Question) -> dict[str, Any]:
    """A question as every matched vendor may see it: no asker."""
    return {
        "id": str(question.pk),
        "intent": str(question.intent_id),
        "text": question.text,
        "answer": question.answer,
        "answered_at": question.answered_at.isoformat() if question.answered_at else None,
    }


def question_answer(*, buyer: User, question: Question, answer: str) -> Question:
    """The buyer answers once; every vendor matched to the intent hears of it."""
    answer = answer.strip()
    if question.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can answer questions on their intent.", kind=FORBIDDEN)
    if question.intent.status not in Intent.UNDECIDED_STATUSES:
        raise DomainError(
            f"This intent is {question.intent.status}; its questions are closed.", kind=CONFLICT
        )
    if not answer or len(answer) > MAX_ANSWER:
        raise DomainError(
            "The answer is not valid.",
            kind=INVALID,
            errors={"answer": [f"Answer in 1 to {MAX_ANSWER} characters."]},
        )
    with transaction.atomic():
        # Checked again on the locked intent: an answer is not told after an award
        # or a withdrawal that committed meanwhile.
        status = (
            Intent.objects.select_for_update(no_key=True)
            .values_list("status", flat=True)
            .get(pk=question.intent_id)
        )
        if status not in Intent.UNDECIDED_STATUSES:
            raise DomainError(f"This intent is {status}; its questions are closed.", kind=CONFLICT)
        answered = Question.objects.filter(pk=question.pk, answered_at__isnull=True).update(
            answer=answer, answered_at=timezone.now()
        )
        if not answered:
            raise DomainError("This question is already answered.", kind=CONFLICT)
        question.refresh_from_db()
        _tell_answer(question, dedupe_key=f"question.answered:{question.pk}")
    return question


def _tell_answer(question: Question, *, dedupe_key: str) -> None:
    """Every vendor noticed about the question's intent hears the answer (not who asked)."""
    emit_to_noticed_vendors(
        intent=question.intent,
        type="question.answered",
        payload={"question": question_payload(question)},
        dedupe_key=dedupe_key,
    )


def question_moderation_errors(
    *, question: Question, text: str, answer: str
) -> dict[str, list[str]]:
    """What is wrong with a moderator's correction, per field (the admin's form asks too)."""
    text, answer = text.strip(), answer.strip()
    errors: dict[str, list[str]] = {}
    if not text or len(text) > MAX_QUESTION:
        errors["text"] = [f"1 to {MAX_QUESTION} characters."]
    if question.answered_at is None and answer:
        errors["answer"] = ["The buyer answers; a moderator corrects an answer given."]
    elif question.answered_at is not None and not 1 <= len(answer) <= MAX_ANSWER:
        errors["answer"] = [f"1 to {MAX_ANSWER} characters."]
    return errors


def question_moderate(*, question: Question, text: str, answer: str) -> Question:
    """A moderator corrects a question's or its answer's words.

    An answered question was told to every noticed vendor: they hear the corrected
    words too. Lengths as the asker's and the buyer's own.
    """
    text, answer = text.strip(), answer.strip()
    with transaction.atomic():
        # Locked, and checked as it is now: an answer the buyer gives meanwhile is
        # neither lost nor told empty.
        locked = Question.objects.select_for_update().select_related("intent").get(pk=question.pk)
        errors = question_moderation_errors(question=locked, text=text, answer=answer)
        if errors:
            raise DomainError("The correction is not valid.", errors=errors)
        if (locked.text, locked.answer) == (text, answer):
            return locked
        locked.text, locked.answer = text, answer
        locked.save(update_fields=["text", "answer"])
        if locked.answered_at is not None:
            # What the vendors were told is corrected where it is kept (their feed,
            # webhooks still to go), and told again for those who read it already.
            told = list(
                Event.objects.filter(
                    vendor_id__in=Notice.objects.filter(intent_id=locked.intent_id).values(
                        "vendor_id"
                    ),
                    type="question.answered",
                    payload__question__id=str(locked.pk),
                )
            )
            for event in told:
                event.payload = {**event.payload, "question": question_payload(locked)}
            Event.objects.bulk_update(told, ["payload"])
            _tell_answer(
                locked, dedupe_key=f"question.answered:{locked.pk}:{timezone.now().isoformat()}"
            )
    return locked


def questions_visible_to_vendor(*, vendor: Vendor, intent: Intent) -> QuerySet[Question]:
    """The vendor's own questions, and every answered question on the intent."""
    return Question.objects.filter(
        Q(vendor=vendor) | Q(answered_at__isnull=False), intent=intent
    ).order_by("created_at")


def questions_for_buyer(*, intent: Intent) -> QuerySet[Question]:
    """Unanswered first (on every database: PostgreSQL sorts NULL last by default), oldest
    first; then the answered ones in the order they were answered."""
    return Question.objects.filter(intent=intent).order_by(
        F("answered_at").asc(nulls_first=True), "created_at"
    )
