from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from rest_framework.test import APIClient

from intents import services as intent_services
from marketplace import accounts, organizations, webhooks
from marketplace.models import Category, Vendor
from marketplace.services import api_key_create
from tests import receiver
from tests.factories import (
    BUYER_EMAIL_DOMAIN,
    CategoryFactory,
    UserFactory,
    VendorFactory,
    noticed_intent,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_postgresql() -> None:
    """Races and row locks are only meaningful on PostgreSQL (CI always has it)."""
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("CI must run this test on PostgreSQL: set DATABASE_URL.")
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")


def require_chromium() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(path):
        if IN_CI:
            pytest.fail(f"CI must run browser tests: {path} is missing.")
        pytest.skip(f"needs Chromium at {path} (apt-get install chromium)")
    return path


# --- The buyer's identity never reaches a vendor --------------------------------
# Every vendor-facing payload the suite produces — API responses to a vendor's
# key, webhook bodies, notice e-mails — is checked for factory-made people's
# usernames and e-mail addresses. Only the fields where a buyer chose to share
# (buyer_identity after a reveal, buyer_contact after an award) are exempt.
VENDOR_FACING_CHECKED = {"payloads": 0}
SHARED_BY_CHOICE = ("buyer_identity", "buyer_contact")
IDENTITY = re.compile(rf"\bbuyer\d+\b|@{re.escape(BUYER_EMAIL_DOMAIN)}")


def _without_shared_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_shared_fields(v) for k, v in value.items() if k not in SHARED_BY_CHOICE}
    if isinstance(value, list):
        return [_without_shared_fields(item) for item in value]
    return value


def assert_no_buyer_identity(where: str, body: bytes | str) -> None:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    with contextlib.suppress(ValueError):
        text = json.dumps(_without_shared_fields(json.loads(text)))
    VENDOR_FACING_CHECKED["payloads"] += 1
    leak = IDENTITY.search(text)
    assert leak is None, (
        f"buyer identity {leak.group(0)!r} in a vendor-facing {where}: {text[:500]}"
    )


@pytest.fixture(autouse=True)
def buyer_identity_never_reaches_vendors(monkeypatch: pytest.MonkeyPatch) -> Any:
    original = APIClient.request
    webhook_bodies_before = len(receiver.ALL_BODIES)

    def request_and_check(self: APIClient, **kwargs: Any) -> Any:
        response = original(self, **kwargs)
        if self._credentials.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
            assert_no_buyer_identity(f"API response ({kwargs.get('PATH_INFO')})", response.content)
        return response

    monkeypatch.setattr(APIClient, "request", request_and_check)
    yield
    for body in receiver.ALL_BODIES[webhook_bodies_before:]:
        assert_no_buyer_identity("webhook body", body)
    for message in mail.outbox:
        if message.subject.startswith("New intent for you"):
            assert_no_buyer_identity("notice e-mail", f"{message.subject}\n{message.body}")


@pytest.fixture(autouse=True)
def account_mails_counted_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts its account and invitation e-mails, its deliveries sent by hand
    and its intents published from zero, in one hour's window (the account and
    invitation e-mails): its own counters, which no other test or run (sharing Redis)
    reads or clears."""
    run = uuid.uuid4()
    monkeypatch.setattr(accounts, "MAIL_COUNTER_PREFIX", f"test-account-mails:{run}:")
    monkeypatch.setattr(organizations, "INVITATION_COUNTER_PREFIX", f"test-invitations:{run}:")
    monkeypatch.setattr(webhooks, "MANUAL_SENDS_COUNTER_PREFIX", f"test-manual-sends:{run}:")
    monkeypatch.setattr(intent_services, "PUBLISHED_COUNTER_PREFIX", f"test-published:{run}:")
    monkeypatch.setattr(intent_services, "TOLD_CHANGES_COUNTER_PREFIX", f"test-told:{run}:")
    hour = accounts.this_hour()
    monkeypatch.setattr(accounts, "this_hour", lambda: hour)
    monkeypatch.setattr(organizations, "this_hour", lambda: hour)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"buyer-identity guard: {VENDOR_FACING_CHECKED['payloads']} vendor-facing payloads checked"
    )


@pytest.fixture
def category(db: None) -> Category:
    return CategoryFactory(slug="plumbing", name="Plumbing")


@pytest.fixture
def vendor(category: Category) -> Vendor:
    return VendorFactory(categories=[category])


@pytest.fixture
def buyer(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def open_intent(buyer: Any, category: Category, vendor: Vendor) -> Any:
    """An open intent the ``vendor`` fixture was matched to."""
    return noticed_intent(vendor, buyer=buyer, category=category)


@pytest.fixture
def vendor_client() -> Callable[[Vendor], APIClient]:
    """An API client authenticated with a fresh key of the given vendor."""

    def make(vendor: Vendor) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
        return client

    return make


@pytest.fixture
def api(vendor: Vendor, vendor_client: Callable[[Vendor], APIClient]) -> APIClient:
    return vendor_client(vendor)
