from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.api.idempotency import idempotent
from marketplace.api.permissions import request_vendor
from marketplace.api.query_params import KnownQueryParams
from marketplace.api.serializers import (
    CategorySerializer,
    EventFeedSerializer,
    EventSerializer,
    VendorSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    refuse_any_body,
)
from marketplace.errors import DomainError
from marketplace.events import feed_page
from marketplace.models import Category, Vendor, WebhookEndpoint
from marketplace.selectors import (
    categories_in_tree_order,
    deliveries_of_endpoint,
    webhook_endpoints_of_vendor,
)
from marketplace.services import vendor_update
from marketplace.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_send_test,
)


class VendorProfileView(KnownQueryParams, generics.GenericAPIView):
    """The calling vendor's own profile."""

    serializer_class = VendorSerializer

    def get_object(self) -> Vendor:
        return Vendor.objects.prefetch_related("categories").get(pk=request_vendor(self.request).pk)

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=VendorSerializer, responses=VendorSerializer)
    def patch(self, request: Request) -> Response:
        vendor = self.get_object()
        serializer = self.get_serializer(vendor, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        categories = changes.pop("categories", None)
        vendor = vendor_update(vendor=vendor, categories=categories, **changes)
        return Response(self.get_serializer(self.get_object()).data)


class CategoryViewSet(KnownQueryParams, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The category tree, parents before children; ``parent`` is the parent's slug."""

    serializer_class = CategorySerializer
    queryset = Category.objects.none()  # for the schema; the list is categories_in_tree_order()
    filter_backends: list[type] = []

    def get_queryset(self) -> Any:
        return [category for category, _depth in categories_in_tree_order()]


class EventFeedView(KnownQueryParams, generics.GenericAPIView):
    """This vendor's events in a stable order. Poll with ``?after=<next>`` from the last answer.

    Positions are given in commit order, so polling from the last ``next``
    never misses or repeats an event.
    """

    serializer_class = EventFeedSerializer
    filter_backends: list[type] = []
    pagination_class = None
    extra_query_params = ("after", "limit")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0},
                description="The `next` of the previous answer; 0 to start.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 500},
                description="At most this many events (1 to 500, default 100).",
            ),
        ],
        responses=EventFeedSerializer,
    )
    def get(self, request: Request) -> Response:
        after = _non_negative_int(request.query_params.get("after", "0"), "after")
        limit = _non_negative_int(request.query_params.get("limit", "100"), "limit")
        if not 1 <= limit <= 500:
            raise DomainError("limit is 1 to 500.", errors={"limit": ["Between 1 and 500."]})
        events, next_cursor = feed_page(vendor=request_vendor(request), after=after, limit=limit)
        return Response(
            {"results": EventSerializer(events, many=True).data, "next": str(next_cursor)}
        )


def _non_negative_int(value: str, name: str) -> int:
    # isascii: str.isdigit() also takes "²", which int() refuses (a 500).
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise DomainError(
            f"{name} must be a whole number ≥ 0.", errors={name: ["A whole number ≥ 0."]}
        )
    return int(value)


class WebhookEndpointViewSet(KnownQueryParams, viewsets.ModelViewSet):
    """This vendor's webhook endpoints. The signing secret is in the create response only."""

    serializer_class = WebhookEndpointSerializer
    filter_backends: list[type] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular has no vendor
            return WebhookEndpoint.objects.none()
        return webhook_endpoints_of_vendor(request_vendor(self.request))

    @extend_schema(responses={201: WebhookEndpointCreatedSerializer})
    @idempotent
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(
            vendor=request_vendor(request), **serializer.validated_data
        )
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(self.get_serializer(endpoint).data)

    def destroy(self, request: Request, pk: str) -> Response:
        webhook_endpoint_delete(endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=WebhookDeliverySerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Send a ``webhook.test`` event now; the answer shows how the receiver replied."""
        refuse_any_body(request)
        delivery = webhook_send_test(endpoint=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data)

    @extend_schema(request=None, responses=WebhookEndpointCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """A new signing secret, shown in this answer only. For a day, each delivery is
        signed by the old secret too: switch your receiver to the new one meanwhile."""
        refuse_any_body(request)
        endpoint = webhook_endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointCreatedSerializer(endpoint).data)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str) -> Response:
        """The delivery log of this endpoint, newest first."""
        endpoint = self.get_object()
        page = self.paginate_queryset(deliveries_of_endpoint(endpoint))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
