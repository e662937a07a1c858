"""``Notice.listed`` and ``closes_at``: the vendor's default list is counted and ordered
on notices alone, so both must follow every change of the intent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Intent, Notice
from intents.notices import intent_match
from intents.services import (
    intent_close,
    intent_expire,
    intent_mark_awarded,
    intent_publish,
    intent_set_hidden,
    intent_update,
    intent_withdraw,
)
from marketplace.models import Category, Vendor
from tests.factories import IntentFactory, NoticeFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db


def listed(intent: Intent) -> set[bool]:
    return set(Notice.objects.filter(intent=intent).values_list("listed", flat=True))


def default_list(api: APIClient) -> tuple[int, set[str]]:
    body = api.get("/api/v1/intents/?page_size=100").json()
    return body["count"], {item["id"] for item in body["results"]}


def test_matching_lists_the_vendor_notices_it_makes(category: Category) -> None:
    VendorFactory.create_batch(2, categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE")

    notices = intent_match(intent_id=intent.pk)

    assert len(notices) == 2
    assert listed(intent) == {True}


@pytest.mark.parametrize(
    "change",
    [intent_close, intent_expire, intent_withdraw, intent_mark_awarded],
    ids=["close", "expire", "withdraw", "award"],
)
def test_every_status_change_unlists_the_notices(
    category: Category, change: Callable[..., Intent]
) -> None:
    VendorFactory(categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE")
    intent_match(intent_id=intent.pk)

    change(intent=intent)

    assert listed(intent) == {False}


def test_publishing_a_draft_lists_what_matching_then_makes(
    category: Category, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    VendorFactory(categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE", status=Intent.Status.DRAFT)

    with django_capture_on_commit_callbacks(execute=True):
        intent_publish(intent=intent)  # eager Celery: matching runs on commit

    assert listed(intent) == {True}


def test_hiding_and_showing_again_follow_the_moderator(category: Category) -> None:
    VendorFactory(categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE")
    intent_match(intent_id=intent.pk)

    intent_set_hidden(intent=intent, is_hidden=True)
    assert listed(intent) == {False}
    intent_set_hidden(intent=intent, is_hidden=False)
    assert listed(intent) == {True}


def test_an_admin_edit_of_the_intent_keeps_the_flag(category: Category, rf: RequestFactory) -> None:
    VendorFactory(categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE")
    intent_match(intent_id=intent.pk)
    request = rf.post("/admin/intents/intent/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    intent.is_hidden = True  # the change form's "is hidden" box, ticked
    form = SimpleNamespace(changed_data=["is_hidden"])
    site._registry[Intent].save_model(request, intent, form=form, change=True)

    assert listed(intent) == {False}


def test_the_default_list_counts_what_it_shows_through_every_change(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    vendor.regions, vendor.coverage = ["DE"], ["DE"]
    vendor.save()
    others = [IntentFactory(category=category, country="DE") for _ in range(5)]
    for intent in others:
        NoticeFactory(intent=intent, vendor=vendor)
    shown = {str(intent.pk) for intent in others}
    assert default_list(api) == (5, shown)

    intent_close(intent=others[0])
    intent_withdraw(intent=others[1])
    intent_set_hidden(intent=others[2], is_hidden=True)
    expected = {str(others[3].pk), str(others[4].pk)}

    assert default_list(api) == (2, expected)
    # The same list asked for explicitly is counted by joining the intents: they agree.
    body = api.get("/api/v1/intents/?status=open").json()
    assert (body["count"], {item["id"] for item in body["results"]}) == (2, expected)


def test_the_default_list_is_counted_without_reading_intents(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    for _ in range(3):
        intent = IntentFactory(category=category)
        NoticeFactory(intent=intent, vendor=vendor)

    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/intents/").json()["count"] == 3

    [count] = [query["sql"] for query in queries if "COUNT(" in query["sql"]]
    assert '"intents_notice"' in count
    assert '"intents_intent"' not in count


def test_a_filtered_list_is_counted_by_its_own_query(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    for currency in ("EUR", "EUR", "USD"):
        intent = IntentFactory(category=category, currency=currency)
        NoticeFactory(intent=intent, vendor=vendor)

    body = api.get("/api/v1/intents/?currency=EUR").json()

    assert body["count"] == 2
    assert len(body["results"]) == 2


def test_the_default_list_follows_deadline_changes_in_the_same_order_as_the_filtered_one(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    soon = timezone.now() + timedelta(days=2)
    intents = [
        IntentFactory(category=category, offers_close_at=soon + timedelta(hours=hours))
        for hours in (1, 2, 3)
    ]
    for intent in intents:
        NoticeFactory(intent=intent, vendor=vendor)

    # The last one now closes first.
    intent_update(intent=intents[2], offers_close_at=soon)

    def order(query: str) -> list[str]:
        return [item["id"] for item in api.get(f"/api/v1/intents/{query}").json()["results"]]

    expected = [str(intents[2].pk), str(intents[0].pk), str(intents[1].pk)]
    assert order("") == expected
    assert order("?ordering=offers_close_at") == expected
    assert order("?status=open") == expected  # the filtered path, ordered by the intents
    assert set(Notice.objects.filter(intent=intents[2]).values_list("closes_at", flat=True)) == {
        soon
    }


def test_the_default_list_is_read_in_order_from_the_notices(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    NoticeFactory(intent=IntentFactory(category=category), vendor=vendor)

    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/intents/")

    [page] = [query["sql"] for query in queries if 'FROM "intents_intent"' in query["sql"]]
    assert 'ORDER BY "intents_notice"."closes_at" ASC' in page


def test_relist_notices_repairs_what_older_code_left_behind(
    vendor: Vendor, category: Category
) -> None:
    closed, moved, fine = (IntentFactory(category=category) for _ in range(3))
    for intent in (closed, moved, fine):
        NoticeFactory(intent=intent, vendor=vendor)
    later = timezone.now() + timedelta(days=20)
    # What code that does not relist would leave: changes behind the notices' back.
    Intent.objects.filter(pk=closed.pk).update(
        status=Intent.Status.CLOSED, closed_at=timezone.now()
    )
    Intent.objects.filter(pk=moved.pk).update(offers_close_at=later)
    Notice.objects.filter(intent=fine).update(closes_at=None)

    out = StringIO()
    call_command("relist_notices", stdout=out)

    assert out.getvalue().strip() == "3 intent(s) relisted."
    assert listed(closed) == {False}
    assert set(Notice.objects.filter(intent=moved).values_list("closes_at", flat=True)) == {later}
    assert Notice.objects.get(intent=fine).closes_at == fine.offers_close_at
    call_command("relist_notices", stdout=out)
    assert out.getvalue().strip().endswith("0 intent(s) relisted.")


def test_hiding_copies_the_current_deadline_not_the_callers_stale_one(category: Category) -> None:
    VendorFactory(categories=[category], regions=["DE"])
    intent = IntentFactory(category=category, country="DE")
    intent_match(intent_id=intent.pk)
    stale = Intent.objects.get(pk=intent.pk)  # loaded by the admin page, say
    intent_update(intent=intent, offers_close_at=intent.offers_close_at + timedelta(days=3))

    intent_set_hidden(intent=stale, is_hidden=True)
    intent_set_hidden(intent=stale, is_hidden=False)

    intent.refresh_from_db()
    notice = Notice.objects.get(intent=intent)
    assert (notice.listed, notice.closes_at) == (True, intent.offers_close_at)
