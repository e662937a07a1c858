from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from marketplace.models import ApiKey, Vendor


class IsVendor(BasePermission):
    """The request carries a valid API key of an active vendor."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.auth, ApiKey)


def request_vendor(request: Request) -> Vendor:
    """The vendor the request speaks for; only call behind :class:`IsVendor`."""
    assert isinstance(request.auth, ApiKey)
    return request.auth.vendor
