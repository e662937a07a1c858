"""A real Celery worker on a real Redis matches a published intent and delivers a signed webhook.

Also the fault cases of DESIGN §4: Redis stopped while intents are published,
and a worker killed with SIGKILL in the middle of a fan-out. PostgreSQL only.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from intents.models import Intent, Notice
from intents.services import intent_create
from intents.tasks import sweep_unmatched_intents
from marketplace.models import Category, WebhookDelivery
from marketplace.tasks import dispatch_events, retry_due_webhooks
from marketplace.webhooks import SENDS_PER_HOST, webhook_endpoint_create
from tests.factories import CategoryFactory, UserFactory, VendorFactory
from tests.real_parts import RedisServer, wait_until
from tests.receiver import webhook_receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def publish(category: Category, title: str, **fields: Any) -> Intent:
    return intent_create(
        buyer=UserFactory(),
        title=title,
        description="A job for a real worker.",
        category=category,
        currency="EUR",
        country="DE",
        offers_close_at=timezone.now() + timedelta(days=3),
        **fields,
    )


def test_worker_matches_and_delivers_a_signed_webhook(
    redis_server: RedisServer, start_worker: Callable[[str], Any], enqueue_to: Any
) -> None:
    category = CategoryFactory(slug="plumbing")
    vendor = VendorFactory(categories=[category])
    start_worker("e2e")
    with webhook_receiver() as receiver:
        endpoint = webhook_endpoint_create(vendor=vendor, url=receiver.url + "/hooks")
        with enqueue_to(redis_server.url):
            intent = publish(category, "Fix the boiler")

        [received] = receiver.wait_for(1, timeout=60)

    payload = Webhook(endpoint.secret).verify(received.body, received.headers)
    assert payload["type"] == "intent.matched"
    assert payload["data"]["intent"]["id"] == str(intent.pk)
    assert payload["data"]["intent"]["buyer"] == intent.pseudonym
    assert payload["data"]["reasons"] == ["category: plumbing", "region: DE"]
    assert Notice.objects.filter(intent=intent).count() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.message_id == received.headers["webhook-id"]
    wait_until(
        lambda: WebhookDelivery.objects.get().status == WebhookDelivery.Status.SUCCEEDED,
        10,
        "the delivery to be recorded",
    )


def test_publishing_while_redis_is_down_loses_nothing(
    redis_server: RedisServer, start_worker: Callable[[str], Any], enqueue_to: Any
) -> None:
    category = CategoryFactory(slug="plumbing")
    vendors = [VendorFactory(categories=[category]) for _ in range(3)]
    start_worker("faults")

    redis_server.stop()
    timings = []
    with enqueue_to(redis_server.url):
        intents = []
        for n in range(5):
            started = time.monotonic()
            intents.append(publish(category, f"Published with Redis down #{n}"))
            timings.append(time.monotonic() - started)
    assert max(timings) < 10, timings  # no publish hung on the broker
    assert Intent.objects.filter(needs_matching=True).count() == 5

    redis_server.start()
    with enqueue_to(redis_server.url):
        assert sweep_unmatched_intents.run(later_by_seconds=30) == 5

    wait_until(
        lambda: not Intent.objects.filter(needs_matching=True).exists(),
        60,
        "matching after restart",
    )
    for intent in intents:
        assert set(Notice.objects.filter(intent=intent).values_list("vendor_id", flat=True)) == {
            vendor.pk for vendor in vendors
        }
    assert Notice.objects.count() == 15


def test_worker_killed_mid_fan_out_delivers_every_event_once_per_webhook_id(
    redis_server: RedisServer, start_worker: Callable[[str], Any], enqueue_to: Any
) -> None:
    vendor_count = 40
    category = CategoryFactory(slug="plumbing")
    vendors = [VendorFactory(categories=[category]) for _ in range(vendor_count)]
    with webhook_receiver() as receiver:
        receiver.delay_seconds = 0.1  # slow enough to kill the worker mid-way
        for vendor in vendors:
            webhook_endpoint_create(vendor=vendor, url=f"{receiver.url}/{vendor.slug}")
        first = start_worker("first")
        with enqueue_to(redis_server.url):
            intent = publish(category, "Fan-out", max_vendors=vendor_count)
        receiver.wait_for(8, timeout=60)
        first.kill()
        killed_after = len(receiver.received)
        assert killed_after < vendor_count, "the worker finished before it could be killed"

        start_worker("second")
        with enqueue_to(redis_server.url):

            def everything_delivered() -> bool:
                dispatch_events.run()
                retry_due_webhooks.run()
                return (
                    not WebhookDelivery.objects.exclude(
                        status=WebhookDelivery.Status.SUCCEEDED
                    ).exists()
                    and WebhookDelivery.objects.count() == vendor_count
                )

            wait_until(everything_delivered, 90, "every delivery after the restart")
        received = list(receiver.received)

    ids_by_vendor: dict[str, set[str]] = defaultdict(set)
    for item in received:
        assert json.loads(item.body)["data"]["intent"]["id"] == str(intent.pk)
        ids_by_vendor[item.path.strip("/")].add(item.headers["webhook-id"])
    assert Notice.objects.filter(intent=intent).count() == vendor_count
    assert set(ids_by_vendor) == {vendor.slug for vendor in vendors}
    assert all(len(ids) == 1 for ids in ids_by_vendor.values()), ids_by_vendor
    duplicates = len(received) - vendor_count
    print(
        f"\nfan-out fault: {vendor_count} notices, {vendor_count} events, killed after "
        f"{killed_after} receipts, {len(received)} POSTs received, {duplicates} re-sent "
        f"with the same webhook-id"
    )
    # Each attempt is recorded as it ends: only the requests in flight at the kill can
    # arrive twice, at most SENDS_PER_HOST of them (every receiver here is one host).
    assert duplicates <= SENDS_PER_HOST
