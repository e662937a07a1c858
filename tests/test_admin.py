"""The admin pages load, search works, and the moderation actions act."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from intents.admin import IntentAdmin
from intents.models import Intent
from marketplace.events import emit, events_dispatch
from marketplace.models import Vendor, WebhookDelivery
from marketplace.services import api_key_create
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create
from tests.factories import OfferFactory, UserFactory, VendorFactory, noticed_intent
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


def test_intent_form_offers_no_field_the_services_keep(admin_client: Client) -> None:
    intent = noticed_intent(VendorFactory())
    html = admin_client.get(f"/admin/intents/intent/{intent.pk}/change/").content.decode()

    assert 'name="title"' in html  # the form is there …
    for kept_by_services in ("criteria_for_vendors", "buyer_activity_at", "needs_matching"):
        assert f'name="{kept_by_services}"' not in html  # … without these inputs


def test_saving_an_intent_in_the_admin_writes_only_what_changed() -> None:
    intent = noticed_intent(VendorFactory())
    in_the_form = Intent.objects.get(pk=intent.pk)  # as loaded for the moderator's form
    news = timezone.now()
    Intent.objects.filter(pk=intent.pk).update(buyer_activity_at=news)  # an offer arrives
    in_the_form.title = "Rewire the workshop (moderated)"
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    IntentAdmin(Intent, admin.site).save_model(
        request, in_the_form, SimpleNamespace(changed_data=["title"]), change=True
    )

    saved = Intent.objects.get(pk=intent.pk)
    assert saved.title == "Rewire the workshop (moderated)"
    assert saved.buyer_activity_at == news  # the buyer still has news
