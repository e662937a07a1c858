"""Idempotency keys: a retried create request gets the first answer instead of a second object.

DESIGN §5: a POST that creates something honours ``Idempotency-Key`` per
vendor, kept at least 24 hours. The same key with the same request replays
the stored response; with another request it is refused (422); while the
first request still runs, a second one is refused (409).

A key is spent only by a request that succeeded. A request that failed
changed nothing, so its claim is released and the key may be retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from marketplace.errors import RETRY, UNPROCESSABLE, DomainError
from marketplace.models import IdempotencyKey, Vendor

KEY_MAX_LENGTH = 255
# DESIGN §5 asks for at least 24 hours; the beat task deletes older rows.
RETENTION = timedelta(hours=24)
# A claim still without a response after this long belongs to a request that
# died: requests are cut off much sooner (gunicorn's worker timeout is 30 s),
# and the change and its stored response commit together, so a dead request
# created nothing. Its key may then be taken over.
CLAIM_TIMEOUT = timedelta(minutes=2)


def idempotency_key_claim(*, vendor: Vendor, key: str, fingerprint: str) -> IdempotencyKey:
    """Claim ``key`` for a request, or find the response stored under it.

    Returns the row: with ``completed_at`` set it holds the response to
    replay; otherwise this request now owns the key. Call it outside any
    transaction, so that the claim is visible to concurrent requests at once.
    Raises a 422 problem when the key was used for another request, and a 409
    problem while the request that holds it is still running.
    """
    now = timezone.now()
    try:
        # Its own transaction (a savepoint inside one): of two concurrent
        # inserts the unique constraint lets exactly one through.
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                vendor=vendor, key=key, request_fingerprint=fingerprint, claimed_at=now
            )
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.filter(vendor=vendor, key=key).first()
    if record is None:
        # The holder failed and released the key a moment ago.
        raise DomainError(
            "A request with this Idempotency-Key just finished; retry.",
            kind=RETRY,
            retry_after=1,
        )
    if record.request_fingerprint != fingerprint:
        raise DomainError(
            "This Idempotency-Key was used for a different request.",
            kind=UNPROCESSABLE,
            errors={"Idempotency-Key": ["Already used with another method, path or body."]},
        )
    if record.completed_at is not None:
        return record
    if record.claimed_at < now - CLAIM_TIMEOUT and _take_over(record, now=now):
        return record
    raise DomainError(
        "A request with this Idempotency-Key is still in progress; retry later.",
        kind=RETRY,
        retry_after=1,
    )


def _take_over(record: IdempotencyKey, *, now: datetime) -> bool:
    """Take a dead request's claim; of several retries only one gets it."""
    taken = IdempotencyKey.objects.filter(
        pk=record.pk, completed_at__isnull=True, claimed_at=record.claimed_at
    ).update(claimed_at=now)
    if taken:
        record.claimed_at = now
    return bool(taken)


def idempotency_key_complete(
    *, record: IdempotencyKey, status_code: int, body: bytes, content_type: str
) -> None:
    """Store the response of the request that holds the claim.

    Call it inside the transaction that made the change: both commit, or
    neither. If the claim was taken over meanwhile (this request ran past
    :data:`CLAIM_TIMEOUT`), raises a 409 problem, which rolls the change back.
    """
    stored = IdempotencyKey.objects.filter(
        pk=record.pk, claimed_at=record.claimed_at, completed_at__isnull=True
    ).update(
        status_code=status_code,
        response_body=body,
        response_content_type=content_type,
        completed_at=timezone.now(),
    )
    if not stored:
        raise DomainError(
            "This request took too long and was not applied; retry it with the same "
            "Idempotency-Key.",
            kind=RETRY,
            retry_after=1,
        )


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget the claim of a request that failed: nothing was created, the key may be reused."""
    IdempotencyKey.objects.filter(
        pk=record.pk, claimed_at=record.claimed_at, completed_at__isnull=True
    ).delete()


def idempotency_keys_delete_expired(*, now: datetime | None = None) -> int:
    """Delete keys older than :data:`RETENTION`; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def idempotency_responses_forget(*, vendor_ids: Iterable[Any], mentioning: Iterable[Any]) -> int:
    """Delete these vendors' stored responses that name any of ``mentioning`` (an erased
    buyer's intents): replayed, they would show again what the erasure took away (the
    answers keyed by the buyer's words). The key's request, sent again, runs again, and
    is refused as any repeat of it is. Returns how many."""
    mentioned = [str(value) for value in mentioning]
    stored = IdempotencyKey.objects.filter(vendor__in=vendor_ids, completed_at__isnull=False)
    if not mentioned:
        return 0
    if connection.vendor == "postgresql":
        # Searched where they are: a busy vendor stores tens of thousands a day.
        naming = stored.filter(
            RawSQL(
                "convert_from(response_body, 'UTF8') LIKE ANY(%s)",
                [[f"%{value}%" for value in mentioned]],
                output_field=BooleanField(),
            )
        )
    else:  # the embedded default: a few, read a batch at a time
        needles = [value.encode() for value in mentioned]
        naming = stored.filter(
            pk__in=[
                record.pk
                for record in stored.only("pk", "response_body").iterator(chunk_size=200)
                if any(needle in bytes(record.response_body or b"") for needle in needles)
            ]
        )
    deleted, _ = naming.delete()
    return deleted
