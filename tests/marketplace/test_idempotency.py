"""Idempotency-Key on the three POSTs that create something (DESIGN §5)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Intent
from marketplace.idempotency import CLAIM_TIMEOUT, idempotency_keys_delete_expired
from marketplace.models import IdempotencyKey, Vendor, WebhookEndpoint
from marketplace.tasks import delete_expired_idempotency_keys
from offers.api import views as offer_views
from offers.models import Offer, Question
from tests.conftest import require_postgresql
from tests.factories import VendorFactory, noticed_intent

PROBLEM = "application/problem+json"


def offer_body(intent: Intent, price: str = "240.00") -> dict[str, Any]:
    return {
        "intent": str(intent.pk),
        "price": price,
        "currency": intent.currency,
        "delivery_date": (timezone.localdate() + timedelta(days=5)).isoformat(),
    }


# (path, body, model, changed body) for each create endpoint.
Create = tuple[str, dict[str, Any], type, dict[str, Any]]


def creates(intent: Intent) -> list[Create]:
    return [
        ("/api/v1/offers/", offer_body(intent), Offer, offer_body(intent, "1.00")),
        (
            f"/api/v1/intents/{intent.pk}/questions/",
            {"text": "Is parking available?"},
            Question,
            {"text": "Is there a lift?"},
        ),
        (
            "/api/v1/webhooks/",
            {"url": "http://127.0.0.1:9/hook", "description": "ops"},
            WebhookEndpoint,
            {"url": "http://127.0.0.1:9/other"},
        ),
    ]


ENDPOINTS = ["offers", "questions", "webhooks"]


def post(client: APIClient, path: str, body: dict[str, Any], key: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, body, format="json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_same_key_and_body_replays_the_first_response(
    api: APIClient, open_intent: Intent, endpoint: str
) -> None:
    path, body, model, _ = creates(open_intent)[ENDPOINTS.index(endpoint)]

    first = post(api, path, body, "key-1")
    again = post(api, path, body, "key-1")

    assert first.status_code == 201, first.content
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert model.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_same_key_other_body_is_422_and_creates_nothing(
    api: APIClient, open_intent: Intent, endpoint: str
) -> None:
    path, body, model, changed = creates(open_intent)[ENDPOINTS.index(endpoint)]
    assert post(api, path, body, "key-1").status_code == 201

    response = post(api, path, changed, "key-1")

    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 422
    assert "Idempotency-Key" in response.json()["errors"]
    assert model.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_key_in_flight_is_409(api: APIClient, open_intent: Intent, endpoint: str) -> None:
    path, body, model, _ = creates(open_intent)[ENDPOINTS.index(endpoint)]
    assert post(api, path, body, "key-1").status_code == 201
    # As if that first request were still running: claimed, not answered, nothing committed.
    model.objects.all().delete()
    IdempotencyKey.objects.update(completed_at=None, status_code=None, response_body=None)

    response = post(api, path, body, "key-1")

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    # Its own type, and when to send it again: a state's 409 is final, this one is not.
    assert response.json()["type"] == "/api/v1/problems/retry"
    assert response["Retry-After"] == "1"
    assert model.objects.count() == 0


@pytest.mark.django_db
def test_claim_of_a_request_that_died_is_taken_over(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    body = offer_body(open_intent)
    first = post(api, "/api/v1/offers/", body, "key-1")
    # As if that request had died before answering: the offer rolled back with it.
    Offer.objects.all().delete()
    IdempotencyKey.objects.update(
        completed_at=None,
        status_code=None,
        response_body=None,
        claimed_at=timezone.now() - CLAIM_TIMEOUT - timedelta(seconds=1),
    )

    retry = post(api, "/api/v1/offers/", body, "key-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert Offer.objects.count() == 1
    assert IdempotencyKey.objects.get().completed_at is not None


@pytest.mark.django_db
def test_a_failed_request_does_not_spend_its_key(api: APIClient, open_intent: Intent) -> None:
    refused = post(api, "/api/v1/offers/", offer_body(open_intent, "-1.00"), "key-1")
    assert refused.status_code == 400
    assert IdempotencyKey.objects.count() == 0

    accepted = post(api, "/api/v1/offers/", offer_body(open_intent), "key-1")
    assert accepted.status_code == 201
    assert Offer.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_vendor(
    api: APIClient,
    vendor_client: Callable[[Vendor], APIClient],
    vendor: Vendor,
    open_intent: Intent,
) -> None:
    other = VendorFactory()
    noticed = noticed_intent(other, category=open_intent.category)
    assert post(api, "/api/v1/offers/", offer_body(open_intent), "shared").status_code == 201

    response = post(vendor_client(other), "/api/v1/offers/", offer_body(noticed), "shared")

    assert response.status_code == 201
    assert Offer.objects.filter(vendor=other).count() == 1


@pytest.mark.django_db
def test_without_a_key_every_post_creates(api: APIClient) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://127.0.0.1:9/other-hook"):
        assert post(api, "/api/v1/webhooks/", {"url": url}, None).status_code == 201
    assert WebhookEndpoint.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "naïve"])
def test_invalid_key_is_400(api: APIClient, key: str) -> None:
    response = api.post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook"},
        format="json",
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "Idempotency-Key" in response.json()["errors"]
    assert WebhookEndpoint.objects.count() == 0


@pytest.mark.django_db
def test_longest_key_is_accepted(api: APIClient) -> None:
    response = post(api, "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook"}, "k" * 255)
    assert response.status_code == 201


@pytest.mark.django_db
def test_expired_keys_are_deleted_after_24_hours(api: APIClient, vendor: Vendor) -> None:
    now = timezone.now()
    for key, age in (("old", timedelta(hours=25)), ("young", timedelta(hours=23))):
        record = IdempotencyKey.objects.create(
            vendor=vendor, key=key, request_fingerprint="f", claimed_at=now
        )
        IdempotencyKey.objects.filter(pk=record.pk).update(created_at=now - age)

    assert delete_expired_idempotency_keys() == 1
    assert delete_expired_idempotency_keys() == 0  # runs twice harmlessly
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]
    assert idempotency_keys_delete_expired(now=now + timedelta(hours=2)) == 1


# --- PostgreSQL: real concurrency --------------------------------------------------------


def run_in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call in its own thread at once; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_once(
    vendor_client: Callable[[Vendor], APIClient], vendor: Vendor, open_intent: Intent
) -> None:
    require_postgresql()
    body = offer_body(open_intent)
    clients = [vendor_client(vendor) for _ in range(6)]

    responses = run_in_threads(
        [lambda client=client: post(client, "/api/v1/offers/", body, "race") for client in clients]
    )

    statuses = sorted(response.status_code for response in responses)
    created = [response for response in responses if response.status_code == 201]
    assert set(statuses) <= {201, 409}
    # One ran; the others were refused while it ran, or replayed its answer.
    assert len({response.content for response in created}) == 1
    assert len([r for r in created if "Idempotent-Replayed" not in r]) == 1
    assert Offer.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_second_request_while_the_first_runs_is_409_then_replays(
    monkeypatch: pytest.MonkeyPatch,
    vendor_client: Callable[[Vendor], APIClient],
    vendor: Vendor,
    open_intent: Intent,
) -> None:
    require_postgresql()
    entered, release = threading.Event(), threading.Event()
    submit = offer_views.offer_submit

    def slow_submit(**kwargs: Any) -> Offer:
        entered.set()
        assert release.wait(timeout=20)
        return submit(**kwargs)

    monkeypatch.setattr(offer_views, "offer_submit", slow_submit)
    body = offer_body(open_intent)
    first: dict[str, Any] = {}

    def run_first() -> None:
        try:
            first["response"] = post(vendor_client(vendor), "/api/v1/offers/", body, "slow")
        finally:
            connection.close()

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert entered.wait(timeout=20)
        second = post(vendor_client(vendor), "/api/v1/offers/", body, "slow")
        assert second.status_code == 409
        assert second["Content-Type"] == PROBLEM
        assert Offer.objects.count() == 0
    finally:
        release.set()
        thread.join(timeout=30)

    assert first["response"].status_code == 201
    third = post(vendor_client(vendor), "/api/v1/offers/", body, "slow")
    assert (third.status_code, third.content) == (201, first["response"].content)
    assert Offer.objects.count() == 1
