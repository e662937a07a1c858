"""Criteria answers, questions, revisions, ratings, sealed offers and the buyer hearing back."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Criterion, Intent
from intents.services import intent_copy_details, intent_create, intent_update
from marketplace.errors import DomainError
from marketplace.models import Category, Event, Membership, Vendor
from offers import buyer_mail
from offers.buyer_mail import buyer_notify, buyers_notify_due
from offers.models import Offer, OfferRevision, Question, Rating
from offers.questions import MAX_WAITING_QUESTIONS, question_answer, questions_for_buyer
from offers.ratings import rating_create
from offers.services import offer_accept, offer_decline, offer_revise
from offers.tasks import notify_buyers
from tests.factories import (
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
    proposal,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer_client(client: Client, buyer: Any) -> Client:
    client.force_login(buyer)
    return client


def with_criteria(intent: Intent) -> Intent:
    Criterion.objects.create(intent=intent, key="price", name="Price", kind="price", weight=5)
    Criterion.objects.create(
        intent=intent, key="insured", name="Insured", kind="yes_no", weight=2, is_required=True
    )
    Criterion.objects.create(intent=intent, key="years", name="Years", kind="number", weight=1)
    Criterion.objects.create(intent=intent, key="notes", name="Notes", kind="text", weight=1)
    intent_copy_details(intent=intent)
    return intent


def offer_body(intent: Intent, **overrides: Any) -> dict[str, Any]:
    return {"intent": str(intent.pk), "price": "100.00", "currency": "EUR"} | overrides


# --- criteria ------------------------------------------------------------------


def test_intent_criteria_default_and_validation(buyer: Any, category: Category) -> None:
    fields = {
        "title": "T",
        "description": "D",
        "category": category,
        "currency": "EUR",
        "country": "DE",
        "offers_close_at": timezone.now() + timedelta(days=1),
    }
    intent = intent_create(buyer=buyer, **fields)
    assert [(c.kind, c.weight) for c in intent.criteria.all()] == [
        ("price", 50),
        ("delivery", 25),
        ("rating", 25),
    ]
    for bad in (
        [{"name": "", "kind": "number", "weight": 1}],
        [{"name": "X", "kind": "colour", "weight": 1}],
        [{"name": "X", "kind": "number", "weight": 101}],
        [{"name": "P", "kind": "price", "weight": 1}, {"name": "Q", "kind": "price", "weight": 1}],
        [
            {"name": "Same", "kind": "text", "weight": 1},
            {"name": "same", "kind": "number", "weight": 1},
        ],
    ):
        with pytest.raises(DomainError) as refused:
            intent_create(buyer=buyer, criteria=bad, **fields)
        assert "criteria" in refused.value.errors
    assert Intent.objects.count() == 1


def test_vendor_sees_criteria_in_the_intent(api: APIClient, open_intent: Intent) -> None:
    with_criteria(open_intent)
    body = api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    assert {
        "key": "insured",
        "name": "Insured",
        "kind": "yes_no",
        "weight": 2,
        "required": True,
    } in body["criteria"]


def test_offer_answers_custom_criteria(api: APIClient, open_intent: Intent) -> None:
    with_criteria(open_intent)
    answers = {"insured": True, "years": 12, "notes": "Family business"}
    response = api.post(
        "/api/v1/offers/", offer_body(open_intent, criteria_answers=answers), format="json"
    )
    assert response.status_code == 201, response.json()
    assert Offer.objects.get().criteria_answers == answers


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({}, "criteria_answers.insured"),
        ({"insured": "yes"}, "criteria_answers.insured"),
        ({"insured": True, "years": "many"}, "criteria_answers.years"),
        ({"insured": True, "years": True}, "criteria_answers.years"),
        ({"insured": True, "notes": 5}, "criteria_answers.notes"),
        ({"insured": True, "colour": "red"}, "criteria_answers.colour"),
    ],
)
def test_offer_with_bad_criteria_answers_is_400_naming_the_field(
    api: APIClient, open_intent: Intent, answers: dict[str, Any], field: str
) -> None:
    with_criteria(open_intent)
    response = api.post(
        "/api/v1/offers/", offer_body(open_intent, criteria_answers=answers), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Offer.objects.count() == 0


# --- questions -------------------------------------------------------------------


def test_question_asked_answered_and_seen_by_every_matched_vendor(
    api: APIClient,
    vendor: Vendor,
    open_intent: Intent,
    buyer_client: Client,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    other = VendorFactory()
    NoticeFactory(intent=open_intent, vendor=other)
    other_api = vendor_client(other)

    asked = api.post(
        f"/api/v1/intents/{open_intent.pk}/questions/", {"text": "Is parking free?"}, format="json"
    )
    assert asked.status_code == 201
    question_id = asked.json()["id"]
    assert asked.json()["mine"] is True
    # Unanswered: the other vendor does not see it yet.
    assert other_api.get(f"/api/v1/intents/{open_intent.pk}/questions/").json()["count"] == 0

    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert "Is parking free?" in page
    buyer_client.post(f"/questions/{question_id}/answer/", {"answer": "Yes, in the yard."})

    seen = other_api.get(f"/api/v1/intents/{open_intent.pk}/questions/").json()["results"]
    assert seen == [
        {
            "id": question_id,
            "intent": str(open_intent.pk),
            "text": "Is parking free?",
            "answer": "Yes, in the yard.",
            "created_at": seen[0]["created_at"],
            "answered_at": seen[0]["answered_at"],
            "mine": False,
        }
    ]
    assert vendor.name not in str(seen) and str(vendor.pk) not in str(seen)
    detail = other_api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    assert detail["answered_questions"][0]["answer"] == "Yes, in the yard."
    assert set(
        Event.objects.filter(type="question.answered").values_list("vendor_id", flat=True)
    ) == {
        vendor.pk,
        other.pk,
    }


def test_question_on_intent_not_matched_is_404_and_nothing_stored(
    api: APIClient, category: Category
) -> None:
    from tests.factories import IntentFactory

    elsewhere = IntentFactory(category=category)
    response = api.post(
        f"/api/v1/intents/{elsewhere.pk}/questions/", {"text": "Hello?"}, format="json"
    )
    assert response.status_code == 404
    assert api.get(f"/api/v1/intents/{elsewhere.pk}/questions/").status_code == 404
    assert not Question.objects.exists()


@pytest.mark.parametrize(
    "payload", [{"text": ""}, {"text": "x" * 2001}, {"text": "ok", "to": "buyer"}]
)
def test_bad_question_is_400(api: APIClient, open_intent: Intent, payload: dict[str, str]) -> None:
    response = api.post(f"/api/v1/intents/{open_intent.pk}/questions/", payload, format="json")
    assert response.status_code == 400
    assert not Question.objects.exists()


def test_a_vendor_has_a_bounded_number_of_questions_waiting_on_one_intent(
    api: APIClient, open_intent: Intent, vendor: Vendor
) -> None:
    """Asking answers the buyer's intent; it is no channel to write to them at will."""
    url = f"/api/v1/intents/{open_intent.pk}/questions/"
    for number in range(MAX_WAITING_QUESTIONS):
        assert api.post(url, {"text": f"Question {number}?"}, format="json").status_code == 201

    refused = api.post(url, {"text": "One more?"}, format="json")
    question_answer(
        buyer=open_intent.buyer, question=Question.objects.earliest("created_at"), answer="Yes."
    )
    after_an_answer = api.post(url, {"text": "One more?"}, format="json")

    assert refused.status_code == 409
    assert refused["Content-Type"] == "application/problem+json"
    assert "questions waiting for the buyer's answer" in refused.json()["detail"]
    assert after_an_answer.status_code == 201
    assert Question.objects.filter(vendor=vendor).count() == MAX_WAITING_QUESTIONS + 1


