from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from intents.models import Intent
from intents.selectors import intents_visible_to_vendor
from marketplace.api.idempotency import idempotent
from marketplace.api.permissions import request_vendor
from marketplace.api.query_params import KnownQueryParams
from marketplace.api.serializers import refuse_any_body
from marketplace.errors import NOT_FOUND, DomainError
from marketplace.models import ApiKey
from offers.api.filters import OfferFilter
from offers.api.serializers import (
    OfferCreateSerializer,
    OfferSerializer,
    OfferUpdateSerializer,
    QuestionCreateSerializer,
    QuestionSerializer,
    line_items_as_json,
)
from offers.models import Offer
from offers.questions import question_ask, questions_visible_to_vendor
from offers.selectors import offers_of_vendor
from offers.services import offer_revise, offer_submit, offer_withdraw


class OfferViewSet(
    KnownQueryParams,
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
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular has no vendor
            return Offer.objects.none()
        return offers_of_vendor(request_vendor(self.request))

    @extend_schema(request=OfferCreateSerializer, responses={201: OfferSerializer})
    @idempotent
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
        offer = offer_revise(
            offer=offer,
            vendor=request_vendor(request),
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            **changes,
        )
        return Response(OfferSerializer(offer).data)

    @extend_schema(request=None, responses=OfferSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        refuse_any_body(request)
        offer = offer_withdraw(offer=self.get_object(), vendor=request_vendor(request))
        return Response(OfferSerializer(offer).data)


@extend_schema(parameters=[OpenApiParameter("intent_id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
class IntentQuestionsView(KnownQueryParams, generics.GenericAPIView):
    """Questions about an intent you were matched to: yours, and every answered one.

    The buyer's answers are visible to every matched vendor; who asked is not.
    """

    serializer_class = QuestionSerializer
    filter_backends: list[type] = []

    def _intent(self, intent_id: str) -> Intent:
        try:
            return intents_visible_to_vendor(request_vendor(self.request)).get(pk=intent_id)
        except Intent.DoesNotExist:
            raise DomainError("No intent with this id is open to you.", kind=NOT_FOUND) from None

    def get_serializer_context(self) -> dict[str, object]:
        context = super().get_serializer_context()
        if isinstance(getattr(self.request, "auth", None), ApiKey):
            context["vendor"] = request_vendor(self.request)
        return context

    @extend_schema(responses=QuestionSerializer(many=True))
    def get(self, request: Request, intent_id: str) -> Response:
        intent = self._intent(intent_id)
        page = self.paginate_queryset(
            questions_visible_to_vendor(vendor=request_vendor(request), intent=intent)
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=QuestionCreateSerializer, responses={201: QuestionSerializer})
    @idempotent
    def post(self, request: Request, intent_id: str) -> Response:
        intent = self._intent(intent_id)
        serializer = QuestionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = question_ask(
            vendor=request_vendor(request), intent=intent, text=serializer.validated_data["text"]
        )
        return Response(self.get_serializer(question).data, status=status.HTTP_201_CREATED)
