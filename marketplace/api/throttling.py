"""Rate limits per vendor, whichever of its API keys it uses: a counter per vendor and
per window, in Redis (more keys are no more requests).

Every request counts against ``api_key``; writes (POST, PUT, PATCH, DELETE)
also count against the stricter ``api_key_write``. The rates are
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, set from the environment.

A fixed window counted atomically (:mod:`marketplace.counters`), so concurrent
requests cannot both take the last place: one round trip to Redis for both
counters of a write. DRF's SimpleRateThrottle instead reads, extends and writes
back the list of every request time in the window (thousands of entries for a
busy key, and lost updates under concurrency). When Redis does not answer, the
limits fail open: requests are let through uncounted, the API stays up.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from marketplace.counters import count_in_windows
from marketplace.models import ApiKey


class RateLimit(NamedTuple):
    """One limit as it stands: ordered by what is left of it (its first field)."""

    remaining: int
    limit: int
    reset: int  # seconds until its window starts again


class ApiKeyRateThrottle(BaseThrottle):
    """Requests, and writes, per vendor (a request without a valid key was refused before)."""

    wait_seconds: float | None = None

    def allow_request(self, request: Request, view: object) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        scopes = ["api_key"] if request.method in SAFE_METHODS else ["api_key", "api_key_write"]
        now = time.time()
        windows = []
        for scope in scopes:
            # Read on each request (DRF binds the rates once, at import), so a
            # changed setting (or a test's override) applies.
            rate = api_settings.DEFAULT_THROTTLE_RATES[scope]
            if rate is not None:
                allowed, period = SimpleRateThrottle.parse_rate(None, rate)
                window = int(now // period)
                key = f"throttle:{scope}:vendor:{request.auth.vendor_id}:{window}"
                windows.append((scope, key, allowed, period, window))
        if not windows:
            return True
        counts = count_in_windows([(key, period + 1) for _, key, _, period, _ in windows])
        if counts is None:
            return True
        # Where the vendor stands, by the limit nearest to refusing: said on the answer
        # (RateLimitHeadersMiddleware), so an integration can pace itself before a 429.
        # On Django's request, which the middleware sees (DRF's wraps it).
        getattr(request, "_request", request).rate_limit = min(
            RateLimit(
                limit=allowed,
                remaining=max(0, allowed - count),
                reset=max(1, math.ceil((window + 1) * period - now)),
            )
            for (_, _, allowed, period, window), count in zip(windows, counts, strict=True)
        )
        waits = [
            (window + 1) * period - now
            for (_, _, allowed, period, window), count in zip(windows, counts, strict=True)
            if count > allowed
        ]
        if not waits:
            return True
        self.wait_seconds = max(waits)
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
