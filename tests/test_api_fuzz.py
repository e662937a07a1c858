"""Schemathesis fuzzes every operation of the OpenAPI schema, in-process, as a vendor.

Fails on any 5xx and on any response the schema does not describe (status
code, content type, headers, body). Valid path ids are swapped for the seeded
objects' so that the requests reach the business rules, not just the 404s.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from intents.models import Criterion, Intent, Notice
from intents.services import intent_copy_details
from marketplace.events import emit, events_dispatch
from marketplace.models import Category, Vendor, WebhookEndpoint
from marketplace.services import api_key_create
from marketplace.webhooks import webhook_endpoint_create, webhook_send_test
from offers.models import Offer, Question
from tests.factories import CategoryFactory, OfferFactory, VendorFactory, noticed_intent

# Per operation: enough to cover each while the whole run stays near a minute.
# Explore further locally with FUZZ_EXAMPLES=1000 FUZZ_RANDOM=1.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# CI runs the same examples every time, so that a red build is reproducible.
DERANDOMIZE = not os.environ.get("FUZZ_RANDOM")

# Not ``negative_data_rejection``: it also flags DRF accepting 0 for a string
# field (as "0"), ignoring unknown or empty query parameters, and the like.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Seeded:
    """A vendor with something behind every path parameter."""

    vendor: Vendor
    raw_key: str
    ids: dict[str, str]


# Loaded at collection: serving the schema needs no database. (Not the lazy
# ``schemathesis.pytest.from_fixture``: it does not run on pytest 9.2.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does.

    Schemathesis calls the WSGI application directly, and Django closes the
    connection after each request (CONN_MAX_AGE = 0), which would end the
    test's transaction on PostgreSQL.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db: None, keep_test_connection: None, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    # Fuzzed webhook URLs go nowhere: every delivery "succeeds" without a network.
    monkeypatch.setattr(
        "marketplace.webhooks.httpx.post",
        lambda url, **kwargs: httpx.Response(204, request=httpx.Request("POST", url)),
    )
    category: Category = CategoryFactory(slug="plumbing", name="Plumbing")
    CategoryFactory(slug="taps", name="Taps", parent=category)
    vendor = VendorFactory(categories=[category], regions=["DE", "FR"], keywords=["boiler"])
    with_offer = noticed_intent(vendor, category=category, title="Fix the boiler")
    Criterion.objects.create(
        intent=with_offer, key="warranty", name="Warranty", kind=Criterion.Kind.YES_NO, weight=2
    )
    intent_copy_details(intent=with_offer)
    without_offer = noticed_intent(vendor, category=category, title="New taps")
    noticed_intent(vendor, category=category, status=Intent.Status.CLOSED)
    offer = OfferFactory(
        intent=with_offer,
        vendor=vendor,
        delivery_date=(with_offer.offers_close_at + timedelta(days=3)).date(),
    )
    OfferFactory(intent=with_offer)  # another vendor's, never visible
    Question.objects.create(
        intent=with_offer,
        vendor=vendor,
        text="Which brand?",
        answer="Any.",
        answered_at=with_offer.created_at,
    )
    endpoint = webhook_endpoint_create(vendor=vendor, url="http://127.0.0.1:9/hooks")
    emit(
        vendor_id=vendor.pk,
        type="intent.matched",
        payload={"intent": {"id": str(with_offer.pk)}},
        dedupe_key=f"seed:{with_offer.pk}",
    )
    events_dispatch()
    webhook_send_test(endpoint=endpoint)
    notice = Notice.objects.get(vendor=vendor, intent=with_offer)
    return Seeded(
        vendor=vendor,
        raw_key=api_key_create(vendor=vendor).raw_key,
        ids={
            "/api/v1/intents/{id}/": str(without_offer.pk),
            "/api/v1/intents/{intent_id}/questions/": str(with_offer.pk),
            "/api/v1/notices/{id}/": str(notice.pk),
            "/api/v1/notices/{id}/read/": str(notice.pk),
            "/api/v1/offers/{id}/": str(offer.pk),
            "/api/v1/offers/{id}/withdraw/": str(offer.pk),
            "/api/v1/webhooks/{id}/": str(endpoint.pk),
            "/api/v1/webhooks/{id}/deliveries/": str(endpoint.pk),
            "/api/v1/webhooks/{id}/test/": str(endpoint.pk),
            "/api/v1/webhooks/{id}/rotate-secret/": str(endpoint.pk),
        },
    )


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=DERANDOMIZE,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_schema(case: Any, seeded: Seeded) -> None:
    # A well-formed id becomes a seeded object's; a malformed one stays, to be refused.
    seeded_id = seeded.ids.get(case.path)
    if seeded_id and case.path_parameters:
        case.path_parameters = {
            name: seeded_id if _is_uuid(value) else value
            for name, value in case.path_parameters.items()
        }
    case.call_and_validate(
        headers={"Authorization": f"Bearer {seeded.raw_key}"},
        checks=CHECKS,
    )


def test_the_schema_lists_every_operation() -> None:
    operations = {
        f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()
    }
    assert len(operations) == 25
    assert "POST /api/v1/offers/" in operations
    assert "DELETE /api/v1/webhooks/{id}/" in operations


def test_seed_covers_every_path_with_an_id(seeded: Seeded) -> None:
    with_ids = {
        result.ok().path for result in schema.get_all_operations() if "{" in result.ok().path
    }
    assert with_ids == set(seeded.ids)
    assert Offer.objects.filter(vendor=seeded.vendor).count() == 1
    assert WebhookEndpoint.objects.filter(vendor=seeded.vendor).count() == 1