def test_only_the_buyer_answers_and_only_once(open_intent: Intent, vendor: Vendor) -> None:
    question = Question.objects.create(intent=open_intent, vendor=vendor, text="?")
    with pytest.raises(DomainError):
        question_answer(buyer=UserFactory(), question=question, answer="No")
    question_answer(buyer=open_intent.buyer, question=question, answer="Yes")
    with pytest.raises(DomainError):
        question_answer(buyer=open_intent.buyer, question=question, answer="Changed my mind")
    assert Question.objects.get(pk=question.pk).answer == "Yes"


def test_questions_on_a_withdrawn_intent_take_no_answer(
    open_intent: Intent, vendor: Vendor, buyer_client: Client
) -> None:
    question = Question.objects.create(intent=open_intent, vendor=vendor, text="Colour?")
    buyer_client.post(f"/intents/{open_intent.pk}/withdraw/")

    buyer_client.post(f"/questions/{question.pk}/answer/", {"answer": "Teal"})

    assert Question.objects.get(pk=question.pk).answer == ""
    assert not Event.objects.filter(type="question.answered").exists()


def test_no_confirmation_is_offered_for_what_can_no_longer_happen(
    open_intent: Intent, buyer_client: Client
) -> None:
    chosen, other = OfferFactory(intent=open_intent), OfferFactory(intent=open_intent)
    offer_accept(offer=chosen, buyer=open_intent.buyer)

    accept_other = buyer_client.get(f"/offers/{other.pk}/accept/", follow=True)
    withdraw = buyer_client.get(f"/intents/{open_intent.pk}/withdraw/", follow=True)

    assert "This declined offer can no longer be accepted." in accept_other.content.decode()
    assert "Yes, accept this offer" not in accept_other.content.decode()
    assert "This intent is awarded; it cannot be withdrawn." in withdraw.content.decode()
    assert accept_other.redirect_chain[-1][0] == f"/intents/{open_intent.pk}/"


# --- revisions -------------------------------------------------------------------


