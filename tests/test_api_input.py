"""Input discipline on every API write: garbage is a 400/413/415 problem and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import Criterion, Intent, Notice
from intents.services import intent_copy_details
from marketplace.models import IdempotencyKey, Vendor, WebhookEndpoint
from offers.models import Offer, OfferRevision, Question
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def state() -> dict[str, list[dict[str, Any]]]:
    """Every row an API write could touch."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Offer,
            OfferRevision,
            Question,
            Vendor,
            WebhookEndpoint,
            IdempotencyKey,
        )
    }


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/api/v1/problems/")
    assert body["title"] and body["detail"]
    return body


def in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


@pytest.fixture
def world(api: APIClient, vendor: Vendor, open_intent: Intent) -> dict[str, Any]:
    """The vendor with an offer and a webhook endpoint; the last API use already stamped."""
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    endpoint = WebhookEndpoint.objects.create(
        vendor=vendor, url="http://127.0.0.1:9/hook", secret="whsec_x"
    )
    api.get("/api/v1/vendor/")  # the first use of a key writes last_seen_at
    return {"intent": open_intent, "offer": offer, "endpoint": endpoint}


# (method, path, a valid body) for every API write that takes a body.
Write = tuple[str, Callable[[dict[str, Any]], str], dict[str, Any]]
WRITES: dict[str, Write] = {
    "POST offers": (
        "post",
        lambda world: "/api/v1/offers/",
        {"price": "10.00", "currency": "EUR"},
    ),
    "PATCH offer": ("patch", lambda world: f"/api/v1/offers/{world['offer'].pk}/", {}),
    "POST questions": (
        "post",
        lambda world: f"/api/v1/intents/{world['intent'].pk}/questions/",
        {"text": "When?"},
    ),
    "PATCH vendor": ("patch", lambda world: "/api/v1/vendor/", {}),
    "POST webhooks": ("post", lambda world: "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/x"}),
    "PATCH webhook": ("patch", lambda world: f"/api/v1/webhooks/{world['endpoint'].pk}/", {}),
}


def send(api: APIClient, world: dict[str, Any], name: str, extra: dict[str, Any]) -> Any:
    method, path, body = WRITES[name]
    body = dict(body) | extra
    if name == "POST offers":
        body["intent"] = str(world["intent"].pk)
    return getattr(api, method)(path(world), body, format="json")


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize(
    "unknown",
    [
        {"surprise": 1},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"vendor": "someone-else"},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_unknown_or_read_only_fields_are_400_naming_them(
    api: APIClient, world: dict[str, Any], name: str, unknown: dict[str, Any]
) -> None:
    before = state()
    body = assert_problem(send(api, world, name, unknown), 400)
    assert set(unknown) <= set(body["errors"])
    assert state() == before


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("POST offers", "status"),
        ("PATCH offer", "status"),
        ("PATCH offer", "intent"),
        ("PATCH offer", "currency"),
        ("PATCH vendor", "is_verified"),
        ("PATCH vendor", "is_suspended"),
        ("PATCH vendor", "rating_mean"),
        ("PATCH webhook", "secret"),
        ("POST webhooks", "secret"),
    ],
)
def test_fields_a_vendor_may_not_set_are_400(
    api: APIClient, world: dict[str, Any], name: str, field: str
) -> None:
    before = state()
    body = assert_problem(send(api, world, name, {field: "accepted"}), 400)
    assert field in body["errors"]
    assert state() == before


BAD_MONEY = [
    "12.345",
    "-1.00",
    "-0.01",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e20",
    "1" * 13,
    "",
    "ten",
    # Python's Decimal takes each of these; the contract's decimal string does not.
    "1e3",
    "1_000",
    "\u0661\u0660",  # Arabic-Indic digits
    "+5",
    " 10 ",
    "-0.00",
    "10.",
    ".5",
]


@pytest.mark.parametrize("value", BAD_MONEY)
@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("POST offers", "price"),
        ("PATCH offer", "price"),
        ("PATCH vendor", "deal_size_min"),
        ("PATCH vendor", "deal_size_max"),
    ],
)
def test_bad_money_is_400(
    api: APIClient, world: dict[str, Any], name: str, field: str, value: str
) -> None:
    before = state()
    extra = {field: value}
    if name == "PATCH vendor":
        extra["deal_size_currency"] = "EUR"
    body = assert_problem(send(api, world, name, extra), 400)
    assert field in body["errors"]
    assert state() == before


