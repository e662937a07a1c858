"""``Authorization: Bearer <api key>`` for vendors."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from marketplace.errors import DomainError
from marketplace.models import ApiKey
from marketplace.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Sets ``request.auth`` to the vendor's :class:`ApiKey`.

    ``request.user`` stays anonymous: an API key speaks for a vendor, not for
    one of its staff.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw_key.strip():  # RFC 9110 §11.1
            raise exceptions.AuthenticationFailed(
                "Send the API key as “Authorization: Bearer <key>”."
            )
        try:
            api_key = api_key_authenticate(raw_key=raw_key.strip())
        except DomainError as refused:  # a suspended vendor's key: 403, with the reason
            raise exceptions.PermissionDenied(refused.message) from None
        if api_key is None:
            raise exceptions.AuthenticationFailed("This API key is not valid, or was revoked.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when no or a bad key is sent.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A vendor API key."}
