"""``Idempotency-Key`` for API views that create something (the rules: marketplace.idempotency)."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from marketplace.api.permissions import request_vendor
from marketplace.errors import DomainError
from marketplace.idempotency import (
    KEY_MAX_LENGTH,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
)
from marketplace.models import IdempotencyKey

HEADER = "Idempotency-Key"
# Set on a replayed response, as Stripe does, so a client can tell.
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces: a UUID or any token of the client's.
KEY_PATTERN = re.compile(rf"[!-~]{{1,{KEY_MAX_LENGTH}}}")

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    description=(
        "Makes retrying safe: the same key with the same request replays the first "
        "response (kept 24 h) instead of creating again; with a different request → 422; "
        "while the first request runs → 409. 1 to 255 printable ASCII characters, e.g. a UUID."
    ),
)

Handler = Callable[..., HttpResponseBase]


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path (with query) and raw body: what makes two requests "the same"."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def idempotent(handler: Handler) -> Handler:
    """Honour ``Idempotency-Key`` on a vendor API view method that creates something."""

    @functools.wraps(handler)
    def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            raise DomainError(
                "The Idempotency-Key header is not valid.",
                errors={HEADER: [f"1 to {KEY_MAX_LENGTH} printable ASCII characters, no spaces."]},
            )
        record = idempotency_key_claim(
            vendor=request_vendor(request), key=key, fingerprint=request_fingerprint(request)
        )
        if record.completed_at is not None:
            return _replay(record)
        try:
            # The change and its stored response commit together: no crash in
            # between can leave an object created but its key unanswered.
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                response = view.finalize_response(request, response, *args, **kwargs)
                response.render()  # type: ignore[attr-defined]
                idempotency_key_complete(
                    record=record,
                    status_code=response.status_code,
                    body=response.content,  # type: ignore[attr-defined]
                    content_type=response["Content-Type"],
                )
        except BaseException:
            # Refused or crashed: nothing was created, so the key is free again.
            idempotency_key_release(record=record)
            raise
        return response

    return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.status_code,
        content_type=record.response_content_type,
    )
    response[REPLAYED_HEADER] = "true"
    return response
