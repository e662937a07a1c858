"""Who may do what through the API: every endpoint × every kind of caller (OWASP API1, API3, API5).

Callers: no key, a revoked key, a vendor not matched to the intent, a vendor
matched to it (but owning nothing there), the vendor owning the objects, and
another vendor with objects of its own. A refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client
from rest_framework.test import APIClient

from intents.models import Notice
from marketplace.events import emit, events_dispatch
from marketplace.models import (
    ApiKey,
    Event,
    IdempotencyKey,
    Vendor,
    WebhookDelivery,
    WebhookEndpoint,
)
from marketplace.services import api_key_create, api_key_revoke
from marketplace.webhooks import webhook_endpoint_create
from offers.models import Offer, OfferRevision, Question
from tests.factories import CategoryFactory, NoticeFactory, OfferFactory, UserFactory, VendorFactory
from tests.factories import noticed_intent as make_noticed_intent

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "revoked", "unmatched", "matched", "owner", "other"]
VENDORS = ["unmatched", "matched", "owner", "other"]


@dataclass
class World:
    vendors: dict[str, Vendor]
    clients: dict[str, APIClient]
    ids: dict[str, str]
    own: dict[str, dict[str, set[str]]] = field(default_factory=dict)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(
        "marketplace.webhooks.httpx.post",
        lambda url, **kwargs: httpx.Response(204, request=httpx.Request("POST", url)),
    )
    category = CategoryFactory(slug="plumbing")
    vendors = {name: VendorFactory(categories=[category]) for name in VENDORS}
    buyer = UserFactory()
    intent = make_noticed_intent(vendors["owner"], category=category, buyer=buyer)
    NoticeFactory(intent=intent, vendor=vendors["matched"], reasons=["category"])
    elsewhere = make_noticed_intent(vendors["other"], category=category)
    offer = OfferFactory(intent=intent, vendor=vendors["owner"], price=Decimal("777.77"))
    OfferFactory(intent=elsewhere, vendor=vendors["other"], price=Decimal("555.55"))
    question = Question.objects.create(intent=intent, vendor=vendors["owner"], text="Which tap?")
    endpoint = webhook_endpoint_create(vendor=vendors["owner"], url="http://127.0.0.1:9/o")
    webhook_endpoint_create(vendor=vendors["other"], url="http://127.0.0.1:9/x")
    for name in ("owner", "other"):
        emit(
            vendor_id=vendors[name].pk,
            type="intent.matched",
            payload={"for": name},
            dedupe_key=f"seed:{name}",
        )
    events_dispatch()

    clients: dict[str, APIClient] = {"anonymous": APIClient()}
    for name, vendor in vendors.items():
        clients[name] = APIClient()
        clients[name].credentials(
            HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}"
        )
        clients[name].get("/api/v1/vendor/")  # the first use stamps last_seen_at
    revoked = api_key_create(vendor=vendors["owner"])
    api_key_revoke(api_key=revoked.api_key)
    clients["revoked"] = APIClient()
    clients["revoked"].credentials(HTTP_AUTHORIZATION=f"Bearer {revoked.raw_key}")

    return World(
        vendors=vendors,
        clients=clients,
        ids={
            "intent": str(intent.pk),
            "offer": str(offer.pk),
            "notice": str(Notice.objects.get(intent=intent, vendor=vendors["owner"]).pk),
            "endpoint": str(endpoint.pk),
            "question": str(question.pk),
        },
    )


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row the API may write, less the key-usage stamps a valid key leaves."""
    rows = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Offer,
            OfferRevision,
            Question,
            Notice,
            Event,
            WebhookEndpoint,
            WebhookDelivery,
            IdempotencyKey,
        )
    }
    rows["Vendor"] = list(Vendor.objects.order_by("pk").values())
    for vendor in rows["Vendor"]:
        vendor.pop("last_seen_at", None)
    rows["ApiKey"] = list(ApiKey.objects.order_by("pk").values("pk", "revoked_at"))
    return rows


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # formatted with World.ids
    expect: dict[str, int]  # vendor actors; anonymous and revoked are always 401
    body: dict[str, Any] | None = None


EVERY_VENDOR_200 = dict.fromkeys(VENDORS, 200)
OWNER_ONLY = {"unmatched": 404, "matched": 404, "owner": 200, "other": 404}
MATCHED_ONLY = {"unmatched": 404, "matched": 200, "owner": 200, "other": 404}

