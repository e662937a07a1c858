"""Events for vendors: the outbox behind webhooks and the vendor's event feed.

Higher layers report facts with :func:`emit` inside their own transaction;
nothing is sent before that transaction commits. The dispatcher then gives
each new event its feed position and creates one webhook delivery per
interested endpoint, both idempotently.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from marketplace.models import Event, Vendor, WebhookDelivery, WebhookEndpoint
from marketplace.queue import enqueue_on_commit

EVENT_TYPES = (
    "intent.matched",
    "intent.updated",
    "intent.closed",
    "intent.withdrawn",
    "question.answered",
    "offer.accepted",
    "offer.declined",
)
TEST_EVENT_TYPE = "webhook.test"

DISPATCH_BATCH = 1000
DELIVERY_TASK_BATCH = 100
# Any 64-bit number of our own, so the sequencer's advisory lock is ours alone.
SEQUENCER_LOCK_ID = 7_331_001


# A higher layer whose events can stop applying before the vendor reads them (an intent
# a moderator hid, a vendor its buyer blocked) registers a check here, by name: given
# events, the ids of those no longer to tell. Their webhook deliveries not yet made are
# dropped, and the vendor's feed passes over them.
NoLongerToTell = Callable[[list["Event"]], set[int]]
_no_longer_to_tell: dict[str, NoLongerToTell] = {}


def register_no_longer_to_tell(name: str, check: NoLongerToTell) -> None:
    _no_longer_to_tell[name] = check


def events_no_longer_to_tell(events: list[Event]) -> set[int]:
    """The ids of ``events`` that some registered check says not to tell any more."""
    refused: set[int] = set()
    for check in _no_longer_to_tell.values():
        refused |= check(events)
    return refused


@dataclass(frozen=True)
class NewEvent:
    vendor_id: Any
    type: str
    payload: dict[str, Any]
    dedupe_key: str


def emit_many(events: Iterable[NewEvent]) -> None:
    """Record events in the caller's transaction; dispatch them after it commits.

    The same ``(vendor, dedupe_key)`` twice is silently kept once, so a task
    that runs again emits nothing new.
    """
    rows = [
        Event(
            vendor_id=event.vendor_id,
            type=event.type,
            payload=event.payload,
            dedupe_key=event.dedupe_key,
        )
        for event in events
    ]
    if not rows:
        return
    for row in rows:
        assert row.type in EVENT_TYPES or row.type == TEST_EVENT_TYPE, row.type
    Event.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    enqueue_on_commit("marketplace.dispatch_events")


def emit_shared(
    *, type: str, shared: dict[str, Any], each: list[tuple[Any, str, dict[str, Any]]]
) -> None:
    """:func:`emit_many` for one fact told to many vendors: ``shared | part`` per vendor.

    ``each`` is ``(vendor_id, dedupe_key, part)``. The rows are the same as
    emit_many's. On PostgreSQL the shared part (an intent's whole payload, say)
    travels once and the database merges it into each row, in one statement:
    quoting two hundred copies of it client-side cost more than everything else
    in a fan-out.
    """
    if not each:
        return
    assert type in EVENT_TYPES, type
    if connection.vendor != "postgresql":
        emit_many(
            NewEvent(vendor_id=vendor_id, type=type, payload=shared | part, dedupe_key=key)
            for vendor_id, key, part in each
        )
        return
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (vendor_id, type, payload, dedupe_key, created_at)"
            " SELECT (item->>0)::uuid, %s, %s::jsonb || (item->2), item->>1, %s"
            " FROM jsonb_array_elements(%s::jsonb) AS item"
            # As emit_many's ignore_conflicts: the same (vendor, dedupe_key) is kept once.
            " ON CONFLICT DO NOTHING",
            [
                type,
                json.dumps(shared),
                timezone.now(),
                json.dumps([[str(vendor_id), key, part] for vendor_id, key, part in each]),
            ],
        )
    enqueue_on_commit("marketplace.dispatch_events")


def emit(*, vendor_id: Any, type: str, payload: dict[str, Any], dedupe_key: str) -> None:
    emit_many([NewEvent(vendor_id=vendor_id, type=type, payload=payload, dedupe_key=dedupe_key)])


def event_body(event: Event) -> dict[str, Any]:
    """The webhook body and the feed item: ``{type, timestamp, data}`` (plus feed fields)."""
    return {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload}


def _lock_sequencer() -> None:
    # One sequencer at a time, until its transaction commits: positions are
    # then handed out in commit order. SQLite has a single writer anyway.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK_ID])


def events_dispatch(*, limit: int = DISPATCH_BATCH) -> int:
    """Position the next undispatched events and create their webhook deliveries.

    Returns how many events it handled; call again while it returns ``limit``.
    Safe to run concurrently and repeatedly.
    """
    with transaction.atomic():
        _lock_sequencer()
        pending = list(
            Event.objects.filter(position__isnull=True)
            .order_by("id")
            .only("id", "vendor_id", "type")[:limit]
        )
        if not pending:
            return 0
        last = Event.objects.aggregate(last=Max("position"))["last"] or 0
        for offset, event in enumerate(pending, start=1):
            event.position = last + offset
        Event.objects.bulk_update(pending, ["position"], batch_size=1000)

        endpoints: dict[Any, list[WebhookEndpoint]] = defaultdict(list)
        # A suspended vendor's events stay in its feed (its keys are refused meanwhile);
        # its endpoints hear nothing.
        for endpoint in WebhookEndpoint.objects.filter(
            vendor_id__in={event.vendor_id for event in pending},
            is_active=True,
            vendor__is_suspended=False,
        ):
            endpoints[endpoint.vendor_id].append(endpoint)
        now = timezone.now()
        deliveries = [
            WebhookDelivery(
                event_id=event.id,
                endpoint=endpoint,
                message_id=f"msg_{uuid.uuid4().hex}",
                next_attempt_at=now,
            )
            for event in pending
            if event.type != TEST_EVENT_TYPE
            for endpoint in endpoints[event.vendor_id]
            if endpoint.wants(event.type)
        ]
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        delivery_ids = list(
            WebhookDelivery.objects.filter(
                event_id__in=[event.id for event in pending], status=WebhookDelivery.Status.PENDING
            ).values_list("id", flat=True)
        )
        for start in range(0, len(delivery_ids), DELIVERY_TASK_BATCH):
            batch = [
                str(delivery_id)
                for delivery_id in delivery_ids[start : start + DELIVERY_TASK_BATCH]
            ]
            enqueue_on_commit("marketplace.deliver_webhooks", batch)
    return len(pending)


def events_of_vendor_after(*, vendor: Vendor, after: int, limit: int) -> QuerySet[Event]:
    """The vendor's dispatched events after a feed position, oldest first."""
    return (
        Event.objects.filter(vendor=vendor, position__gt=after)
        .exclude(type=TEST_EVENT_TYPE)
        .order_by("position")[:limit]
    )


def feed_page(*, vendor: Vendor, after: int, limit: int) -> tuple[list[Event], int]:
    """The vendor's feed after ``after``: the events still to tell, and the next cursor.

    The cursor moves past the events passed over too (see events_no_longer_to_tell):
    an intent shown again is told afresh (``intent.updated``), not replayed.
    """
    events = list(events_of_vendor_after(vendor=vendor, after=after, limit=limit))
    next_cursor = events[-1].position if events else after
    refused = events_no_longer_to_tell(events)
    return [event for event in events if event.id not in refused], next_cursor
