from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.functional import cached_property
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

# The largest page number or size read; a longer number is refused, not parsed.
MAX_NUMBER = 999_999
# A list's address in the schema's examples of ``next`` and ``previous``.
EXAMPLE_LIST = "https://intentcast.example/api/v1/intents/"


class CountedPaginator(Paginator):
    """Django's paginator, told the total when a view knows it more cheaply."""

    def __init__(self, object_list: Any, per_page: int, *, known_count: int | None) -> None:
        super().__init__(object_list, per_page)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        return super().count


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=`` and ``?page_size=`` (≤ 100).

    A view may define ``count_for_pagination()``, returning the list's total
    (or None to count the queryset), when it can count without the queryset's joins.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    known_count: int | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        page = request.query_params.get(self.page_query_param)
        if page is not None and page not in self.last_page_strings and not _whole_number(page):
            # DRF answers 404 "Invalid page." to ?page=abc; a page past the end stays a 404.
            raise ValidationError(
                {self.page_query_param: [f"A whole number from 1 to {MAX_NUMBER:,}, or “last”."]}
            )
        counter = getattr(view, "count_for_pagination", None)
        self.known_count = counter() if counter is not None else None
        return super().paginate_queryset(queryset, request, view)

    def django_paginator_class(self, object_list: Any, per_page: int) -> Paginator:
        return CountedPaginator(object_list, per_page, known_count=self.known_count)

    def get_paginated_json(self, rows: list[str]) -> HttpResponse:
        """The paginated response, around rows that are JSON texts already (not encoded again)."""
        # The envelope is get_paginated_response's, its results left out and added as text.
        envelope = dict(self.get_paginated_response([]).data)
        del envelope["results"]
        head = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
        body = f'{head[:-1]},"results":[{",".join(rows)}]}}'
        return HttpResponse(body.encode(), content_type="application/json")

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's, with the bounds the server keeps: a page from 1 (or "last"), a size from
        1; either at most 999,999, and a size above ``max_page_size`` gives that many."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {
                    "oneOf": [
                        {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER},
                        {"type": "string", "enum": list(self.last_page_strings)},
                    ]
                }
            elif parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page; {self.page_size} unless given, {self.max_page_size} at most."
                )
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}
        return parameters

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's envelope, its examples this API's (DRF's own name api.example.org/accounts/)."""
        envelope = super().get_paginated_response_schema(schema)
        properties = envelope["properties"]
        properties["count"]["example"] = 123
        properties["next"]["example"] = f"{EXAMPLE_LIST}?page=3"
        properties["previous"]["example"] = f"{EXAMPLE_LIST}?page=1"
        return envelope

    def get_page_size(self, request: Request) -> int:
        # DRF quietly falls back to the default on a page_size it cannot read;
        # say so instead, like every other bad parameter.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _whole_number(raw):
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {MAX_NUMBER:,}."]}
            )
        return min(int(raw), self.max_page_size)


def _whole_number(raw: str) -> bool:
    """1 to MAX_NUMBER in plain ASCII digits (str.isdigit() also takes "²", which int() refuses)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 6 and int(raw) >= 1