OPERATIONS = {
    # A person's own export needs their web session: no vendor key opens it.
    "GET me/export/": Operation("get", "/api/v1/me/export/", dict.fromkeys(VENDORS, 401)),
    "GET intents/": Operation("get", "/api/v1/intents/", EVERY_VENDOR_200),
    "GET intents/{id}/": Operation("get", "/api/v1/intents/{intent}/", MATCHED_ONLY),
    "GET intents/{id}/questions/": Operation(
        "get", "/api/v1/intents/{intent}/questions/", MATCHED_ONLY
    ),
    "POST intents/{id}/questions/": Operation(
        "post",
        "/api/v1/intents/{intent}/questions/",
        {"unmatched": 404, "matched": 201, "owner": 201, "other": 404},
        {"text": "Is there parking?"},
    ),
    "GET notices/": Operation("get", "/api/v1/notices/", EVERY_VENDOR_200),
    "GET notices/{id}/": Operation("get", "/api/v1/notices/{notice}/", OWNER_ONLY),
    "POST notices/{id}/read/": Operation("post", "/api/v1/notices/{notice}/read/", OWNER_ONLY),
    "GET events/": Operation("get", "/api/v1/events/", EVERY_VENDOR_200),
    "GET offers/": Operation("get", "/api/v1/offers/", EVERY_VENDOR_200),
    "POST offers/": Operation(
        "post",
        "/api/v1/offers/",
        # The owner already has a live offer on it: a state conflict, not a denial.
        {"unmatched": 404, "matched": 201, "owner": 409, "other": 404},
        {"intent": "{intent}", "price": "100.00", "currency": "EUR"},
    ),
    "GET offers/{id}/": Operation("get", "/api/v1/offers/{offer}/", OWNER_ONLY),
    "PATCH offers/{id}/": Operation(
        "patch", "/api/v1/offers/{offer}/", OWNER_ONLY, {"price": "1.00"}
    ),
    "POST offers/{id}/withdraw/": Operation("post", "/api/v1/offers/{offer}/withdraw/", OWNER_ONLY),
    "GET vendor/": Operation("get", "/api/v1/vendor/", EVERY_VENDOR_200),
    "PATCH vendor/": Operation(
        "patch", "/api/v1/vendor/", EVERY_VENDOR_200, {"description": "Changed."}
    ),
    "GET categories/": Operation("get", "/api/v1/categories/", EVERY_VENDOR_200),
    "GET webhooks/": Operation("get", "/api/v1/webhooks/", EVERY_VENDOR_200),
    "POST webhooks/": Operation(
        "post", "/api/v1/webhooks/", dict.fromkeys(VENDORS, 201), {"url": "http://127.0.0.1:9/n"}
    ),
    "GET webhooks/{id}/": Operation("get", "/api/v1/webhooks/{endpoint}/", OWNER_ONLY),
    "PATCH webhooks/{id}/": Operation(
        "patch", "/api/v1/webhooks/{endpoint}/", OWNER_ONLY, {"description": "mine now"}
    ),
    "DELETE webhooks/{id}/": Operation(
        "delete",
        "/api/v1/webhooks/{endpoint}/",
        {"unmatched": 404, "matched": 404, "owner": 204, "other": 404},
    ),
    "GET webhooks/{id}/deliveries/": Operation(
        "get", "/api/v1/webhooks/{endpoint}/deliveries/", OWNER_ONLY
    ),
    "POST webhooks/{id}/test/": Operation("post", "/api/v1/webhooks/{endpoint}/test/", OWNER_ONLY),
    "POST webhooks/{id}/rotate-secret/": Operation(
        "post", "/api/v1/webhooks/{endpoint}/rotate-secret/", OWNER_ONLY
    ),
}


def call(world: World, actor: str, operation: Operation) -> Any:
    body = None
    if operation.body is not None:
        body = {
            key: value.format(**world.ids) if isinstance(value, str) else value
            for key, value in operation.body.items()
        }
    method = getattr(world.clients[actor], operation.method)
    return method(operation.path.format(**world.ids), body, format="json")


def expected_status(operation: Operation, actor: str) -> int:
    return 401 if actor in ("anonymous", "revoked") else operation.expect[actor]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_authorization_matrix(world: World, name: str, actor: str) -> None:
    operation = OPERATIONS[name]
    before = snapshot()

    response = call(world, actor, operation)

    assert response.status_code == expected_status(operation, actor), response.content
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert snapshot() == before


