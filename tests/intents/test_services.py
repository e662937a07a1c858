from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from intents.models import Intent, Notice
from intents.notices import intent_match, notice_send_email, notices_due_for_email
from intents.services import (
    intent_close,
    intent_create,
    intent_expire,
    intent_publish,
    intent_set_hidden,
    intent_update,
    intent_withdraw,
)
from marketplace.codes import currency_choices
from marketplace.errors import CONFLICT, INVALID, DomainError
from marketplace.models import Category, Event
from marketplace.services import vendor_set_suspended
from offers.services import offer_accept
from tests.factories import IntentFactory, NoticeFactory, OfferFactory, VendorFactory

pytestmark = pytest.mark.django_db


def valid_fields(category: Category) -> dict[str, Any]:
    return {
        "title": "Fix my boiler",
        "description": "It makes a noise.",
        "category": category,
        "budget_min": Decimal("100"),
        "budget_max": Decimal("400"),
        "currency": "EUR",
        "country": "DE",
        "offers_close_at": timezone.now() + timedelta(days=3),
    }


def test_create_publishes_with_a_pseudonym_and_timestamp(buyer: Any, category: Category) -> None:
    intent = intent_create(buyer=buyer, **valid_fields(category))

    assert intent.status == Intent.Status.OPEN
    assert intent.published_at is not None
    assert intent.pseudonym
    assert buyer.username not in intent.pseudonym