@pytest.mark.parametrize("value", BAD_MONEY)
def test_bad_money_in_line_items_is_400(api: APIClient, world: dict[str, Any], value: str) -> None:
    before = state()
    items = [{"description": "Labour", "quantity": "1", "unit_price": value}]
    body = assert_problem(send(api, world, "POST offers", {"line_items": items}), 400)
    assert "line_items" in body["errors"]
    assert state() == before


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_number_constants_are_refused(api: APIClient, world: dict[str, Any], raw: str) -> None:
    before = state()
    body = f'{{"intent": "{world["intent"].pk}", "price": {raw}, "currency": "EUR"}}'
    response = api.generic("POST", "/api/v1/offers/", body, content_type="application/json")
    assert_problem(response, 400)
    assert state() == before


@pytest.mark.parametrize("currency", ["usd", "EURO", "XXY", "", "E1R", 978])
@pytest.mark.parametrize(("name", "field"), [("POST offers", "currency")])
def test_currency_not_iso_4217_is_400(
    api: APIClient, world: dict[str, Any], name: str, field: str, currency: object
) -> None:
    before = state()
    body = assert_problem(send(api, world, name, {field: currency}), 400)
    assert field in body["errors"]
    assert state() == before


@pytest.mark.parametrize("currency", ["usd", "EURO", "XXY", "E1R"])
def test_vendor_deal_size_currency_not_iso_4217_is_400(
    api: APIClient, world: dict[str, Any], currency: str
) -> None:
    before = state()
    extra = {"deal_size_min": "10.00", "deal_size_currency": currency}
    body = assert_problem(send(api, world, "PATCH vendor", extra), 400)
    assert "deal_size_currency" in body["errors"]
    assert state() == before


@pytest.mark.parametrize("name", ["POST offers", "PATCH offer"])
@pytest.mark.parametrize("field", ["delivery_date", "valid_until"])
def test_dates_in_the_past_are_400(
    api: APIClient, world: dict[str, Any], name: str, field: str
) -> None:
    before = state()
    body = assert_problem(send(api, world, name, {field: in_days(-1)}), 400)
    assert field in body["errors"]
    assert state() == before


@pytest.mark.parametrize("name", ["POST offers", "PATCH offer"])
def test_today_is_not_in_the_past(api: APIClient, world: dict[str, Any], name: str) -> None:
    if name == "POST offers":
        world["offer"].delete()
    response = send(api, world, name, {"delivery_date": in_days(0), "valid_until": in_days(0)})
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize("name", list(WRITES))
def test_body_over_the_limit_is_413(
    api: APIClient, world: dict[str, Any], name: str, settings: Any
) -> None:
    before = state()
    method, path, _ = WRITES[name]
    body = json.dumps({"message": "x" * settings.API_MAX_REQUEST_BYTES})
    response = api.generic(method.upper(), path(world), body, content_type="application/json")
    assert_problem(response, 413)
    assert state() == before


def test_body_just_under_the_limit_is_read(
    api: APIClient, world: dict[str, Any], settings: Any
) -> None:
    settings.API_MAX_REQUEST_BYTES = 2048
    body = json.dumps({"message": "x" * 1900})
    path = f"/api/v1/offers/{world['offer'].pk}/"
    response = api.generic("PATCH", path, body, content_type="application/json")
    assert response.status_code == 200, response.content


def test_size_limit_is_only_for_the_api(client: Any, settings: Any) -> None:
    settings.API_MAX_REQUEST_BYTES = 10
    response = client.post("/accounts/login/", {"username": "x" * 50, "password": "y"})
    assert response.status_code == 200


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(
    api: APIClient, world: dict[str, Any], name: str, content_type: str
) -> None:
    before = state()
    method, path, _ = WRITES[name]
    response = api.generic(method.upper(), path(world), "price=1", content_type=content_type)
    body = assert_problem(response, 415)
    assert content_type in body["detail"]
    assert state() == before


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize(
    "raw", ["{not json", "[]", '"text"', "null", "1", "[" * 1000 + "]" * 1000, '{"a":' * 1000]
)
def test_malformed_or_non_object_json_is_400(
    api: APIClient, world: dict[str, Any], name: str, raw: str
) -> None:
    before = state()
    method, path, _ = WRITES[name]
    response = api.generic(method.upper(), path(world), raw, content_type="application/json")
    assert_problem(response, 400)
    assert state() == before


