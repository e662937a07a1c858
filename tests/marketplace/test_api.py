from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import ApiKey, Category, Vendor
from marketplace.services import (
    SUSPENDED,
    api_key_create,
    api_key_revoke,
    vendor_set_suspended,
    vendor_update,
)
from tests.factories import CategoryFactory
from tests.openapi_check import schema_errors

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int) -> dict:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    assert response["Content-Type"] == PROBLEM  # type: ignore[index]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


@pytest.mark.parametrize(
    "header",
    [None, "Bearer ", "Token abc", "Bearer ic_nothere_abc", "Bearer garbage", "Basic dXNlcjpwdw=="],
)
def test_missing_or_bad_key_is_401(vendor: Vendor, header: str | None) -> None:
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/intents/")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_right_prefix_wrong_secret_is_401(vendor: Vendor) -> None:
    issued = api_key_create(vendor=vendor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer ic_{issued.api_key.prefix}_not-the-secret")
    assert_problem(client.get("/api/v1/intents/"), 401)


def test_revoked_key_is_401(vendor: Vendor) -> None:
    issued = api_key_create(vendor=vendor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert client.get("/api/v1/intents/").status_code == 200

    api_key_revoke(api_key=issued.api_key)

    assert_problem(client.get("/api/v1/intents/"), 401)


def test_suspended_vendor_key_is_refused_with_the_reason(vendor: Vendor) -> None:
    issued = api_key_create(vendor=vendor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")

    vendor_set_suspended(vendor=vendor, is_suspended=True)

    refused = assert_problem(client.get("/api/v1/vendor/"), 403)
    assert refused["detail"] == SUSPENDED
    assert_problem(client.patch("/api/v1/vendor/", {"is_paused": True}, format="json"), 403)
    vendor.refresh_from_db()
    assert not vendor.is_paused
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None
    # A wrong secret with the same prefix learns nothing of the suspension.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key[:-2]}xx")
    assert_problem(client.get("/api/v1/vendor/"), 401)

    vendor_set_suspended(vendor=vendor, is_suspended=False)

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert client.get("/api/v1/vendor/").status_code == 200


def test_key_is_stored_hashed_and_records_last_use(vendor: Vendor) -> None:
    issued = api_key_create(vendor=vendor)
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key not in (stored.hashed_key, stored.prefix)
    assert issued.raw_key.startswith(f"ic_{stored.prefix}_")
    assert stored.last_used_at is None

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    client.get("/api/v1/vendor/")

    stored.refresh_from_db()
    assert stored.last_used_at is not None
    assert timezone.now() - stored.last_used_at < timezone.timedelta(minutes=1)


def test_vendor_profile_read_and_patch(api: APIClient, vendor: Vendor) -> None:
    other = CategoryFactory(slug="painting")
    response = api.patch(
        "/api/v1/vendor/",
        {
            "regions": ["DE", "FR", "DE-BY"],
            "keywords": ["Boilers", "taps"],
            "categories": ["plumbing", "painting"],
            "deal_size_min": "100.00",
            "deal_size_max": "5000.00",
            "deal_size_currency": "EUR",
            "daily_capacity": 30,
            "is_paused": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["regions"] == ["DE", "DE-BY", "FR"]
    assert body["keywords"] == ["boilers", "taps"]
    assert sorted(body["categories"]) == ["painting", "plumbing"]
    vendor.refresh_from_db()
    assert vendor.is_paused is True and vendor.daily_capacity == 30
    assert set(vendor.categories.all()) == {other, Category.objects.get(slug="plumbing")}


@pytest.mark.parametrize("field", ["name", "website", "contact_email"])
def test_changing_what_an_operator_verified_withdraws_the_badge(
    api: APIClient, vendor: Vendor, field: str
) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(is_verified=True)
    value = {
        "name": "Pixel Foundry",
        "website": "https://pixel.test",
        "contact_email": "x@pixel.test",
    }

    response = api.patch("/api/v1/vendor/", {field: value[field]}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["is_verified"] is False
    vendor.refresh_from_db()
    assert vendor.is_verified is False


def test_other_profile_changes_keep_the_badge(api: APIClient, vendor: Vendor) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(is_verified=True)
    unchanged = {"name": vendor.name, "website": vendor.website}

    response = api.patch(
        "/api/v1/vendor/", {**unchanged, "keywords": ["taps"], "daily_capacity": 7}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["is_verified"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"regions": ["ZZ"]}, "regions"),
        (
            {"deal_size_min": "10.00", "deal_size_max": "5.00", "deal_size_currency": "EUR"},
            "deal_size_max",
        ),
        ({"deal_size_min": "-5"}, "deal_size_min"),
        ({"deal_size_min": "10.00", "deal_size_currency": "XYZ"}, "deal_size_currency"),
        ({"is_verified": True}, "is_verified"),
        ({"slug": "taken-over"}, "slug"),
        ({"colour": "blue"}, "colour"),
        ({"categories": ["no-such-category"]}, "categories"),
        # The web form's bound, here too: a profile the API takes, the page keeps.
        ({"daily_capacity": 100_001}, "daily_capacity"),
        # Amounts in a currency without a minor unit are whole.
        ({"deal_size_min": "100.50", "deal_size_currency": "JPY"}, "deal_size_min"),
        ({"deal_size_max": "2000.75", "deal_size_currency": "JPY"}, "deal_size_max"),
    ],
)
def test_vendor_profile_refuses_bad_input(
    api: APIClient, vendor: Vendor, payload: dict, field: str
) -> None:
    api.get("/api/v1/vendor/")  # the first use stamps last_seen_at
    before = Vendor.objects.filter(pk=vendor.pk).values().get()
    body = assert_problem(api.patch("/api/v1/vendor/", payload, format="json"), 400)
    assert field in body["errors"]
    assert Vendor.objects.filter(pk=vendor.pk).values().get() == before


def test_a_fractional_yen_deal_size_stored_before_the_rule_does_not_block_other_changes(
    api: APIClient, vendor: Vendor
) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(
        deal_size_min=Decimal("100.50"), deal_size_max=None, deal_size_currency="JPY"
    )

    kept = api.patch("/api/v1/vendor/", {"keywords": ["taps"]}, format="json")
    changed = api.patch("/api/v1/vendor/", {"deal_size_min": "99.50"}, format="json")

    assert kept.status_code == 200, kept.json()
    assert_problem(changed, 400)
    vendor.refresh_from_db()
    assert (vendor.keywords, vendor.deal_size_min) == (["taps"], Decimal("100.50"))


def test_a_capacity_stored_above_the_bound_does_not_block_other_changes(
    api: APIClient, vendor: Vendor
) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(daily_capacity=250_000)

    kept = api.patch(
        "/api/v1/vendor/", {"keywords": ["taps"], "daily_capacity": 250_000}, format="json"
    )
    raised = api.patch("/api/v1/vendor/", {"daily_capacity": 250_001}, format="json")

    assert kept.status_code == 200, kept.json()
    assert_problem(raised, 400)


def test_categories_tree(api: APIClient, category: Category) -> None:
    CategoryFactory(slug="taps", name="Taps", parent=category)
    results = api.get("/api/v1/categories/").json()["results"]
    assert {"slug": "taps", "name": "Taps", "parent": "plumbing"} in results
    assert {"slug": "plumbing", "name": "Plumbing", "parent": None} in results


def test_categories_come_parents_before_children(api: APIClient) -> None:
    """As documented, on PostgreSQL too (where a NULL parent sorts last): a client builds
    the tree in one pass."""
    garden = CategoryFactory(slug="garden", name="Garden")
    zinc = CategoryFactory(slug="zinc-roofs", name="Zinc roofs")
    CategoryFactory(slug="aa-lawns", name="Aa lawns", parent=garden)
    CategoryFactory(slug="hedges", name="Hedges", parent=garden)
    CategoryFactory(slug="a-gutters", name="A gutters", parent=zinc)
    CategoryFactory(slug="aaa-seams", name="Aaa seams", parent=zinc)

    slugs = [item["slug"] for item in api.get("/api/v1/categories/").json()["results"]]

    assert slugs == [
        "garden", "aa-lawns", "hedges", "plumbing", "zinc-roofs", "a-gutters", "aaa-seams"
    ]  # fmt: skip


@pytest.mark.parametrize("method", ["delete", "put"])
def test_a_method_an_endpoint_lacks_is_405_whatever_its_query(api: APIClient, method: str) -> None:
    response = getattr(api, method)("/api/v1/categories/?page=1")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_schema_and_docs_are_served(client: object) -> None:
    schema = APIClient().get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/intents/",
        "/api/v1/intents/{id}/",
        "/api/v1/offers/",
        "/api/v1/offers/{id}/",
        "/api/v1/offers/{id}/withdraw/",
        "/api/v1/vendor/",
        "/api/v1/categories/",
    ):
        assert path in paths
    docs = APIClient().get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
    assert b'<html lang="en">' in docs.content  # screen readers read it as English
    assert b"<redoc spec-url=" in docs.content


def test_the_schema_declares_every_security_scheme_it_uses_and_the_export_as_json_ld(
    client: Any, buyer: Any
) -> None:
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    declared = set(schema["components"]["securitySchemes"])
    used = {
        name
        for item in schema["paths"].values()
        for operation in item.values()
        for requirement in operation.get("security", [])
        for name in requirement
    }
    export = schema["paths"]["/api/v1/me/export/"]["get"]["responses"]

    assert used <= declared
    assert list(export["200"]["content"]) == ["application/ld+json"]
    assert "429" not in export  # no API key, no key's rate limits
    client.force_login(buyer)
    anonymous = APIClient().get("/api/v1/me/export/")
    assert client.get("/api/v1/me/export/")["Content-Type"] == "application/ld+json"
    assert export["401"]["headers"]["WWW-Authenticate"]["description"] == (
        f"`{anonymous['WWW-Authenticate']}`"
    )


def test_unknown_path_is_a_problem(api: APIClient) -> None:
    assert_problem(api.get("/api/v1/intents/not-a-uuid/"), 404)


def test_wrong_method_is_a_problem(api: APIClient) -> None:
    assert_problem(api.delete("/api/v1/vendor/"), 405)


def test_malformed_json_is_a_problem(api: APIClient) -> None:
    response = api.generic("POST", "/api/v1/offers/", "{not json", content_type="application/json")
    assert_problem(response, 400)


def test_make_client(vendor_client: Callable[[Vendor], APIClient], vendor: Vendor) -> None:
    assert vendor_client(vendor).get("/api/v1/vendor/").json()["slug"] == vendor.slug


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(vendor: Vendor, scheme: str) -> None:
    """RFC 9110 §11.1: an authentication scheme is matched case-insensitively."""
    raw_key = api_key_create(vendor=vendor).raw_key

    response = APIClient().get("/api/v1/vendor/", HTTP_AUTHORIZATION=f"{scheme} {raw_key}")

    assert response.status_code == 200


def test_a_profile_change_keeps_what_others_wrote_to_the_vendor_meanwhile(
    vendor: Vendor,
) -> None:
    """The PATCH saves the profile's columns from the row it read, not the whole row."""
    as_the_request_read_it = Vendor.objects.get(pk=vendor.pk)
    vendor_set_suspended(vendor=vendor, is_suspended=True)
    Vendor.objects.filter(pk=vendor.pk).update(notices_today=7, rating_count=3)

    vendor_update(vendor=as_the_request_read_it, description="We fix pipes.")

    vendor.refresh_from_db()
    assert (vendor.description, vendor.is_suspended) == ("We fix pipes.", True)
    assert (vendor.notices_today, vendor.rating_count) == (7, 3)


@pytest.mark.parametrize("slug", ["plumb\x00ing", "plumbing ", "ünïcode", ""])
def test_profile_refuses_a_category_no_slug_can_be_with_nothing_changed(
    api: APIClient, vendor: Vendor, slug: str
) -> None:
    """A NUL byte reached PostgreSQL's lookup and made a 500 (found by the schema fuzzer)."""
    before = sorted(vendor.categories.values_list("slug", flat=True))

    response = api.patch("/api/v1/vendor/", {"categories": [slug]}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "categories" in response.json()["errors"]
    assert sorted(vendor.categories.values_list("slug", flat=True)) == before


@pytest.mark.parametrize("key", ["ic_ab\x00cd_secret", "ic_ABCDEF_secret", "ic_ab cd_secret"])
def test_a_key_whose_prefix_no_key_has_is_401(api: APIClient, key: str) -> None:
    """A NUL byte in the prefix reached PostgreSQL and made a 500 (a server in front may not stop it)."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = api.get("/api/v1/intents/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_text_is_taken_only_as_a_json_string(api: APIClient, vendor: Vendor) -> None:
    api.get("/api/v1/vendor/")  # the key's first use marks the vendor seen
    before = Vendor.objects.filter(pk=vendor.pk).values().get()

    response = api.patch("/api/v1/vendor/", {"name": 42, "description": "fine"}, format="json")

    body = assert_problem(response, 400)
    assert body["errors"] == {"name": ["Send text, as a JSON string."]}
    assert Vendor.objects.filter(pk=vendor.pk).values().get() == before


def test_the_schema_says_what_the_server_refuses(api: APIClient) -> None:
    """Unknown fields (every request body), pages and sizes out of bounds, orderings the
    view does not take, and a negative quantity."""
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    requests = {name: c for name, c in components.items() if name.endswith("Request")}
    offers, intents = (
        {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        for path in ("/api/v1/offers/", "/api/v1/intents/")
    )
    ordering = re.compile(intents["ordering"]["pattern"])
    quantity = re.compile(components["LineItemRequest"]["properties"]["quantity"]["pattern"])

    assert {"OfferCreateRequest", "PatchedVendorRequest", "WebhookEndpointRequest"} <= set(requests)
    assert all(c["additionalProperties"] is False for c in requests.values())
    assert not [n for n, c in components.items() if "Rejects fields" in c.get("description", "")]
    assert offers["page_size"] == {"type": "integer", "minimum": 1, "maximum": 999_999}
    assert {"type": "integer", "minimum": 1, "maximum": 999_999} in offers["page"]["oneOf"]
    assert api.get("/api/v1/offers/?page_size=1000000").status_code == 400
    for term in ("offers_close_at", "-budget_max", "created_at,-budget_max"):
        assert ordering.fullmatch(term)
        assert api.get(f"/api/v1/intents/?ordering={term}").status_code == 200
    assert not ordering.fullmatch("price")
    assert api.get("/api/v1/intents/?ordering=price").status_code == 400
    assert quantity.fullmatch("2.5") and not quantity.fullmatch("-1")


@pytest.mark.parametrize("sent", ["5", 5.0, True])
def test_a_capacity_that_is_not_a_json_integer_is_refused_and_changes_nothing(
    api: APIClient, vendor: Vendor, sent: object
) -> None:
    response = api.patch("/api/v1/vendor/", {"daily_capacity": sent}, format="json")

    body = assert_problem(response, 400)
    assert body["errors"] == {"daily_capacity": ["A whole number from 0 to 100,000."]}
    assert Vendor.objects.get(pk=vendor.pk).daily_capacity == vendor.daily_capacity != 5


def test_the_api_docs_describe_every_event_and_how_webhooks_are_sent() -> None:
    """An integrator builds the webhook side from the docs alone: the docs follow the code."""
    from marketplace.events import EVENT_TYPES
    from marketplace.webhooks import RETRY_DELAYS, TIMEOUT_SECONDS

    schema = APIClient().get("/api/v1/schema/?format=json").json()
    description = schema["info"]["description"]
    endpoint = schema["components"]["schemas"]["WebhookEndpoint"]["properties"]["event_types"]

    for event_type in EVENT_TYPES:
        assert f"| `{event_type}` |" in description
    schedule = ", ".join(
        f"{int(delay.total_seconds() // 3600)} h"
        if delay >= timedelta(hours=1)
        else f"{int(delay.total_seconds() // 60)} min"
        if delay >= timedelta(minutes=1)
        else f"{int(delay.total_seconds())} s"
        for delay in RETRY_DELAYS
    )
    assert schedule.rsplit(", ", 1)[0] + " and " + schedule.rsplit(", ", 1)[1] in (
        " ".join(description.split())
    )
    assert f"within {TIMEOUT_SECONDS} seconds" in description
    assert "webhook-signature" in description
    items = endpoint["items"]
    enum = (
        items.get("enum")
        or schema["components"]["schemas"][items["$ref"].rsplit("/", 1)[1]]["enum"]
    )
    assert sorted(enum) == sorted(EVENT_TYPES)


def test_the_api_docs_say_what_an_integrator_needs_and_no_placeholder(
    api: APIClient, vendor: Vendor, open_intent: Any, settings: Any
) -> None:
    """The limits as this server keeps them, per vendor; what criteria_answers holds;
    the intent in an intent.matched event as the list shows it; this API's own examples."""
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    description = " ".join(schema["info"]["description"].split())
    components = schema["components"]["schemas"]
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    too_many = schema["paths"]["/api/v1/intents/"]["get"]["responses"]["429"]["description"]
    answers = [
        components[name]["properties"]["criteria_answers"].get("description", "")
        for name in ("OfferCreateRequest", "PatchedOfferUpdateRequest")
    ]
    listed = set(api.get("/api/v1/intents/").json()["results"][0])
    one = set(api.get(f"/api/v1/intents/{open_intent.pk}/").json())
    examples = [
        component["properties"]["next"].get("example", "")
        for name, component in components.items()
        if name.startswith("Paginated")
    ]

    assert f"{rates['api_key']} requests, of which {rates['api_key_write']} writes" in description
    assert "whichever of its API keys it uses" in description
    assert "this API key" not in too_many and "vendor" in too_many
    assert all("keyed by their `key`" in text and "JSON boolean" in text for text in answers)
    assert "replaces the answers" in answers[1]
    assert "`intent` (as `GET intents/` lists it;" in description
    assert one > listed  # what GET intents/{id}/ adds, which the event leaves out
    assert examples and all(
        example.startswith("https://intentcast.example/api/v1/") for example in examples
    )
    parameters = {
        p["name"]: p.get("description", "")
        for p in schema["paths"]["/api/v1/intents/"]["get"]["parameters"]
    }
    for budget in ("budget_min", "budget_max"):
        assert "in each intent's own currency" in parameters[budget]


def test_an_intent_not_yet_answered_and_a_vendor_without_a_website_are_as_the_schema_says(
    api: APIClient, vendor: Vendor, open_intent: Any
) -> None:
    """The first reads of an integration: a strict client generated from the schema takes
    them (my_offer null, website blank)."""
    Vendor.objects.filter(pk=vendor.pk).update(website="")
    intent = api.get(f"/api/v1/intents/{open_intent.pk}/").json()
    profile = api.get("/api/v1/vendor/").json()

    assert (intent["my_offer"], profile["website"]) == (None, "")
    assert schema_errors("VendorIntentDetail", intent) == []
    assert schema_errors("Vendor", profile) == []
    assert schema_errors("PatchedVendorRequest", {"website": ""}) == []
    assert schema_errors("PatchedVendorRequest", {"website": "https://acme.example"}) == []
    assert schema_errors("PatchedVendorRequest", {"website": 5}) != []  # it checks something


def test_the_schema_says_an_idempotent_write_s_409_may_carry_retry_after() -> None:
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    conflict = schema["paths"]["/api/v1/offers/"]["post"]["responses"]["409"]

    assert "Retry-After" in conflict["headers"]
    assert "`retry`" in conflict["description"]


def test_every_problem_type_leads_to_its_documentation() -> None:
    """RFC 9457 §3.1.1: a type URI, dereferenced, documents the problem type."""
    from marketplace.api.problems import SLUGS, TYPE_OF_KIND

    description = APIClient().get("/api/v1/schema/?format=json").json()["info"]["description"]
    types = [*SLUGS.values(), *(slug for slug, _ in TYPE_OF_KIND.values())]

    for slug in types:
        response = APIClient().get(f"/api/v1/problems/{slug}")
        assert response.status_code == 302, slug
        assert response["Location"] == "/api/v1/docs/#section/Problem-types"
        assert f"| `/api/v1/problems/{slug}` |" in description, slug
    assert "# Problem types" in description
    assert_problem(APIClient().get("/api/v1/problems/no-such-type"), 404)
