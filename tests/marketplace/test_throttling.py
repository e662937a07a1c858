"""Rate limits per vendor: 429 with Retry-After as a problem, writes limited more strictly.

And the bounds on what a vendor or a buyer could otherwise multiply: keys, webhook
endpoints, deliveries sent by hand, intents published."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.utils import timezone
from rest_framework.test import APIClient

from intents import services as intent_services
from intents.models import Intent
from intents.services import intent_create, intent_update
from marketplace import counters
from marketplace.api.throttling import ApiKeyRateThrottle
from marketplace.errors import DomainError
from marketplace.models import ApiKey, Category, Event, User, Vendor, WebhookEndpoint
from marketplace.services import MAX_LIVE_KEYS, api_key_create, api_key_revoke
from marketplace.webhooks import MANUAL_SENDS_PER_MINUTE, MAX_ENDPOINTS, webhook_endpoint_create
from tests.factories import VendorFactory
from tests.real_parts import RedisServer, free_port
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings: Any) -> Callable[[str, str], None]:
    def set_rates(every: str, writes: str) -> None:
        settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
            "DEFAULT_THROTTLE_RATES": {"api_key": every, "api_key_write": writes}
        }

    return set_rates


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert 0 < int(response["Retry-After"]) <= 60
    body = response.json()
    assert (body["status"], body["title"], body["type"]) == (
        429,
        "Too many requests",
        "/api/v1/problems/throttled",
    )
    assert "throttled" in body["detail"]


def test_requests_over_the_rate_are_429_with_retry_after(
    api: APIClient, rates: Callable[[str, str], None]
) -> None:
    rates("3/min", "3/min")
    for _ in range(3):
        assert api.get("/api/v1/vendor/").status_code == 200

    assert_throttled(api.get("/api/v1/vendor/"))


def test_writes_have_a_stricter_limit_and_a_throttled_write_changes_nothing(
    api: APIClient, vendor: Vendor, rates: Callable[[str, str], None]
) -> None:
    rates("100/min", "2/min")
    for capacity in (10, 20):
        assert api.patch("/api/v1/vendor/", {"daily_capacity": capacity}).status_code == 200

    assert_throttled(api.patch("/api/v1/vendor/", {"daily_capacity": 30}))
    vendor.refresh_from_db()
    assert vendor.daily_capacity == 20
    assert api.get("/api/v1/vendor/").status_code == 200  # reads still go through


def test_the_limit_is_per_vendor_whichever_key_it_uses(
    api: APIClient,
    vendor: Vendor,
    vendor_client: Callable[[Vendor], APIClient],
    rates: Callable[[str, str], None],
) -> None:
    """More keys are no more requests; another vendor keeps its own share."""
    rates("1/min", "1/min")
    assert api.get("/api/v1/vendor/").status_code == 200
    assert_throttled(api.get("/api/v1/vendor/"))

    assert_throttled(vendor_client(vendor).get("/api/v1/vendor/"))  # a new key of the same vendor
    assert vendor_client(VendorFactory()).get("/api/v1/vendor/").status_code == 200


def test_each_answer_says_where_the_vendor_stands_against_the_nearest_limit(
    api: APIClient, rates: Callable[[str, str], None]
) -> None:
    """An integration paces itself before a 429: RateLimit-Limit, -Remaining, -Reset."""
    rates("10/min", "3/min")

    read = api.get("/api/v1/vendor/")
    write = api.patch("/api/v1/vendor/", {"daily_capacity": 10})
    refused = [api.patch("/api/v1/vendor/", {"daily_capacity": 10}) for _ in range(3)][-1]
    anonymous = APIClient().get("/api/v1/vendor/")

    assert (read["RateLimit-Limit"], read["RateLimit-Remaining"]) == ("10", "9")
    # A write counts against both; the writes' limit is the nearer.
    assert (write["RateLimit-Limit"], write["RateLimit-Remaining"]) == ("3", "2")
    assert 0 < int(write["RateLimit-Reset"]) <= 60
    assert refused.status_code == 429 and refused["RateLimit-Remaining"] == "0"
    assert "RateLimit-Limit" not in anonymous  # nothing was counted for it


def test_no_key_is_401_not_throttled(rates: Callable[[str, str], None]) -> None:
    rates("1/min", "1/min")
    for _ in range(3):
        assert APIClient().get("/api/v1/vendor/").status_code == 401


def test_concurrent_requests_cannot_share_the_last_place(
    vendor: Vendor, rates: Callable[[str, str], None]
) -> None:
    rates("5/min", "5/min")
    key = api_key_create(vendor=vendor, name="busy").api_key
    request = SimpleNamespace(auth=key, method="POST")
    start = threading.Barrier(20)

    def ask(_: int) -> bool:
        start.wait()
        return ApiKeyRateThrottle().allow_request(request, None)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(ask, range(20)))

    assert answers.count(True) == 5


@pytest.mark.parametrize("backend", ["redis", "local cache"])
def test_the_window_is_counted_in_redis_with_an_expiry_or_in_the_local_cache(
    backend: str, vendor: Vendor, rates: Callable[[str, str], None], settings: Any
) -> None:
    """Production counts in Redis (one round trip), the embedded site in its local cache."""
    server = RedisServer(free_port())
    if backend == "redis":
        server.start()
    settings.REDIS_URL = server.url if backend == "redis" else ""
    rates("2/min", "2/min")
    key = api_key_create(vendor=vendor, name="counted").api_key
    request = SimpleNamespace(auth=key, method="GET")
    try:
        answers = [ApiKeyRateThrottle().allow_request(request, None) for _ in range(3)]  # type: ignore[arg-type]
        if backend == "redis":
            client = redis.Redis.from_url(server.url)
            (counter,) = client.keys(f"throttle:api_key:vendor:{key.vendor_id}:*")
            assert int(client.get(counter)) == 3
            assert 0 < client.ttl(counter) <= 61  # the window and a second: never kept for ever
    finally:
        if backend == "redis":
            server.stop()
    assert answers == [True, True, False]


def test_a_write_counts_against_both_limits_each_window_expiring(
    vendor: Vendor, rates: Callable[[str, str], None], settings: Any
) -> None:
    server = RedisServer(free_port())
    server.start()
    settings.REDIS_URL = server.url
    rates("10/min", "2/min")
    key = api_key_create(vendor=vendor, name="writes").api_key
    throttle = ApiKeyRateThrottle()
    try:
        answers = [
            throttle.allow_request(SimpleNamespace(auth=key, method=method), None)  # type: ignore[arg-type]
            for method in ("POST", "GET", "PATCH", "DELETE", "GET")
        ]
        client = redis.Redis.from_url(server.url)
        counts = {
            scope: [int(client.get(counter)) for counter in client.keys(f"throttle:{scope}:*")]
            for scope in ("api_key", "api_key_write")
        }
        ttls = [client.ttl(counter) for counter in client.keys("throttle:*")]
    finally:
        server.stop()

    assert answers == [True, True, True, False, True]  # the third write is one too many
    assert counts == {"api_key": [5], "api_key_write": [3]}
    assert all(0 < ttl <= 61 for ttl in ttls)
    assert 0 < throttle.wait() <= 60


def test_when_redis_is_down_requests_pass_uncounted_and_an_error_is_logged_once(
    vendor: Vendor, rates: Callable[[str, str], None], settings: Any, caplog: Any
) -> None:
    settings.REDIS_URL = RedisServer(free_port()).url  # never started: the port refuses
    rates("1/min", "1/min")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")

    with caplog.at_level("ERROR", logger="marketplace.counters"):
        answers = [client.get("/api/v1/intents/").status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert [record.getMessage() for record in caplog.records] == [
        "Rate limits not counted: Redis does not answer (asking again in 10 s)"
    ]


class SilentServer:
    """A TCP server that accepts connections and reads, but never answers: a hung Redis."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.open:
            connection.close()