@pytest.mark.parametrize("value", [12, 12.5, True, ["1.00"], {"amount": "1.00"}])
@pytest.mark.parametrize(
    ("name", "field"),
    [("POST offers", "price"), ("PATCH offer", "price"), ("PATCH vendor", "deal_size_min")],
)
def test_money_must_be_a_decimal_string(
    api: APIClient, world: dict[str, Any], name: str, field: str, value: object
) -> None:
    before = state()
    extra = {field: value} | ({"deal_size_currency": "EUR"} if name == "PATCH vendor" else {})
    body = assert_problem(send(api, world, name, extra), 400)
    assert field in body["errors"]
    assert state() == before


@pytest.mark.parametrize("value", [0, 1, "true", "yes", "on", None])
@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("PATCH vendor", "is_paused"),
        ("PATCH webhook", "is_active"),
        ("POST webhooks", "is_active"),
        ("POST offers", "accept_terms"),
    ],
)
def test_booleans_must_be_json_booleans(
    api: APIClient, world: dict[str, Any], name: str, field: str, value: object
) -> None:
    before = state()
    body = assert_problem(send(api, world, name, {field: value}), 400)
    assert field in body["errors"]
    assert state() == before


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/offers/?page_size=abc",
        "/api/v1/offers/?page_size=0",
        "/api/v1/offers/?page_size=%C2%B2",  # "²" is a digit to str.isdigit(), not to int()
        "/api/v1/notices/?unread=maybe",
        "/api/v1/events/?after=%C2%B2",
        "/api/v1/events/?after=-1",
        "/api/v1/events/?limit=0",
    ],
)
def test_bad_query_parameters_are_400(api: APIClient, world: dict[str, Any], query: str) -> None:
    assert_problem(api.get(query), 400)


def test_page_size_is_capped_at_100(api: APIClient, world: dict[str, Any]) -> None:
    assert api.get("/api/v1/offers/?page_size=1000").status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/v1/intents/0.5/", "/api/v1/nowhere/", "/api/v1/offers/x.y/"]
)
def test_unknown_api_address_is_a_404_problem(api: APIClient, path: str) -> None:
    assert_problem(api.get(path), 404)


def test_unknown_web_address_is_still_a_page(client: Any) -> None:
    response = client.get("/nowhere/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("currency", "eur"),
        ("currency", "ZZZ"),
        ("currency", "EURO"),
        ("country", "de"),
        ("country", "XX"),
        ("country", "DEU"),
        ("category", "no-such-category"),
    ],
)
def test_a_filter_value_that_can_match_nothing_is_400_not_an_empty_list(
    api: APIClient, world: dict[str, Any], name: str, value: str
) -> None:
    body = assert_problem(api.get("/api/v1/intents/", {name: value}), 400)
    assert list(body["errors"]) == [name]


def test_good_filter_values_still_filter(api: APIClient, world: dict[str, Any]) -> None:
    intent = world["intent"]
    for name, value, count in (
        ("currency", intent.currency, 1),
        ("currency", "JPY" if intent.currency != "JPY" else "EUR", 0),
        ("country", intent.country, 1),
        ("country", "JP" if intent.country != "JP" else "FR", 0),
        ("category", intent.category.slug, 1),
    ):
        response = api.get("/api/v1/intents/", {name: value})
        assert response.status_code == 200, response.content
        assert response.json()["count"] == count, (name, value)


