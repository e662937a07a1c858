"""Rate limits per API key: a counter per key and per window, in Redis.

Every request counts against ``api_key``; writes (POST, PUT, PATCH, DELETE)
also count against the stricter ``api_key_write``. The rates are
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, set from the environment.

A fixed window counted atomically, so concurrent requests cannot both take
the last place: one round trip to Redis (INCR and EXPIRE NX in a MULTI, for
both counters of a write), or,
embedded with no Redis, the local cache's ``incr``. DRF's SimpleRateThrottle
instead reads, extends and writes back the list of every request time in the
window (thousands of entries for a busy key, and lost updates under concurrency).

When Redis does not answer, requests are let through uncounted and an error
is logged: the limits fail open, the API stays up.
"""

from __future__ import annotations

import functools
import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from marketplace.models import ApiKey

logger = logging.getLogger(__name__)


class ApiKeyRateThrottle(BaseThrottle):
    """Requests, and writes, per API key (a request without a valid key was refused before)."""

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
                key = f"throttle:{scope}:{request.auth.pk}:{window}"
                windows.append((scope, key, allowed, period, window))
        if not windows:
            return True
        try:
            counts = _count([(key, period + 1) for _, key, _, period, _ in windows])
        except redis.RedisError:
            # Fails open: a Redis outage takes away the rate limits, not the API
            # (reads and offers need only PostgreSQL). Logged for the operators.
            for scope, *_ in windows:
                logger.error("Rate limit %s not counted: Redis does not answer", scope)
            return True
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


def _count(counters: list[tuple[str, int]]) -> list[int]:
    """Add one to each (key, expiry) window counter, return the counts; the first sets its expiry."""
    if settings.REDIS_URL:
        with _redis(settings.REDIS_URL).pipeline() as pipeline:
            for key, timeout in counters:
                pipeline.incr(key)
                pipeline.expire(key, timeout, nx=True)
            replies = pipeline.execute()
        return [int(count) for count in replies[::2]]
    return [_count_in_cache(key, timeout=timeout) for key, timeout in counters]


@functools.cache
def _redis(url: str) -> redis.Redis:
    # As the broker's: a Redis that does not answer costs the request seconds,
    # rather than holding a worker.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _count_in_cache(key: str, *, timeout: int) -> int:
    """``_count`` with Django's cache: the embedded site's local memory."""
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first request
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            count = cache.incr(key)  # another request created it meanwhile
        except ValueError:  # … and it expired already
            count = cache.get_or_set(key, 1, timeout=timeout)
    if count == 1:
        # incr on a key that expired between Redis's EXISTS and INCR creates it
        # without an expiry: give it one.
        cache.touch(key, timeout)
    return count
