from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from marketplace.models import Category, Vendor
from marketplace.services import api_key_create
from tests.factories import CategoryFactory, UserFactory, VendorFactory, noticed_intent

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