def test_an_intent_id_reads_the_same_in_any_letter_case_on_every_route(
    api: APIClient, world: dict[str, Any]
) -> None:
    shouted = str(world["intent"].pk).upper()
    assert api.get(f"/api/v1/intents/{shouted}/").status_code == 200
    assert api.get(f"/api/v1/intents/{shouted}/questions/").status_code == 200
    response = api.post(f"/api/v1/intents/{shouted}/questions/", {"text": "When?"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["intent"] == str(world["intent"].pk)


@pytest.mark.parametrize(
    ("closes_before", "status"),
    [
        # Python takes offsets up to ±23:59, PostgreSQL only up to ±15:59 (once a 500).
        ("2030-01-01T00:00:00+19:12", 200),
        ("9999-12-31T23:59:59-10:00", 400),  # past year 9999 in UTC
        ("not-a-time", 400),
    ],
)
def test_closes_before_filter_takes_any_iso_offset(
    api: APIClient, world: dict[str, Any], closes_before: str, status: int
) -> None:
    response = api.get("/api/v1/intents/", {"closes_before": closes_before})
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["count"] == 1


@pytest.mark.parametrize(
    "url", ["https://example.com:99999/h", "https://example.com:-1/h", "https://example.com:x/h"]
)
@pytest.mark.parametrize("name", ["POST webhooks", "PATCH webhook"])
def test_a_webhook_port_out_of_range_is_400(
    api: APIClient, world: dict[str, Any], settings: Any, name: str, url: str
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # as in production: the host is looked up
    before = state()
    body = assert_problem(send(api, world, name, {"url": url}), 400)
    assert "url" in body["errors"]
    assert state() == before


def test_a_webhook_can_be_made_inactive(api: APIClient, world: dict[str, Any]) -> None:
    response = send(api, world, "POST webhooks", {"is_active": False})
    assert response.status_code == 201
    assert response.json()["is_active"] is False
    assert WebhookEndpoint.objects.get(pk=response.json()["id"]).is_active is False


def test_a_text_answer_with_a_null_character_is_400(api: APIClient, world: dict[str, Any]) -> None:
    intent = world["intent"]
    Criterion.objects.create(intent=intent, key="notes", name="Notes", kind="text", weight=1)
    intent_copy_details(intent=intent)
    Offer.objects.all().delete()
    before = state()

    response = send(api, world, "POST offers", {"criteria_answers": {"notes": "a\u0000b"}})

    assert assert_problem(response, 400)["errors"] == {
        "criteria_answers.notes": ["Null characters are not allowed."]
    }
    assert state() == before


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize("where", ["key", "value"])
def test_a_lone_surrogate_anywhere_in_the_body_is_400(
    api: APIClient, world: dict[str, Any], name: str, where: str
) -> None:
    """Valid JSON, but no text: stored, it would make every page showing it fail."""
    method, path, valid = WRITES[name]
    body = json.dumps(valid)[:-1].rstrip()
    body += (", " if valid else "") + (
        '"\\ud800": 1}' if where == "key" else '"message": "a \\ud800 b"}'
    )
    before = state()

    response = api.generic(method.upper(), path(world), body, content_type="application/json")

    assert "lone surrogate" in assert_problem(response, 400)["detail"]
    assert state() == before


# Actions that take no body: each (path of world, what must stay unchanged).
BODILESS_ACTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "withdraw offer": lambda world: f"/api/v1/offers/{world['offer'].pk}/withdraw/",
    "read notice": lambda world: f"/api/v1/notices/{world['notice'].pk}/read/",
    "test webhook": lambda world: f"/api/v1/webhooks/{world['endpoint'].pk}/test/",
}


@pytest.mark.parametrize("name", list(BODILESS_ACTIONS))
@pytest.mark.parametrize(
    ("raw", "status"),
    [("{{{ not json", 400), ('{"reason": "too busy"}', 400), ("[]", 400), ("1", 400)],
)
def test_an_action_that_takes_no_body_refuses_one_and_changes_nothing(
    api: APIClient, world: dict[str, Any], name: str, raw: str, status: int
) -> None:
    world["notice"] = Notice.objects.get(intent=world["intent"])
    before = (state(), Notice.objects.get(pk=world["notice"].pk).read_at)

    response = api.post(BODILESS_ACTIONS[name](world), raw, content_type="application/json")

    assert_problem(response, status)
    assert (state(), Notice.objects.get(pk=world["notice"].pk).read_at) == before


@pytest.mark.parametrize("name", list(BODILESS_ACTIONS))
@pytest.mark.parametrize("raw", ["", "{}"])
def test_an_action_that_takes_no_body_takes_none_or_an_empty_object(
    api: APIClient, world: dict[str, Any], name: str, raw: str
) -> None:
    world["notice"] = Notice.objects.get(intent=world["intent"])

    response = api.post(BODILESS_ACTIONS[name](world), raw, content_type="application/json")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("post", "/api/v1/offers", "/api/v1/offers/"),
        ("get", "/api/v1/intents?page_size=5", "/api/v1/intents/?page_size=5"),
    ],
)
def test_an_api_address_without_its_slash_is_a_308_that_keeps_method_and_body(
    api: APIClient, world: dict[str, Any], method: str, path: str, location: str
) -> None:
    before = state()

    response = api.generic(
        method.upper(), path, '{"price": "1.00"}', content_type="application/json"
    )

    assert (response.status_code, response["Location"]) == (308, location)
    assert state() == before


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/v1/offers/%E2%98%83", "/api/v1/offers/%E2%98%83/"),
        ("/api/v1/offers/abc%0Adef", "/api/v1/offers/abc%0Adef/"),
    ],
)
def test_the_missing_slash_redirect_keeps_the_address_percent_encoded(
    path: str, location: str
) -> None:
    response = APIClient().post(path, {}, format="json")

    assert (response.status_code, response["Location"]) == (308, location)


