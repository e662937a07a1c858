from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import viewsets
from rest_framework.filters import OrderingFilter

from intents.api.filters import IntentFilter
from intents.api.serializers import VendorIntentDetailSerializer, VendorIntentSerializer
from intents.models import Intent
from intents.selectors import intents_visible_to_vendor
from marketplace.api.permissions import request_vendor


class VendorIntentViewSet(viewsets.ReadOnlyModelViewSet):
    """Intents this vendor may answer; anything else is a 404."""

    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = IntentFilter
    ordering_fields = ["offers_close_at", "created_at", "budget_max"]
    ordering = ["offers_close_at"]

    def get_queryset(self) -> QuerySet[Intent]:
        return intents_visible_to_vendor(request_vendor(self.request))

    def filter_queryset(self, queryset: QuerySet[Intent]) -> QuerySet[Intent]:
        # Filters (and the "open only" default) shape the list; a vendor may
        # still read an intent it can see after it closed.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return VendorIntentDetailSerializer
        return VendorIntentSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if getattr(self.request, "auth", None) is not None:
            context["vendor"] = request_vendor(self.request)
        return context