def test_revisions_are_kept_and_shown_to_the_buyer(
    api: APIClient, vendor: Vendor, open_intent: Intent, buyer_client: Client
) -> None:
    offer_id = api.post(
        "/api/v1/offers/", offer_body(open_intent, price="1200.00"), format="json"
    ).json()["id"]
    api.patch(f"/api/v1/offers/{offer_id}/", {"price": "1150.00"}, format="json")
    response = api.patch(f"/api/v1/offers/{offer_id}/", {"price": "1100.00"}, format="json")

    assert response.json()["revision_count"] == 2
    assert list(
        OfferRevision.objects.filter(offer_id=offer_id).values_list("changes", flat=True)
    ) == [{"price": ["1200.00", "1150.00"]}, {"price": ["1150.00", "1100.00"]}]
    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert "revised 2× — price 1,200.00 → 1,100.00" in page


def test_unchanged_patch_is_no_revision(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor, price=Decimal("50.00"))
    api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "50.00"}, format="json")
    assert not OfferRevision.objects.exists()


# --- accept, contact, ratings -----------------------------------------------------


def test_after_accept_each_side_sees_the_others_contact(
    api: APIClient, vendor: Vendor, open_intent: Intent, buyer_client: Client
) -> None:
    Intent.objects.filter(pk=open_intent.pk).update(contact_details="Call Ada: +49 30 1234")
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    detail = api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    assert detail["buyer_contact"] is None
    assert "Ada" not in str(detail)

    buyer_client.post(f"/offers/{offer.pk}/accept/")

    assert api.get(f"/api/v1/intents/{open_intent.pk}/").json()["buyer_contact"] == (
        "Call Ada: +49 30 1234"
    )
    event = Event.objects.get(type="offer.accepted")
    assert event.payload["buyer_contact"] == "Call Ada: +49 30 1234"
    assert vendor.contact_email in buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()


def test_rating_once_for_the_accepted_offer_feeds_reputation(
    open_intent: Intent, buyer_client: Client
) -> None:
    vendor = VendorFactory()
    accepted = OfferFactory(intent=open_intent, vendor=vendor, status=Offer.Status.ACCEPTED)
    other = OfferFactory(intent=open_intent, status=Offer.Status.DECLINED)
    Intent.objects.filter(pk=open_intent.pk).update(
        status=Intent.Status.AWARDED, awarded_at=timezone.now()
    )
    earlier = OfferFactory(vendor=vendor, status=Offer.Status.ACCEPTED)
    Rating.objects.create(offer=earlier, vendor=vendor, stars=4)
    vendor.rating_count, vendor.rating_mean = 1, Decimal("4.00")
    vendor.save()

    buyer_client.post(f"/offers/{accepted.pk}/rate/", {"stars": "5", "text": "Great"})

    vendor.refresh_from_db()
    assert (vendor.rating_count, vendor.rating_mean) == (2, Decimal("4.50"))
    with pytest.raises(DomainError):
        rating_create(buyer=open_intent.buyer, offer=accepted, stars=1)
    with pytest.raises(DomainError):
        rating_create(buyer=open_intent.buyer, offer=other, stars=1)
    with pytest.raises(DomainError):
        rating_create(buyer=UserFactory(), offer=accepted, stars=1)
    assert Rating.objects.filter(offer=accepted).count() == 1
    assert Rating.objects.filter(offer=other).count() == 0


@pytest.mark.parametrize("stars", ["0", "6", "x", ""])
def test_bad_rating_changes_nothing(open_intent: Intent, buyer_client: Client, stars: str) -> None:
    accepted = OfferFactory(intent=open_intent, status=Offer.Status.ACCEPTED)
    buyer_client.post(f"/offers/{accepted.pk}/rate/", {"stars": stars})
    assert not Rating.objects.exists()


