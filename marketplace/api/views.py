from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from marketplace.api.permissions import request_vendor
from marketplace.api.serializers import CategorySerializer, VendorSerializer
from marketplace.models import Category, Vendor
from marketplace.services import vendor_update


class VendorProfileView(generics.GenericAPIView):
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


class CategoryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The category tree, parents before children; ``parent`` is the parent's slug."""

    serializer_class = CategorySerializer
    queryset = Category.objects.select_related("parent").order_by("parent_id", "name")
    filter_backends: list[type] = []
