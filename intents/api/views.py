from __future__ import annotations

from typing import Any

import django_filters
from django.db import connection
from django.db.models import QuerySet
from django.http.response import HttpResponseBase
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from intents.api.filters import IntentFilter
from intents.api.serializers import (
    NoticeSerializer,
    VendorIntentDetailSerializer,
    VendorIntentSerializer,
)
from intents.models import Intent, Notice
from intents.notices import notice_mark_read
from intents.payloads import intent_row_for_vendor, vendor_rows, vendor_rows_as_json
from intents.selectors import (
    intents_listed_for_vendor,
    intents_visible_to_vendor,
    listed_intents_count,
    notices_of_vendor,
    shown_budget_max,
)
from marketplace.api.ordering import StrictOrderingFilter
from marketplace.api.permissions import request_vendor
from marketplace.api.query_params import KnownQueryParams
from marketplace.api.serializers import refuse_any_body

# Query parameters that leave the list as it is by default: open intents, all of them.
UNFILTERED_PARAMS = {"page", "page_size", "ordering"}
DEFAULT_ORDERING = "offers_close_at"


class VendorIntentViewSet(KnownQueryParams, viewsets.ReadOnlyModelViewSet):
    """Intents this vendor may answer; anything else is a 404."""

    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = IntentFilter
    ordering_fields = ["offers_close_at", "created_at", "budget_max"]
    # A budget the buyer hid orders as no budget: its place would give it away.
    ordering_expressions = {"budget_max": shown_budget_max()}
    ordering = [DEFAULT_ORDERING]

    def get_queryset(self) -> QuerySet[Intent]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular has no vendor
            return Intent.objects.none()
        if self._is_default_list():
            return intents_listed_for_vendor(request_vendor(self.request))
        visible = intents_visible_to_vendor(request_vendor(self.request))
        # A list reads the category's slug with its values; the detail, with the intent.
        return visible.select_related("category") if self.action == "retrieve" else visible

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The page is read as plain values, not as model instances: the same
        # shape as VendorIntentSerializer's. PostgreSQL writes each row's JSON.
        intents = self.filter_queryset(self.get_queryset())
        if connection.vendor == "postgresql":
            page = self.paginate_queryset(vendor_rows_as_json(intents))
            return self.paginator.get_paginated_json(page)
        rows = self.paginate_queryset(vendor_rows(intents))
        return self.get_paginated_response([intent_row_for_vendor(row) for row in rows])

    def filter_queryset(self, queryset: QuerySet[Intent]) -> QuerySet[Intent]:
        # Filters (and the "open only" default) shape the list; a vendor may
        # still read an intent it can see after it closed. The default list
        # comes filtered and ordered from intents_listed_for_vendor.
        if self.action == "retrieve" or self._is_default_list():
            return queryset
        return super().filter_queryset(queryset)

    def _is_default_list(self) -> bool:
        """The list with no filter, in the default order: open intents, soonest deadline first."""
        params = self.request.query_params
        return (
            self.action == "list"
            and not set(params) - UNFILTERED_PARAMS
            and params.get("ordering", DEFAULT_ORDERING) == DEFAULT_ORDERING
        )

    def count_for_pagination(self) -> int | None:
        """The list with no filter, in any order, is counted on the vendor's notices alone."""
        if set(self.request.query_params) - UNFILTERED_PARAMS:
            return None
        return listed_intents_count(request_vendor(self.request))

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return VendorIntentDetailSerializer
        return VendorIntentSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if getattr(self.request, "auth", None) is not None:
            context["vendor"] = request_vendor(self.request)
        return context


class NoticeFilter(django_filters.FilterSet):
    # "true" or "false" only: a BooleanFilter quietly ignores anything else.
    unread = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        method="filter_unread",
        help_text="true: only unread notices; false: only read ones.",
    )

    class Meta:
        model = Notice
        fields = ["unread"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_unread(self, queryset: QuerySet[Notice], name: str, value: bool) -> QuerySet[Notice]:
        return queryset.filter(read_at__isnull=value)


class NoticeViewSet(
    KnownQueryParams, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """This vendor's inbox: one notice per intent it was matched to, with the reasons."""

    serializer_class = NoticeSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = NoticeFilter

    def get_queryset(self) -> QuerySet[Notice]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular has no vendor
            return Notice.objects.none()
        return notices_of_vendor(request_vendor(self.request))

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        refuse_any_body(request)
        notice = notice_mark_read(notice=self.get_object())
        return Response(self.get_serializer(notice).data)
