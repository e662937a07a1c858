"""Rate limits per API key, kept in the Django cache (Redis in production).

Every request counts against ``api_key``; writes (POST, PUT, PATCH, DELETE)
also count against the stricter ``api_key_write``. The rates are
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, set from the environment.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from marketplace.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key; a request without a valid key was refused before this runs."""

    scope = "api_key"

    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES once, at import; read the settings on each
        # request instead, so a changed setting (or a test's override) applies.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request: Request, view: object) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiKeyWriteRateThrottle(ApiKeyRateThrottle):
    """The stricter limit on writes per API key."""

    scope = "api_key_write"

    def allow_request(self, request: Request, view: object) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