def test_a_hung_redis_is_not_asked_again_for_a_while(
    vendor: Vendor, rates: Callable[[str, str], None], settings: Any
) -> None:
    server = SilentServer()
    settings.REDIS_URL = server.url
    rates("1/min", "1/min")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
    try:
        answers = [client.get("/api/v1/intents/").status_code for _ in range(5)]
        asked_while_paused = server.connections
        counters._redis_paused_until.clear()  # the pause is over
        answers.append(client.get("/api/v1/intents/").status_code)
    finally:
        server.close()

    assert answers == [200] * 6
    assert asked_while_paused == 1  # the first request waited for it; the next four did not
    assert server.connections == 2


# --- Limits on what a vendor or a buyer can multiply ---------------------------------


def test_a_vendor_has_a_bounded_number_of_keys_in_use(vendor: Vendor) -> None:
    for number in range(MAX_LIVE_KEYS):
        last = api_key_create(vendor=vendor, name=f"key {number}")

    with pytest.raises(DomainError, match="revoke one first"):
        api_key_create(vendor=vendor, name="one more")

    assert ApiKey.objects.filter(vendor=vendor).count() == MAX_LIVE_KEYS
    api_key_revoke(api_key=last.api_key)
    api_key_create(vendor=vendor, name="in its place")