def test_vendors_cannot_accept_rank_or_rate_over_the_api(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    for action in ("accept", "decline", "move", "shortlist", "rate"):
        assert api.post(f"/api/v1/offers/{offer.pk}/{action}/").status_code in (404, 405)
    # The buyer's own pages refuse an API key (no session): nothing changes.
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = api._credentials["HTTP_AUTHORIZATION"]
    assert client.post(f"/offers/{offer.pk}/accept/").status_code == 302
    offer.refresh_from_db()
    assert (offer.status, offer.buyer_rank) == (Offer.Status.SUBMITTED, None)


# --- sealed until close -------------------------------------------------------------


def test_sealed_intent_hides_offers_until_the_deadline(
    open_intent: Intent, buyer_client: Client
) -> None:
    OfferFactory(intent=open_intent, vendor=VendorFactory(name="Hidden Vendor GmbH"))
    Intent.objects.filter(pk=open_intent.pk).update(is_sealed=True)
    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    mine = buyer_client.get("/intents/").content.decode()
    assert "Hidden Vendor GmbH" not in page
    assert "sealed" in page
    assert re.search(r'data-label="Live offers"><span class="muted">sealed', mine)  # no count

    Intent.objects.filter(pk=open_intent.pk).update(
        offers_close_at=timezone.now() - timedelta(minutes=1)
    )
    assert "Hidden Vendor GmbH" in buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert 'data-label="Live offers">1</td>' in buyer_client.get("/intents/").content.decode()


def test_withdrawing_a_sealed_intent_early_keeps_its_offers_sealed_until_the_deadline(
    open_intent: Intent, buyer: Any, buyer_client: Client
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=VendorFactory(name="Hidden Vendor GmbH"))
    Intent.objects.filter(pk=open_intent.pk).update(is_sealed=True)

    buyer_client.post(f"/intents/{open_intent.pk}/withdraw/")

    open_intent.refresh_from_db()
    assert open_intent.status == Intent.Status.WITHDRAWN
    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    exported = buyer_client.get("/api/v1/me/export/").content.decode()
    assert "Hidden Vendor GmbH" not in page and "250.00" not in page
    assert "sealed" in page
    assert "Hidden Vendor GmbH" not in exported and str(offer.pk) not in exported
    assert buyer_client.get(f"/offers/{offer.pk}/accept/").status_code == 404
    # The original deadline passed: what was sealed is the buyer's to read.
    Intent.objects.filter(pk=open_intent.pk).update(
        offers_close_at=timezone.now() - timedelta(minutes=1)
    )
    assert "Hidden Vendor GmbH" in buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()


@pytest.mark.parametrize("action", ["accept", "decline", "shortlist", "reveal", "block"])
def test_sealed_offers_cannot_be_read_or_decided_on_before_the_deadline(
    open_intent: Intent, buyer: Any, buyer_client: Client, action: str
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=VendorFactory(name="Hidden Vendor GmbH"))
    Intent.objects.filter(pk=open_intent.pk).update(is_sealed=True)
    open_intent.refresh_from_db()

    shown = buyer_client.get(f"/offers/{offer.pk}/{action}/")
    posted = buyer_client.post(f"/offers/{offer.pk}/{action}/", {"reason": "no"})
    exported = buyer_client.get("/api/v1/me/export/").content.decode()
    for decide in (offer_accept, offer_decline):
        with pytest.raises(DomainError) as refused:
            decide(offer=offer, buyer=buyer)
        assert refused.value.kind == "conflict"

    # Accept, decline, reveal and block have a page (their confirmation); shortlisting
    # takes POST alone.
    confirmed = action in ("accept", "decline", "reveal", "block")
    assert (shown.status_code, posted.status_code) == (404 if confirmed else 405, 404)
    assert "Hidden Vendor GmbH" not in exported and str(offer.pk) not in exported
    offer.refresh_from_db()
    open_intent.refresh_from_db()
    assert (offer.status, open_intent.status) == (Offer.Status.SUBMITTED, Intent.Status.OPEN)


# --- the buyer hears back ----------------------------------------------------------------


def test_new_offer_marks_unread_and_emails_at_most_hourly(
    api: APIClient, vendor: Vendor, open_intent: Intent, buyer_client: Client, settings: Any
) -> None:
    api.post("/api/v1/offers/", offer_body(open_intent), format="json")
    assert buyer_notify(intent_id=open_intent.pk) is True
    [message] = mail.outbox
    assert message.to == [open_intent.buyer.email]
    assert "1 new offer" in message.body
    assert f"https://intentcast.test/intents/{open_intent.pk}/" in message.body
    assert "<strong>" + open_intent.title in buyer_client.get("/intents/").content.decode()

    # A revision and a question within the hour: no second e-mail yet …
    offer = Offer.objects.get()
    api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "90.00"}, format="json")
    api.post(f"/api/v1/intents/{open_intent.pk}/questions/", {"text": "When?"}, format="json")
    assert buyer_notify(intent_id=open_intent.pk) is False
    assert notify_buyers() == 0
    assert len(mail.outbox) == 1

    # … an hour later, one e-mail batches both.
    Intent.objects.filter(pk=open_intent.pk).update(
        buyer_emailed_at=timezone.now() - timedelta(hours=1, minutes=1)
    )
    OfferRevision.objects.update(created_at=timezone.now())
    assert notify_buyers() == 1
    assert "1 revised offer" in mail.outbox[1].body and "1 new question" in mail.outbox[1].body

    # Opening the intent page marks it read.
    buyer_client.get(f"/intents/{open_intent.pk}/")
    assert "<strong>" + open_intent.title not in buyer_client.get("/intents/").content.decode()


