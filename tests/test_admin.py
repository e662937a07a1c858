"""The admin pages load, search works, and the moderation actions act."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from intents.models import Intent
from marketplace.events import emit, events_dispatch
from marketplace.models import Vendor, WebhookDelivery
from marketplace.services import api_key_create
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create
from tests.factories import OfferFactory, UserFactory, noticed_intent
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/marketplace/user/",
        "/admin/marketplace/category/",
        "/admin/marketplace/vendor/",
        "/admin/marketplace/apikey/",
        "/admin/intents/intent/",
        "/admin/offers/offer/",
        "/admin/intents/notice/",
        "/admin/marketplace/event/",
        "/admin/marketplace/webhookendpoint/",
        "/admin/marketplace/webhookdelivery/",
        "/admin/marketplace/vendorblock/",
        "/admin/marketplace/organization/",
        "/admin/marketplace/membership/",
        "/admin/marketplace/invitation/",
        "/admin/marketplace/skillprofile/",
        "/admin/marketplace/experienceentry/",
        "/admin/offers/proposalcoauthor/",
        "/admin/offers/rewardentry/",
    ],
)
def test_changelists_load_with_search(admin_client: Client, path: str) -> None:
    OfferFactory()
    assert admin_client.get(path).status_code == 200
    assert admin_client.get(path, {"q": "x"}).status_code == 200


def test_suspend_action_stops_the_keys(admin_client: Client, vendor: Vendor) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
    assert api.get("/api/v1/vendor/").status_code == 200

    admin_client.post(
        "/admin/marketplace/vendor/",
        {"action": "suspend", "_selected_action": [str(vendor.pk)]},
    )

    assert Vendor.objects.get(pk=vendor.pk).is_suspended is True
    assert api.get("/api/v1/vendor/").status_code == 401


def test_verify_action(admin_client: Client, vendor: Vendor) -> None:
    admin_client.post(
        "/admin/marketplace/vendor/", {"action": "verify", "_selected_action": [str(vendor.pk)]}
    )
    assert Vendor.objects.get(pk=vendor.pk).is_verified is True


def test_hide_action_removes_intent_from_vendors(admin_client: Client, vendor: Vendor) -> None:
    intent = noticed_intent(vendor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
    assert api.get(f"/api/v1/intents/{intent.pk}/").status_code == 200

    admin_client.post(
        "/admin/intents/intent/", {"action": "hide", "_selected_action": [str(intent.pk)]}
    )

    assert Intent.objects.get(pk=intent.pk).is_hidden is True
    assert api.get(f"/api/v1/intents/{intent.pk}/").status_code == 404


def test_redeliver_action_resends_with_the_same_id(admin_client: Client, vendor: Vendor) -> None:
    with webhook_receiver() as receiver:
        webhook_endpoint_create(vendor=vendor, url=receiver.url)
        emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="admin")
        events_dispatch()
        delivery = WebhookDelivery.objects.get()
        webhook_deliver(delivery_id=delivery.pk)
        assert (
            admin_client.get(
                f"/admin/marketplace/webhookdelivery/{delivery.pk}/change/"
            ).status_code
            == 200
        )

        admin_client.post(
            "/admin/marketplace/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
        )

        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.message_id] * 2
    assert WebhookDelivery.objects.get().attempts == 2