def test_a_refusal_reads_as_english_whatever_the_status(
    api: APIClient, world: dict[str, Any]
) -> None:
    Offer.objects.filter(pk=world["offer"].pk).update(
        status=Offer.Status.ACCEPTED, decided_at=timezone.now()
    )
    body = assert_problem(api.post(f"/api/v1/offers/{world['offer'].pk}/withdraw/"), 409)
    assert body["detail"] == "An accepted offer cannot be withdrawn."


READS = [
    lambda world: "/api/v1/intents/",
    lambda world: f"/api/v1/intents/{world['intent'].pk}/",
    lambda world: f"/api/v1/intents/{world['intent'].pk}/questions/",
    lambda world: "/api/v1/offers/",
    lambda world: f"/api/v1/offers/{world['offer'].pk}/",
    lambda world: "/api/v1/notices/",
    lambda world: "/api/v1/events/",
    lambda world: "/api/v1/webhooks/",
    lambda world: f"/api/v1/webhooks/{world['endpoint'].pk}/",
    lambda world: f"/api/v1/webhooks/{world['endpoint'].pk}/deliveries/",
    lambda world: "/api/v1/categories/",
    lambda world: "/api/v1/vendor/",
]


@pytest.mark.parametrize("path", READS)
def test_a_query_parameter_the_endpoint_does_not_read_is_400(
    api: APIClient, world: dict[str, Any], path: Callable[[dict[str, Any]], str]
) -> None:
    assert api.get(path(world)).status_code == 200
    body = assert_problem(api.get(path(world), {"categroy": "plumbing"}), 400)
    assert list(body["errors"]) == ["categroy"]
    assert "it reads" in body["errors"]["categroy"][0]


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/intents/?currency=EUR&currency=USD",
        "/api/v1/intents/?page=1&page=2",
        "/api/v1/offers/?status=submitted&status=withdrawn",
        "/api/v1/events/?after=0&after=1",
    ],
)
def test_a_parameter_given_twice_is_400(api: APIClient, world: dict[str, Any], query: str) -> None:
    body = assert_problem(api.get(query), 400)
    assert list(body["errors"].values()) == [["Give it once."]]


def test_the_parameters_an_endpoint_reads_still_work(api: APIClient, world: dict[str, Any]) -> None:
    for query in (
        "/api/v1/intents/?status=open&ordering=-created_at&page=1&page_size=10&format=json",
        "/api/v1/events/?after=0&limit=10",
        "/api/v1/notices/?unread=true",
        f"/api/v1/offers/?intent={world['intent'].pk}&ordering=price",
    ):
        assert api.get(query).status_code == 200, query


def test_a_write_with_an_unknown_query_parameter_is_400_and_changes_nothing(
    api: APIClient, world: dict[str, Any]
) -> None:
    before = state()
    body = {"intent": str(world["intent"].pk), "price": "10.00", "currency": "EUR"}
    refused = assert_problem(api.post("/api/v1/offers/?dry_run=1", body, format="json"), 400)
    assert list(refused["errors"]) == ["dry_run"]
    assert state() == before


def test_without_a_key_an_unknown_parameter_is_still_a_401() -> None:
    assert_problem(APIClient().get("/api/v1/intents/?categroy=x"), 401)