def test_the_buyers_email_comes_from_the_beat_not_the_request(
    api: APIClient,
    open_intent: Intent,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """An offer, a revision, a question: nothing sent from the request; the sweep sends one."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/offers/", offer_body(open_intent), format="json")
        offer = Offer.objects.get()
        api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "90.00"}, format="json")
        api.post(f"/api/v1/intents/{open_intent.pk}/questions/", {"text": "When?"}, format="json")
    assert mail.outbox == []
    assert Intent.objects.get(pk=open_intent.pk).is_unread is True

    assert notify_buyers() == 1
    [message] = mail.outbox
    assert "1 new offer" in message.body and "1 new question" in message.body


def test_the_sweep_sends_the_news_waiting_longest_first() -> None:
    now = timezone.now()
    for title, minutes in (("Recent", 5), ("Oldest", 30), ("Middle", 10)):
        intent = IntentFactory(title=title)
        OfferFactory(intent=intent)
        Intent.objects.filter(pk=intent.pk).update(
            buyer_activity_at=now - timedelta(minutes=minutes)
        )
    # Already e-mailed about everything: not news, whatever the order says.
    IntentFactory(buyer_activity_at=now - timedelta(hours=2), buyer_emailed_at=now)

    assert notify_buyers() == 3
    assert [message.subject.split(": ")[1] for message in mail.outbox] == [
        "Oldest",
        "Middle",
        "Recent",
    ]


class RefusingMailServer(locmem.EmailBackend):
    """An SMTP server (outside the machine in production) that refuses one address."""

    def send_messages(self, messages: Any) -> int:
        if any("refused" in address for message in messages for address in message.to):
            raise smtplib.SMTPRecipientsRefused({"refused@example.test": (550, b"No such user")})
        return super().send_messages(messages)


def test_a_failed_buyer_email_stays_due_and_the_others_go(settings: Any) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.RefusingMailServer"
    refused = IntentFactory(title="Refused", buyer=UserFactory(email="refused@example.test"))
    delivered = IntentFactory(title="Delivered")
    now = timezone.now()
    for minutes, intent in ((30, refused), (10, delivered)):
        OfferFactory(intent=intent)
        Intent.objects.filter(pk=intent.pk).update(
            buyer_activity_at=now - timedelta(minutes=minutes)
        )

    assert notify_buyers() == 1
    assert [message.subject for message in mail.outbox] == ["News on your intent: Delivered"]
    assert Intent.objects.get(pk=refused.pk).buyer_emailed_at is None  # the claim given back

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notify_buyers() == 1
    assert mail.outbox[-1].subject == "News on your intent: Refused"


def test_buyer_can_turn_emails_off(api: APIClient, open_intent: Intent) -> None:
    Intent.objects.filter(pk=open_intent.pk).update(is_buyer_email_enabled=False)
    api.post("/api/v1/offers/", offer_body(open_intent), format="json")
    assert buyer_notify(intent_id=open_intent.pk) is False
    assert mail.outbox == []
    assert Intent.objects.get(pk=open_intent.pk).is_unread is True


def test_the_sweep_stops_at_its_time_budget_and_the_next_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for title in ("First", "Second"):
        OfferFactory(intent=IntentFactory(title=title))
    Intent.objects.update(buyer_activity_at=timezone.now())
    monkeypatch.setattr("offers.buyer_mail.SWEEP_SECONDS", -1)  # out of time at once

    assert notify_buyers() == 0
    assert mail.outbox == []

    monkeypatch.undo()
    assert notify_buyers() == 2


def test_a_criterion_named_like_a_column_sorts_by_itself(
    open_intent: Intent, buyer_client: Client
) -> None:
    intent_update(
        intent=open_intent,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 5},
            {"name": "Status", "kind": "number", "weight": 1},
        ],
    )
    low = OfferFactory(intent=open_intent, vendor=VendorFactory(name="Low"))
    high = OfferFactory(intent=open_intent, vendor=VendorFactory(name="High"))
    Offer.objects.filter(pk=low.pk).update(criteria_answers={"status": 1})
    Offer.objects.filter(pk=high.pk).update(criteria_answers={"status": 9})

    def order(sort: str) -> list[str]:
        page = buyer_client.get(f"/intents/{open_intent.pk}/?sort={sort}").content.decode()
        return [name for name in re.findall(r'id="offer-([0-9a-f-]+)"', page)]

    assert order("-criterion-status") == [str(high.pk), str(low.pk)]
    assert order("criterion-status") == [str(low.pk), str(high.pk)]
    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert 'href="?sort=criterion-status">Status</a>' in page
    # "status" is still the offers' own status column.
    assert 'href="?sort=status">Status</a>' in page


def test_the_intent_page_survives_a_criterion_changing_kind_after_offers(
    open_intent: Intent, buyer_client: Client
) -> None:
    with_criteria(open_intent)
    OfferFactory(intent=open_intent, criteria_answers={"insured": True, "years": 4})
    OfferFactory(intent=open_intent, criteria_answers={"insured": False, "years": 9})
    intent_update(
        intent=open_intent,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 5},
            {"name": "Insured", "kind": "number", "weight": 2},  # was yes/no
            {"name": "Years", "kind": "text", "weight": 1},  # was a number
        ],
    )
    OfferFactory(intent=open_intent, criteria_answers={"insured": 2, "years": "ten"})

    for sort in ("", "?sort=insured", "?sort=-years", "?sort=-score"):
        response = buyer_client.get(f"/intents/{open_intent.pk}/{sort}")
        assert response.status_code == 200, sort
    # The old answers no longer answer the changed criteria: shown and scored as missing.
    answers = [(row.values["insured"], row.values["years"]) for row in response.context["rows"]]
    assert answers == [(2, "ten"), (None, None), (None, None)]  # by score: the fitting one first


@pytest.mark.parametrize(
    "action", ["accept", "decline", "move", "shortlist", "rate", "reveal", "block"]
)
def test_the_buyers_offer_pages_do_not_take_an_internal_proposal(
    buyer_client: Client, buyer: Any, action: str
) -> None:
    organization = OrganizationFactory()
    Membership.objects.create(organization=organization, user=buyer)
    rfp = internal_intent(organization, buyer)
    submitted = proposal(rfp, org_member(organization))

    response = buyer_client.post(f"/offers/{submitted.pk}/{action}/", {"reason": "", "stars": 5})

    assert response.status_code == 404
    submitted.refresh_from_db()
    assert (submitted.status, submitted.decline_reason) == (Offer.Status.SUBMITTED, "")


@pytest.mark.parametrize(
    ("sort", "location"),
    [
        ("-insured", "?sort=-insured"),
        ("x\r\nSet-Cookie: a=b", ""),
        ("x&y=1#z", ""),
        ("", ""),
    ],
)
def test_a_decision_goes_back_to_the_page_in_its_order_and_nowhere_else(
    open_intent: Intent, buyer_client: Client, sort: str, location: str
) -> None:
    offer = OfferFactory(intent=open_intent)

    response = buyer_client.post(f"/offers/{offer.pk}/shortlist/", {"sort": sort})

    assert response.status_code == 302
    assert response["Location"] == f"/intents/{open_intent.pk}/{location}#offer-{offer.pk}"


def test_a_row_action_goes_back_to_its_row_and_a_refusal_to_the_message_on_top(
    open_intent: Intent, buyer_client: Client
) -> None:
    first, second = OfferFactory(intent=open_intent), OfferFactory(intent=open_intent)
    declined = OfferFactory(intent=open_intent, status=Offer.Status.DECLINED)

    moved = buyer_client.post(f"/offers/{second.pk}/move/", {"direction": "up"})
    refused = buyer_client.post(f"/offers/{declined.pk}/move/", {"direction": "up"}, follow=True)

    assert moved["Location"] == f"/intents/{open_intent.pk}/#offer-{second.pk}"
    assert refused.redirect_chain == [(f"/intents/{open_intent.pk}/", 302)]
    assert "A declined offer cannot be ranked." in refused.content.decode()
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.buyer_rank, first.buyer_rank) == (1, 2)


def test_an_offer_past_its_valid_until_date_cannot_be_accepted(
    buyer_client: Client, open_intent: Intent
) -> None:
    """Even before the beat lapsed it: past that date the vendor is no longer bound."""
    expired = OfferFactory(intent=open_intent, valid_until=timezone.localdate() - timedelta(days=3))
    other = OfferFactory(intent=open_intent)

    asked = buyer_client.get(f"/offers/{expired.pk}/accept/", follow=True)
    page = buyer_client.post(f"/offers/{expired.pk}/accept/", follow=True)

    assert "it has lapsed" in asked.content.decode()
    assert "it has lapsed" in page.content.decode()
    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {expired.pk: "submitted", other.pk: "submitted"}
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN


def test_an_offer_valid_until_today_can_still_be_accepted(buyer: Any, open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent, valid_until=timezone.localdate())

    assert offer_accept(offer=offer, buyer=buyer).status == Offer.Status.ACCEPTED


def test_no_email_about_news_the_buyer_already_saw_on_the_page(
    buyer_client: Client, open_intent: Intent, api: APIClient
) -> None:
    api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "100.00", "currency": "EUR"},
        format="json",
    )
    buyer_client.get(f"/intents/{open_intent.pk}/")  # seen before the beat's sweep

    notify_buyers()
    seen_nothing_new = list(mail.outbox)
    # Two hours on, a second offer: news the buyer has not seen is still told.
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Offer.objects.update(created_at=two_hours_ago)
    Intent.objects.filter(pk=open_intent.pk).update(
        buyer_seen_at=two_hours_ago, buyer_emailed_at=two_hours_ago
    )
    OfferFactory(intent=open_intent)
    Intent.objects.filter(pk=open_intent.pk).update(buyer_activity_at=timezone.now())
    notify_buyers()

    assert seen_nothing_new == []
    [message] = mail.outbox
    assert "1 new offer" in message.body


def test_a_withdrawn_offer_does_not_move_the_live_offers_scores(
    buyer_client: Client, open_intent: Intent
) -> None:
    today = timezone.localdate()
    cheap_late = OfferFactory(
        intent=open_intent, price=Decimal("100"), delivery_date=today + timedelta(days=10)
    )
    dear_soon = OfferFactory(
        intent=open_intent, price=Decimal("200"), delivery_date=today + timedelta(days=5)
    )
    Criterion.objects.filter(intent=open_intent).delete()
    for position, kind in enumerate(("price", "delivery")):
        Criterion.objects.create(
            intent=open_intent, key=kind, name=kind, kind=kind, weight=50, position=position
        )

    def scores() -> list[str]:
        html = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
        shown = []
        for offer in (cheap_late, dear_soon):
            row = html[html.index(f'id="offer-{offer.pk}"') :]
            row = row[: row.index("</tr>")]
            shown.append(row.split('data-label="Score"><strong>')[1].split("</strong>")[0])
        return shown

    before = scores()
    OfferFactory(
        intent=open_intent,
        price=Decimal("1000"),
        delivery_date=today + timedelta(days=5),
        status=Offer.Status.WITHDRAWN,
    )

    assert before == scores() == ["50.0", "50.0"]
    Offer.objects.filter(pk=dear_soon.pk).update(price=Decimal("900"))
    assert scores() == ["50.0", "50.0"]  # each still best on one criterion
    Criterion.objects.filter(intent=open_intent, kind="delivery").update(weight=0)
    assert scores() == ["100.0", "0.0"]  # the worst is scored 0, not left unscored


def test_no_question_after_the_deadline_as_no_offer(api: APIClient, open_intent: Intent) -> None:
    """Whether or not the beat closed it yet."""
    Intent.objects.filter(pk=open_intent.pk).update(
        offers_close_at=timezone.now() - timedelta(minutes=1)
    )

    offer = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "1.00", "currency": "EUR"},
        format="json",
    )
    question = api.post(
        f"/api/v1/intents/{open_intent.pk}/questions/", {"text": "Still?"}, format="json"
    )

    assert (offer.status_code, question.status_code) == (409, 409)
    assert not Question.objects.exists()


@pytest.mark.parametrize(
    ("on_the_intent", "offered"),
    [("Call Ada: +49 30 1234", "Call Ada: +49 30 1234"), ("", "the buyer's e-mail address")],
)
def test_the_confirmation_asks_how_the_chosen_vendor_may_reach_the_buyer(
    api: APIClient,
    vendor: Vendor,
    buyer: Any,
    open_intent: Intent,
    buyer_client: Client,
    on_the_intent: str,
    offered: str,
) -> None:
    """Filled in with what the buyer set, else their e-mail: theirs to change, never empty."""
    Intent.objects.filter(pk=open_intent.pk).update(contact_details=on_the_intent)
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    suggested = on_the_intent or buyer.email

    asked = buyer_client.get(f"/offers/{offer.pk}/accept/").content.decode()
    emptied = buyer_client.post(
        f"/offers/{offer.pk}/accept/", {"contact_details": "  "}, follow=True
    )
    still_open = Offer.objects.get(pk=offer.pk).status
    buyer_client.post(f"/offers/{offer.pk}/accept/", {"contact_details": "Ada, 030 1234"})

    assert f">{suggested}</textarea>" in asked, offered
    assert "Say how the vendor can reach you" in emptied.content.decode()
    assert still_open == Offer.Status.SUBMITTED
    detail = api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    assert detail["my_offer"]["status"] == "accepted"
    assert detail["buyer_contact"] == "Ada, 030 1234"
    assert Event.objects.get(type="offer.accepted").payload["buyer_contact"] == "Ada, 030 1234"


def test_contact_details_too_long_refuse_the_accept_and_change_nothing(
    buyer_client: Client, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent)

    page = buyer_client.post(
        f"/offers/{offer.pk}/accept/", {"contact_details": "x" * 2001}, follow=True
    )

    assert "At most 2000 characters" in page.content.decode()
    assert f">{'x' * 2001}</textarea>" in page.content.decode()  # kept, to be shortened
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    assert Intent.objects.get(pk=open_intent.pk).contact_details == ""


def test_the_buyer_reads_the_whole_offer_before_accepting_it(
    buyer_client: Client, open_intent: Intent
) -> None:
    offer = OfferFactory(
        intent=open_intent,
        message="We can come Monday. " + "Details. " * 40 + "Parking must be provided.",
        valid_until=timezone.localdate() + timedelta(days=2),
        line_items=[
            {"description": "Thermostatic mixer tap", "quantity": "1.00", "unit_price": "80.00"}
        ],
    )

    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    confirm = buyer_client.get(f"/offers/{offer.pk}/accept/").content.decode()

    for shown in (page, confirm):
        assert "Parking must be provided." in shown
        assert "Thermostatic mixer tap" in shown
    assert offer.valid_until.strftime("%-d %b %Y") in confirm  # as every date is written


def test_the_buyer_sees_unanswered_questions_first(open_intent: Intent, buyer: Any) -> None:
    answered = Question.objects.create(intent=open_intent, vendor=VendorFactory(), text="First?")
    waiting = Question.objects.create(intent=open_intent, vendor=VendorFactory(), text="Second?")
    question_answer(buyer=buyer, question=answered, answer="Yes.")

    assert list(questions_for_buyer(intent=open_intent)) == [waiting, answered]


def test_a_buyer_e_mail_whose_worker_died_is_sent_by_a_later_sweep(
    open_intent: Intent, vendor: Vendor
) -> None:
    """The claim runs out: a worker killed between its claim and the send loses nothing."""
    OfferFactory(intent=open_intent, vendor=vendor)
    Intent.objects.filter(pk=open_intent.pk).update(buyer_activity_at=timezone.now())
    died_at = timezone.now() - timedelta(minutes=11)
    Intent.objects.filter(pk=open_intent.pk).update(  # as a worker left it, claimed, unsent
        buyer_email_claimed_until=died_at + buyer_mail.EMAIL_CLAIM
    )

    sent = buyers_notify_due()

    assert sent == 1
    [message] = mail.outbox
    assert "1 new offer" in message.body
    intent = Intent.objects.get(pk=open_intent.pk)
    assert intent.buyer_emailed_at is not None and intent.buyer_email_claimed_until is None


def test_a_claimed_buyer_e_mail_is_not_sent_twice(open_intent: Intent, vendor: Vendor) -> None:
    OfferFactory(intent=open_intent, vendor=vendor)
    Intent.objects.filter(pk=open_intent.pk).update(
        buyer_activity_at=timezone.now(),
        buyer_email_claimed_until=timezone.now() + timedelta(minutes=5),  # another sends it
    )

    assert buyers_notify_due() == 0
    assert mail.outbox == []


def test_an_offer_that_arrives_while_the_buyer_s_e_mail_is_written_is_told_once(
    open_intent: Intent, vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offer made after the e-mail's "now" (as one arriving while its claim waited for
    the offer's transaction) is counted, and the next e-mail starts after it: told once."""
    from django.utils import timezone as django_timezone

    offer = OfferFactory(intent=open_intent, vendor=vendor)
    Intent.objects.filter(pk=open_intent.pk).update(buyer_activity_at=timezone.now())
    before_it = offer.created_at - timedelta(seconds=1)
    with monkeypatch.context() as patched:
        patched.setattr(django_timezone, "now", lambda: before_it)
        buyer_notify(intent_id=open_intent.pk)
    Intent.objects.filter(pk=open_intent.pk).update(buyer_activity_at=timezone.now())
    buyer_notify(intent_id=open_intent.pk)  # the next e-mail starts after what was told

    assert ["1 new offer" in message.body for message in mail.outbox] == [True]


def test_the_news_of_a_sealed_intent_says_when_its_offers_can_be_read(
    open_intent: Intent, vendor: Vendor
) -> None:
    Intent.objects.filter(pk=open_intent.pk).update(
        is_sealed=True, buyer_activity_at=timezone.now()
    )
    OfferFactory(intent=open_intent, vendor=vendor)
    OfferFactory(intent=open_intent)

    buyer_notify(intent_id=open_intent.pk)

    [message] = mail.outbox
    assert "You can read and compare the offers after the deadline" in message.body
    assert "Compare and answer" not in message.body
    # How many came is sealed too, as on the buyer's pages.
    assert "Offers came in: sealed until the deadline" in message.body
    assert not re.search(r"^ +\d", message.body, re.MULTILINE)  # no line counts anything


def test_the_news_of_a_sealed_intent_counts_its_questions_alone(
    open_intent: Intent, vendor: Vendor
) -> None:
    Intent.objects.filter(pk=open_intent.pk).update(
        is_sealed=True, buyer_activity_at=timezone.now()
    )
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    offer_revise(offer=offer, vendor=vendor, price=offer.price + 1)
    Question.objects.create(intent=open_intent, vendor=vendor, text="Colour?")

    buyer_notify(intent_id=open_intent.pk)

    [message] = mail.outbox
    assert "1 new question" in message.body
    assert "revised" not in message.body and "1 new offer" not in message.body


def test_a_decided_offer_shows_no_rank_a_live_offer_now_holds(
    buyer_client: Client, open_intent: Intent
) -> None:
    first, second, third = (OfferFactory(intent=open_intent) for _ in range(3))
    buyer_client.post(f"/offers/{third.pk}/move/", {"direction": "up"})  # first, third, second
    buyer_client.post(f"/offers/{first.pk}/decline/", {"reason": "Too dear"})
    buyer_client.post(f"/offers/{second.pk}/move/", {"direction": "up"})  # second, third

    page = buyer_client.get(f"/intents/{open_intent.pk}/?sort=rank").content.decode()

    shown = re.findall(r'id="offer-([^"]+)"[^>]*>\s*<td data-label="My rank">(\S+)', page)
    assert shown == [(str(second.pk), "1"), (str(third.pk), "2"), (str(first.pk), "—")]
