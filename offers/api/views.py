from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from intents.models import Intent
from intents.selectors import intents_visible_to_vendor
from marketplace.api.permissions import request_vendor
from marketplace.errors import NOT_FOUND, DomainError
from offers.api.filters import OfferFilter
from offers.api.serializers import (
    OfferCreateSerializer,
    OfferSerializer,
    OfferUpdateSerializer,
    line_items_as_json,
)
from offers.models import Offer
from offers.selectors import offers_of_vendor
from offers.services import offer_revise, offer_submit, offer_withdraw


class OfferViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The calling vendor's offers. Another vendor's offer is a 404."""

    serializer_class = OfferSerializer
    filterset_class = OfferFilter
    ordering_fields = ["created_at", "price"]
    ordering = ["-created_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Offer]:
        return offers_of_vendor(request_vendor(self.request))

    @extend_schema(request=OfferCreateSerializer, responses={201: OfferSerializer})
    def create(self, request: Request) -> Response:
        vendor = request_vendor(request)
        serializer = OfferCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            intent = intents_visible_to_vendor(vendor).get(pk=data.pop("intent"))
        except Intent.DoesNotExist:
            raise DomainError(
                "No intent with this id is open to you.",
                kind=NOT_FOUND,
                errors={"intent": ["No intent with this id is open to you."]},
            ) from None
        if "line_items" in data:
            data["line_items"] = line_items_as_json(data["line_items"])
        offer = offer_submit(vendor=vendor, intent=intent, **data)
        return Response(OfferSerializer(offer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OfferUpdateSerializer, responses=OfferSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        offer = self.get_object()
        serializer = OfferUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "line_items" in changes:
            changes["line_items"] = line_items_as_json(changes["line_items"])
        offer = offer_revise(offer=offer, vendor=request_vendor(request), **changes)
        return Response(OfferSerializer(offer).data)

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        offer = offer_withdraw(offer=self.get_object(), vendor=request_vendor(request))
        return Response(OfferSerializer(offer).data)