def test_a_vendor_has_a_bounded_number_of_webhook_endpoints_each_at_its_own_url(
    api: APIClient, vendor: Vendor
) -> None:
    first = api.post("/api/v1/webhooks/", {"url": "https://hooks.example.test/0"}, format="json")
    assert first.status_code == 201
    same = api.post("/api/v1/webhooks/", {"url": "https://hooks.example.test/0"}, format="json")
    assert same.status_code == 409
    assert same.json()["errors"] == {"url": ["You already have an endpoint at this URL."]}
    for number in range(1, MAX_ENDPOINTS):
        webhook_endpoint_create(vendor=vendor, url=f"https://hooks.example.test/{number}")

    refused = api.post("/api/v1/webhooks/", {"url": "https://hooks.example.test/x"}, format="json")

    assert refused.status_code == 409, refused.json()
    assert WebhookEndpoint.objects.filter(vendor=vendor).count() == MAX_ENDPOINTS
    # Nor can an endpoint be moved onto another's URL.
    moved = api.patch(
        f"/api/v1/webhooks/{first.json()['id']}/",
        {"url": "https://hooks.example.test/1"},
        format="json",
    )
    assert moved.status_code == 409
    assert WebhookEndpoint.objects.get(pk=first.json()["id"]).url == "https://hooks.example.test/0"


def test_deliveries_sent_by_hand_are_a_few_a_minute_per_vendor(
    api: APIClient, vendor: Vendor
) -> None:
    """Each holds its request until the receiver answers (up to 10 s)."""
    with webhook_receiver() as receiver:
        endpoint = webhook_endpoint_create(vendor=vendor, url=receiver.url + "/in")
        for _ in range(MANUAL_SENDS_PER_MINUTE):
            assert api.post(f"/api/v1/webhooks/{endpoint.pk}/test/").status_code == 200

        refused = api.post(f"/api/v1/webhooks/{endpoint.pk}/test/")

        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= 60
        assert len(receiver.received) == MANUAL_SENDS_PER_MINUTE


def test_one_buyer_publishes_a_bounded_number_of_intents(
    buyer: User, category: Category, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each intent takes a place in up to 200 vendors' daily capacity."""
    fields = {
        "title": "Boiler service",
        "description": "Annual service.",
        "category": category,
        "currency": "EUR",
        "country": "DE",
        "offers_close_at": timezone.now() + timedelta(days=5),
    }
    monkeypatch.setattr(intent_services, "OPEN_AT_ONCE", 3)
    for _ in range(3):
        intent_create(buyer=buyer, **fields)
    with pytest.raises(DomainError, match="intents open"):
        intent_create(buyer=buyer, **fields)
    assert Intent.objects.filter(buyer=buyer).count() == 3

    monkeypatch.setattr(intent_services, "OPEN_AT_ONCE", 1000)
    for _ in range(intent_services.PUBLISHED_PER_HOUR - 3):
        intent_create(buyer=buyer, **fields)
    with pytest.raises(DomainError, match="this hour") as refused:
        intent_create(buyer=buyer, **fields)

    assert refused.value.kind == "throttled"
    assert Intent.objects.filter(buyer=buyer).count() == intent_services.PUBLISHED_PER_HOUR
    draft = intent_create(buyer=buyer, publish=False, **fields)  # a draft takes no place
    assert draft.status == Intent.Status.DRAFT


def test_an_open_intent_is_changed_and_told_to_its_vendors_a_bounded_number_of_times(
    open_intent: Intent, vendor: Vendor
) -> None:
    for number in range(intent_services.TOLD_CHANGES_PER_HOUR):
        intent_update(intent=open_intent, title=f"Boiler service {number}")

    with pytest.raises(DomainError, match="change it again later") as refused:
        intent_update(intent=open_intent, title="One change too many")

    assert refused.value.kind == "throttled"
    assert Intent.objects.get(pk=open_intent.pk).title == (
        f"Boiler service {intent_services.TOLD_CHANGES_PER_HOUR - 1}"
    )
    told = Event.objects.filter(vendor=vendor, type="intent.updated").count()
    assert told == intent_services.TOLD_CHANGES_PER_HOUR


def test_saving_an_open_intent_with_nothing_new_tells_nobody_and_counts_nothing(
    open_intent: Intent, vendor: Vendor
) -> None:
    for _ in range(intent_services.TOLD_CHANGES_PER_HOUR + 1):
        intent_update(intent=open_intent, title=open_intent.title, max_vendors=7)

    assert not Event.objects.filter(vendor=vendor, type="intent.updated").exists()
    intent_update(intent=open_intent, title="Boiler service, and the radiators")  # still allowed
    assert Event.objects.filter(vendor=vendor, type="intent.updated").count() == 1