def test_create_as_draft_then_publish(buyer: Any, category: Category) -> None:
    intent = intent_create(buyer=buyer, publish=False, **valid_fields(category))
    assert intent.status == Intent.Status.DRAFT

    intent_publish(intent=intent)

    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.OPEN


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget_min": Decimal("500"), "budget_max": Decimal("100")}, "budget_max"),
        ({"budget_min": Decimal("-1")}, "budget_min"),
        ({"currency": "JPY", "budget_max": Decimal("400.50")}, "budget_max"),
        ({"offers_close_at": timezone.now() + timedelta(days=366)}, "offers_close_at"),
        ({"needed_by": timezone.localdate() + timedelta(days=1)}, "needed_by"),  # offers: 3 days
        ({"currency": "EUX"}, "currency"),
        ({"country": "XX"}, "country"),
        ({"country": "", "is_remote": False}, "country"),
        ({"offers_close_at": timezone.now() - timedelta(minutes=1)}, "offers_close_at"),
        ({"title": "  "}, "title"),
        ({"quantity": Decimal("0")}, "quantity"),
    ],
)
def test_create_refuses_invalid_fields_and_stores_nothing(
    buyer: Any, category: Category, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        intent_create(buyer=buyer, **(valid_fields(category) | change))

    assert refused.value.kind == INVALID
    assert field in refused.value.errors
    assert Intent.objects.count() == 0


def test_remote_intent_needs_no_country(buyer: Any, category: Category) -> None:
    intent = intent_create(
        buyer=buyer, **(valid_fields(category) | {"country": "", "is_remote": True})
    )
    assert intent.is_remote and intent.country == ""


def test_publish_refuses_a_draft_whose_deadline_passed(buyer: Any) -> None:
    intent = IntentFactory(
        buyer=buyer, status=Intent.Status.DRAFT, offers_close_at=timezone.now() - timedelta(hours=1)
    )
    with pytest.raises(DomainError):
        intent_publish(intent=intent)
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.DRAFT


def test_publish_refuses_an_open_intent(open_intent: Intent) -> None:
    with pytest.raises(DomainError) as refused:
        intent_publish(intent=open_intent)
    assert refused.value.kind == CONFLICT


def test_close_open_intent_stamps_closed_at(open_intent: Intent) -> None:
    intent = intent_close(intent=open_intent)
    assert intent.status == Intent.Status.CLOSED
    assert intent.closed_at is not None


@pytest.mark.parametrize(
    "status", [Intent.Status.DRAFT, Intent.Status.CLOSED, Intent.Status.AWARDED]
)
def test_close_refuses_other_states(status: str) -> None:
    intent = IntentFactory(status=status)
    with pytest.raises(DomainError) as refused:
        intent_close(intent=intent)
    assert refused.value.kind == CONFLICT
    assert Intent.objects.get(pk=intent.pk).status == status


@pytest.mark.parametrize("status", [Intent.Status.OPEN, Intent.Status.CLOSED])
def test_withdraw_from_open_or_closed(status: str) -> None:
    intent = intent_withdraw(intent=IntentFactory(status=status))
    assert intent.status == Intent.Status.WITHDRAWN
    assert intent.withdrawn_at is not None


@pytest.mark.parametrize(
    "status", [Intent.Status.DRAFT, Intent.Status.AWARDED, Intent.Status.WITHDRAWN]
)
def test_withdraw_refuses_other_states(status: str) -> None:
    intent = IntentFactory(status=status)
    with pytest.raises(DomainError):
        intent_withdraw(intent=intent)
    assert Intent.objects.get(pk=intent.pk).status == status


def test_expire_only_from_open() -> None:
    assert intent_expire(intent=IntentFactory()).status == Intent.Status.EXPIRED
    closed = IntentFactory(status=Intent.Status.CLOSED)
    with pytest.raises(DomainError):
        intent_expire(intent=closed)


def test_update_refuses_currency_change_once_published(open_intent: Intent) -> None:
    with pytest.raises(DomainError) as refused:
        intent_update(intent=open_intent, currency="USD")
    assert "currency" in refused.value.errors
    assert Intent.objects.get(pk=open_intent.pk).currency == "EUR"


def test_update_refuses_awarded_intent() -> None:
    intent = IntentFactory(status=Intent.Status.AWARDED)
    with pytest.raises(DomainError) as refused:
        intent_update(intent=intent, title="New")
    assert refused.value.kind == CONFLICT
    assert Intent.objects.get(pk=intent.pk).title == intent.title


def test_update_changes_fields(open_intent: Intent) -> None:
    intent = intent_update(intent=open_intent, title="Better title", budget_max=Decimal("900"))
    stored = Intent.objects.get(pk=intent.pk)
    assert (stored.title, stored.budget_max) == ("Better title", Decimal("900.00"))


# --- Moderation, awards and reinstatement, as vendors hear of them -----------------------


def test_no_vendor_hears_of_a_hidden_intent_its_buyer_keeps_editing(vendor: Any) -> None:
    intent = IntentFactory(category=vendor.categories.get(), country="DE")
    intent_match(intent_id=intent.pk)
    intent_set_hidden(intent=intent, is_hidden=True)

    intent_update(intent=intent, title="BUY CHEAP PILLS", description="spam spam spam")
    intent_withdraw(intent=intent)

    assert set(Event.objects.filter(vendor=vendor).values_list("type", flat=True)) == {
        "intent.matched"
    }


def test_vendors_without_an_offer_hear_that_an_intent_awarded_early_takes_no_more(
    buyer: Any, category: Category
) -> None:
    winner, preparing = VendorFactory(categories=[category]), VendorFactory(categories=[category])
    intent = IntentFactory(buyer=buyer, category=category, country="DE")
    intent_match(intent_id=intent.pk)

    offer_accept(offer=OfferFactory(intent=intent, vendor=winner), buyer=buyer)

    told = Event.objects.filter(vendor=preparing, type="intent.closed").get()
    assert told.payload["intent"]["status"] == Intent.Status.AWARDED


def test_an_intent_closed_before_the_award_is_told_closed_once(
    buyer: Any, category: Category
) -> None:
    vendor = VendorFactory(categories=[category])
    intent = IntentFactory(buyer=buyer, category=category, country="DE")
    intent_match(intent_id=intent.pk)
    offer = OfferFactory(intent=intent, vendor=VendorFactory(categories=[category]))
    intent_close(intent=intent)

    offer_accept(offer=offer, buyer=buyer)

    assert Event.objects.filter(vendor=vendor, type="intent.closed").count() == 1


def test_an_intent_shown_again_is_matched_to_the_vendors_it_missed(
    vendor: Any, django_capture_on_commit_callbacks: Any
) -> None:
    intent = IntentFactory(category=vendor.categories.get(), country="DE", needs_matching=True)
    intent_set_hidden(intent=intent, is_hidden=True)
    intent_match(intent_id=intent.pk)  # matching skips a hidden intent
    assert not Notice.objects.filter(intent=intent).exists()

    with django_capture_on_commit_callbacks(execute=True):
        intent_set_hidden(intent=intent, is_hidden=False)

    assert Notice.objects.filter(intent=intent, vendor=vendor).exists()


def test_a_reinstated_vendor_hears_of_intents_opened_while_it_was_suspended(
    category: Category, django_capture_on_commit_callbacks: Any
) -> None:
    vendor = VendorFactory(categories=[category])
    vendor_set_suspended(vendor=vendor, is_suspended=True)
    intent = IntentFactory(category=category, country="DE")
    intent_match(intent_id=intent.pk)
    assert not Notice.objects.filter(vendor=vendor).exists()

    with django_capture_on_commit_callbacks(execute=True):
        vendor_set_suspended(vendor=vendor, is_suspended=False)

    assert Notice.objects.filter(vendor=vendor, intent=intent).exists()


def test_a_title_is_one_line(buyer: Any, category: Category) -> None:
    with pytest.raises(DomainError) as refused:
        intent_create(buyer=buyer, **valid_fields(category) | {"title": "Fix sink\r\nASAP"})

    assert refused.value.errors["title"] == ["Keep the title to one line."]
    assert not Intent.objects.exists()


def test_a_line_break_in_a_stored_title_does_not_stop_its_notice_emails(vendor: Any) -> None:
    """Titles stored before the rule: the subject is made one line, the e-mail goes."""
    intent = IntentFactory(category=vendor.categories.get(), country="DE", title="Fix sink\r\nASAP")
    (notice,) = intent_match(intent_id=intent.pk)

    notice_send_email(notice_id=notice.pk)

    assert Notice.objects.get(pk=notice.pk).state == Notice.State.DELIVERED
    assert [message.subject for message in mail.outbox] == ["New intent for you: Fix sink ASAP"]


def test_a_vendor_s_notice_e_mail_links_a_page_its_staff_can_open_and_says_how_to_answer(
    vendor: Any, client: Any
) -> None:
    intent = IntentFactory(category=vendor.categories.get(), country="DE")
    (notice,) = intent_match(intent_id=intent.pk)

    notice_send_email(notice_id=notice.pk)

    [message] = mail.outbox
    links = re.findall(r"https?://\S+", message.body)
    assert f"GET {links[0]}" in message.body and links[0].endswith(f"/api/v1/intents/{intent.pk}/")
    assert f'"intent": "{intent.pk}"' in message.body  # what to POST to offers/
    assert client.get(links[-1].replace("https://intentcast.test", "")).status_code == 200  # docs


def test_a_notice_email_no_longer_to_send_is_out_of_the_sweeps_way(category: Category) -> None:
    suspended, active = VendorFactory(categories=[category]), VendorFactory(categories=[category])
    skipped = NoticeFactory(intent=IntentFactory(category=category), vendor=suspended)
    lost = NoticeFactory(intent=IntentFactory(category=category), vendor=active)
    Notice.objects.filter(pk=skipped.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    Notice.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=9))
    vendor_set_suspended(vendor=suspended, is_suspended=True)

    notice_send_email(notice_id=skipped.pk)

    assert mail.outbox == []
    assert notices_due_for_email(limit=1) == [str(lost.pk)]


def test_edits_made_while_hidden_reach_the_noticed_vendors_once_shown_again(vendor: Any) -> None:
    intent = IntentFactory(category=vendor.categories.get(), country="DE")
    intent_match(intent_id=intent.pk)
    intent_set_hidden(intent=intent, is_hidden=True)
    intent_update(intent=intent, title="Whole new scope", description="Changed while hidden.")

    intent_set_hidden(intent=intent, is_hidden=False)
    intent_set_hidden(intent=intent, is_hidden=False)  # twice: nothing more

    told = Event.objects.filter(vendor=vendor, type="intent.updated")
    assert [event.payload["intent"]["title"] for event in told] == ["Whole new scope"]


def test_the_work_may_be_needed_on_the_day_offers_close(buyer: Any, category: Category) -> None:
    fields = valid_fields(category)
    fields["needed_by"] = timezone.localdate(fields["offers_close_at"])

    assert intent_create(buyer=buyer, **fields).needed_by == fields["needed_by"]


def test_the_buyer_chooses_among_currencies_one_pays_in() -> None:
    codes = {code for code, _label in currency_choices()}

    assert {"EUR", "JPY", "XOF", "CHF"} <= codes
    assert not {"XXX", "XTS", "XAU", "CHE", "USN"} & codes
