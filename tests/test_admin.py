"""The admin pages load, search works, and the moderation actions act."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from intents.models import Intent
from marketplace.models import Vendor
from marketplace.services import api_key_create
from tests.factories import OfferFactory, UserFactory, noticed_intent

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