def test_the_matrix_covers_every_operation_of_the_schema() -> None:
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    documented = {
        f"{method.upper()} {path.removeprefix('/api/v1/').replace('{intent_id}', '{id}')}"
        for path, item in schema["paths"].items()
        for method in item
    }
    assert documented == set(OPERATIONS)


# Lists: each vendor sees its own objects only (BOLA through a list).
LISTS = {
    "/api/v1/offers/": lambda vendor: {
        str(pk) for pk in vendor.offers.values_list("pk", flat=True)
    },
    "/api/v1/notices/": lambda vendor: {
        str(pk) for pk in Notice.objects.filter(vendor=vendor).values_list("pk", flat=True)
    },
    "/api/v1/webhooks/": lambda vendor: {
        str(pk) for pk in vendor.webhook_endpoints.values_list("pk", flat=True)
    },
    "/api/v1/intents/": lambda vendor: {
        str(pk) for pk in Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)
    },
}


@pytest.mark.parametrize("actor", VENDORS)
@pytest.mark.parametrize("path", list(LISTS))
def test_lists_hold_only_the_callers_own(world: World, path: str, actor: str) -> None:
    results = world.clients[actor].get(path).json()["results"]
    assert {item["id"] for item in results} == LISTS[path](world.vendors[actor])


@pytest.mark.parametrize("actor", VENDORS)
def test_event_feed_holds_only_the_callers_events(world: World, actor: str) -> None:
    results = world.clients[actor].get("/api/v1/events/").json()["results"]
    expected = [{"for": actor}] if actor in ("owner", "other") else []
    assert [item["data"] for item in results] == expected


@pytest.mark.parametrize("actor", ["matched", "owner"])
def test_no_vendor_reads_another_vendors_price(world: World, actor: str) -> None:
    client = world.clients[actor]
    texts = [
        client.get(f"/api/v1/intents/{world.ids['intent']}/").content,
        client.get("/api/v1/intents/").content,
        client.get("/api/v1/offers/").content,
        client.get("/api/v1/notices/").content,
        client.get(f"/api/v1/intents/{world.ids['intent']}/questions/").content,
    ]
    assert not any(b"555.55" in text for text in texts)
    assert any(b"777.77" in text for text in texts) == (actor == "owner")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "accepted"},
        {"vendor": "00000000-0000-0000-0000-000000000000"},
        {"intent": "00000000-0000-0000-0000-000000000000"},
        {"decline_reason": "none"},
        {"revision_count": 0},
    ],
)
def test_owner_cannot_set_offer_properties_it_does_not_own(
    world: World, body: dict[str, str]
) -> None:
    before = snapshot()
    response = world.clients["owner"].patch(
        f"/api/v1/offers/{world.ids['offer']}/", body, format="json"
    )
    assert response.status_code == 400
    assert set(body) <= set(response.json()["errors"])
    assert snapshot() == before


@pytest.mark.parametrize("action", ["accept", "decline", "rank", "shortlist", "move", "rate"])
@pytest.mark.parametrize("actor", ["matched", "owner"])
def test_no_vendor_can_accept_decline_or_rank_through_the_api(
    world: World, action: str, actor: str
) -> None:
    before = snapshot()
    response = world.clients[actor].post(f"/api/v1/offers/{world.ids['offer']}/{action}/")
    assert response.status_code in (404, 405)
    assert response["Content-Type"] == "application/problem+json"
    assert snapshot() == before


@pytest.mark.parametrize("action", ["accept", "decline", "move", "shortlist"])
def test_vendor_staff_cannot_decide_on_offers_on_the_web(world: World, action: str) -> None:
    """The buyer's decisions are the buyer's: a vendor's staff login gets a 404."""
    staff = UserFactory(vendor=world.vendors["owner"])
    client = Client()
    client.force_login(staff)
    before = snapshot()
    response = client.post(
        f"/offers/{world.ids['offer']}/{action}/", {"direction": "up", "reason": "x"}
    )
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_an_api_key_is_no_web_login(world: World, action: str) -> None:
    before = snapshot()
    response = world.clients["owner"].post(f"/offers/{world.ids['offer']}/{action}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert snapshot() == before
