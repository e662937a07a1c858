"""The vendor's inbox, event feed and webhook endpoints over the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from intents.models import Intent, Notice
from intents.notices import intent_match, notice_send_email
from intents.services import intent_close
from marketplace.events import emit, events_dispatch
from marketplace.models import Category, Event, Vendor, WebhookEndpoint
from tests.factories import IntentFactory, NoticeFactory, UserFactory, VendorFactory
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


def test_notices_list_filter_unread_and_mark_read(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    other = NoticeFactory(vendor=vendor)
    NoticeFactory()  # another vendor's notice

    body = api.get("/api/v1/notices/").json()
    assert body["count"] == 2
    assert {item["intent"]["id"] for item in body["results"]} == {
        str(open_intent.pk),
        str(other.intent_id),
    }
    first = body["results"][0]
    assert first["reasons"] == ["category: plumbing", "region: DE"]
    assert first["unread"] is True

    response = api.post(f"/api/v1/notices/{other.pk}/read/")
    assert response.status_code == 200
    assert response.json()["unread"] is False

    unread = api.get("/api/v1/notices/?unread=true").json()["results"]
    assert [item["id"] for item in unread] == [
        str(Notice.objects.get(intent=open_intent, vendor=vendor).pk)
    ]


def test_cannot_read_another_vendors_notice(api: APIClient) -> None:
    theirs = NoticeFactory()
    assert api.post(f"/api/v1/notices/{theirs.pk}/read/").status_code == 404
    assert Notice.objects.get(pk=theirs.pk).read_at is None


def test_notice_email_goes_to_staff_without_the_buyer(category: Category) -> None:
    vendor = VendorFactory(categories=[category])
    UserFactory(vendor=vendor, email="staff@vendor.test")
    intent = IntentFactory(category=category)
    [notice] = intent_match(intent_id=intent.pk)

    notice_send_email(notice_id=notice.pk)
    notice_send_email(notice_id=notice.pk)  # a second run sends nothing more

    # A message each: a vendor's staff do not see each other's addresses.
    assert sorted(m.to for m in mail.outbox) == sorted(
        [["staff@vendor.test"], [vendor.contact_email]]
    )
    message = mail.outbox[0]
    assert intent.title in message.subject
    assert intent.pseudonym in message.body
    assert "category: plumbing" in message.body
    assert f"GET https://intentcast.test/api/v1/intents/{intent.pk}/" in message.body
    assert intent.buyer.email not in message.body and intent.buyer.username not in message.body
    assert Notice.objects.get(pk=notice.pk).state == Notice.State.DELIVERED


def test_event_feed_never_misses_or_repeats(api: APIClient, vendor: Vendor) -> None:
    for n in range(5):
        emit(vendor_id=vendor.pk, type="intent.closed", payload={"n": n}, dedupe_key=f"e{n}")
    emit(vendor_id=VendorFactory().pk, type="intent.closed", payload={}, dedupe_key="other")
    events_dispatch()

    seen: list[int] = []
    cursor = "0"
    for _ in range(10):
        body = api.get(f"/api/v1/events/?after={cursor}&limit=2").json()
        seen.extend(item["data"]["n"] for item in body["results"])
        if not body["results"]:
            break
        cursor = body["next"]
    assert seen == [0, 1, 2, 3, 4]

    emit(vendor_id=vendor.pk, type="intent.closed", payload={"n": 5}, dedupe_key="e5")
    events_dispatch()
    body = api.get(f"/api/v1/events/?after={cursor}").json()
    assert [item["data"]["n"] for item in body["results"]] == [5]
    assert body["results"][0]["type"] == "intent.closed"


def test_undispatched_events_are_not_in_the_feed_yet(api: APIClient, vendor: Vendor) -> None:
    emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="x")
    assert api.get("/api/v1/events/").json()["results"] == []
    events_dispatch()
    assert len(api.get("/api/v1/events/").json()["results"]) == 1


@pytest.mark.parametrize("query", ["after=-1", "after=abc", "limit=0", "limit=501"])
def test_event_feed_bad_cursor_is_400(api: APIClient, query: str) -> None:
    response = api.get(f"/api/v1/events/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_closing_tells_noticed_vendors(vendor: Vendor, open_intent: Intent) -> None:
    intent_close(intent=open_intent)
    event = Event.objects.get(vendor=vendor, type="intent.closed")
    assert event.payload["intent"]["status"] == "closed"


def test_webhook_endpoint_crud_and_secret_shown_once(
    api: APIClient, vendor: Vendor, vendor_client: Callable[[Vendor], APIClient]
) -> None:
    created = api.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.test/in", "event_types": ["offer.accepted"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    endpoint_id = body["id"]

    read = api.get(f"/api/v1/webhooks/{endpoint_id}/").json()
    assert "secret" not in read
    assert "secret" not in str(api.get("/api/v1/webhooks/").json())

    patched = api.patch(f"/api/v1/webhooks/{endpoint_id}/", {"is_active": False}, format="json")
    assert patched.json()["is_active"] is False

    other = vendor_client(VendorFactory())
    assert other.get(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404
    assert other.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404

    assert api.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"url": "not a url"},
        {"url": "https://ok.test", "event_types": ["intent.exploded"]},
        {"url": "https://ok.test", "secret": "whsec_mine"},
        {},
    ],
)
def test_webhook_create_refuses_bad_input(api: APIClient, payload: dict[str, Any]) -> None:
    response = api.post("/api/v1/webhooks/", payload, format="json")
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_webhook_create_refuses_private_address(api: APIClient, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    response = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:8080/"}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_webhook_test_and_delivery_log(api: APIClient) -> None:
    with webhook_receiver() as receiver:
        endpoint = api.post("/api/v1/webhooks/", {"url": receiver.url}, format="json").json()
        result = api.post(f"/api/v1/webhooks/{endpoint['id']}/test/").json()
    assert result["status"] == "succeeded"
    assert result["last_status_code"] == 200
    assert result["event_type"] == "webhook.test"
    assert receiver.received[0].headers["webhook-id"] == result["webhook_id"]

    log = api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/").json()
    assert log["count"] == 1
    assert log["results"][0]["log"][0]["status_code"] == 200
    # Test pings are not part of the event feed.
    events_dispatch()
    assert api.get("/api/v1/events/").json()["results"] == []
