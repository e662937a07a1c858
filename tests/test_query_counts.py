"""Every list, in the API and on a page, reads a constant number of queries (DESIGN §9).

Each case fills a list with one row, then with many, and asserts the same
queries ran both times — and that the rows are really in the answer, so the
count cannot be equal because both were empty. The vendor's intent and offer
lists, the buyer's intent pages and the organizations' pages have their own
tests beside their features.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Intent
from marketplace.models import (
    AuditEntry,
    Category,
    Event,
    User,
    Vendor,
    VendorBlock,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from marketplace.privacy import audit
from marketplace.services import api_key_create, api_key_revoke
from offers.models import Offer, Question
from tests.factories import (
    CategoryFactory,
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    UserFactory,
    VendorFactory,
    noticed_intent,
)

pytestmark = pytest.mark.django_db

MANY = 30
positions = itertools.count(1)


def endpoint_of(vendor: Vendor) -> WebhookEndpoint:
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        vendor=vendor,
        url="https://hooks.example.com/intentcast",
        defaults={"secret": "whsec_" + "0" * 32},
    )
    return endpoint


def add_notice(vendor: Vendor, category: Category) -> None:
    NoticeFactory(vendor=vendor, intent=IntentFactory(category=category))


def add_event(vendor: Vendor, category: Category) -> None:
    Event.objects.create(
        vendor=vendor,
        type="intent.matched",
        payload={"intent": {"id": str(uuid.uuid4())}},
        dedupe_key=str(uuid.uuid4()),
        position=next(positions),
    )


def add_question(vendor: Vendor, category: Category) -> None:
    intent = Intent.objects.filter(notices__vendor=vendor).first() or noticed_intent(
        vendor, category=category
    )
    Question.objects.create(intent=intent, vendor=vendor, text="Is parking free?")
    # Another vendor's answered question is shown too (without who asked).
    Question.objects.create(
        intent=intent,
        vendor=OfferFactory(intent=intent).vendor,
        text="Weekends?",
        answer="Yes.",
        answered_at=timezone.now(),
    )


def add_webhook(vendor: Vendor, category: Category) -> None:
    WebhookEndpoint.objects.create(
        vendor=vendor, url=f"https://hooks.example.com/{uuid.uuid4()}", secret="whsec_" + "1" * 32
    )


def add_delivery(vendor: Vendor, category: Category) -> None:
    event = Event.objects.create(
        vendor=vendor, type="offer.accepted", payload={}, dedupe_key=str(uuid.uuid4())
    )
    delivery = WebhookDelivery.objects.create(
        event=event, endpoint=endpoint_of(vendor), message_id=f"msg_{uuid.uuid4().hex}"
    )
    for status_code in (500, 200):
        WebhookAttempt.objects.create(delivery=delivery, status_code=status_code, latency_ms=40)


def add_category(vendor: Vendor, category: Category) -> None:
    CategoryFactory(parent=category)


def questions_url(vendor: Vendor) -> str:
    intent = Intent.objects.filter(notices__vendor=vendor).first()
    return f"/api/v1/intents/{intent.pk}/questions/?page_size=100"


def deliveries_url(vendor: Vendor) -> str:
    return f"/api/v1/webhooks/{endpoint_of(vendor).pk}/deliveries/"


def rows(body: Any) -> int:
    return len(body["results"] if isinstance(body, dict) else body)


VENDOR_LISTS = {
    "notices": (lambda vendor: "/api/v1/notices/", add_notice, 1),
    "events": (lambda vendor: "/api/v1/events/?after=0&limit=500", add_event, 1),
    "questions": (questions_url, add_question, 2),
    "webhooks": (lambda vendor: "/api/v1/webhooks/", add_webhook, 1),
    "deliveries": (deliveries_url, add_delivery, 1),
    "categories": (lambda vendor: "/api/v1/categories/?page_size=100", add_category, 1),
}


@pytest.mark.parametrize("name", VENDOR_LISTS)
def test_vendor_list_query_count_is_constant(
    name: str,
    vendor: Vendor,
    category: Category,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    url_of, add, rows_per_add = VENDOR_LISTS[name]
    client = vendor_client(vendor)
    add(vendor, category)
    url = url_of(vendor)
    client.get(url)  # warm: marks the key used
    with CaptureQueriesContext(connection) as one:
        few = rows(client.get(url).json())
    for _ in range(MANY):
        add(vendor, category)
    with CaptureQueriesContext(connection) as many:
        more = rows(client.get(url).json())

    assert more == few + MANY * rows_per_add, (few, more)
    assert len(one) == len(many), [query["sql"] for query in many]


def test_buyer_data_export_query_count_is_constant(category: Category) -> None:
    buyer = UserFactory()
    client = Client()
    client.force_login(buyer)

    def add_intent_with_offers() -> None:
        intent = IntentFactory(buyer=buyer, category=category)
        for _ in range(3):
            OfferFactory(intent=intent)

    add_intent_with_offers()
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/me/export/").status_code == 200
    for _ in range(MANY):
        add_intent_with_offers()
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/v1/me/export/").status_code == 200

    assert Offer.objects.filter(intent__buyer=buyer).count() == 3 * (MANY + 1)
    assert len(one) == len(many), [query["sql"] for query in many]


def add_block_and_audit_entry(person: User, vendor: Vendor) -> None:
    VendorBlock.objects.create(buyer=person, vendor=VendorFactory())
    audit(
        user_id=person.pk, action=AuditEntry.Action.DATA_EXPORTED, detail="You exported your data."
    )


def add_api_key(person: User, vendor: Vendor) -> None:
    # Revoked as soon as made, as a vendor rotating its keys: at most 20 are in use.
    api_key_revoke(
        api_key=api_key_create(vendor=vendor, name=f"key {uuid.uuid4().hex[:6]}").api_key
    )


def add_webhook_of(person: User, vendor: Vendor) -> None:
    add_webhook(vendor, vendor.categories.first())


def add_delivery_of(person: User, vendor: Vendor) -> None:
    add_delivery(vendor, vendor.categories.first())


WEB_PAGES = {
    "my data": (lambda vendor: "/me/", add_block_and_audit_entry, "You exported your data."),
    "vendor keys": (lambda vendor: "/vendor/keys/", add_api_key, "key "),
    "vendor webhooks": (lambda vendor: "/vendor/webhooks/", add_webhook_of, "hooks.example.com/"),
    "webhook log": (
        lambda vendor: f"/vendor/webhooks/{endpoint_of(vendor).pk}/",
        add_delivery_of,
        "offer.accepted",
    ),
}


@pytest.mark.parametrize("name", WEB_PAGES)
def test_web_page_query_count_is_constant(name: str, vendor: Vendor) -> None:
    url_of, add, shown = WEB_PAGES[name]
    person = UserFactory(vendor=vendor)
    client = Client()
    client.force_login(person)
    add(person, vendor)
    url = url_of(vendor)
    with CaptureQueriesContext(connection) as one:
        few = client.get(url).content.decode().count(shown)
    for _ in range(MANY):
        add(person, vendor)
    with CaptureQueriesContext(connection) as many:
        more = client.get(url).content.decode().count(shown)

    assert more >= few + MANY, (few, more)
    assert len(one) == len(many), [query["sql"] for query in many]
