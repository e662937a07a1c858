from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``?page=`` and ``?page_size=`` (≤ 100)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        # DRF quietly falls back to the default on a page_size it cannot read;
        # say so instead, like every other bad parameter.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        # isascii: str.isdigit() also takes "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: ["A whole number from 1."]})
        return min(int(raw), self.max_page_size)
