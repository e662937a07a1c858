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

When Redis does not answer (within half a second), requests are let through
uncounted and an error is logged: the limits fail open, the API stays up. The
process then lets requests through without asking Redis for ten seconds, so a
Redis that hangs slows one request in ten seconds per worker, not each one.
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
        counts = _count([(key, period + 1) for _, key, _, period, _ in windows])
        if counts is None:
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


def _count(counters: list[tuple[str, int]]) -> list[int] | None:
    """Add one to each (key, expiry) window counter, return the counts; the first sets its expiry.

    None when Redis does not answer: the request is let through uncounted.
    """
    if settings.REDIS_URL:
        return _count_in_redis(settings.REDIS_URL, counters)
    return [_count_in_cache(key, timeout=timeout) for key, timeout in counters]


# Once Redis failed to answer, this process lets requests through without asking
# it for a while: a Redis that hangs costs one request its timeout, not every one.
REDIS_PAUSE_SECONDS = 10.0
REDIS_TIMEOUT_SECONDS = 0.5
_redis_paused_until: dict[str, float] = {}


def _count_in_redis(url: str, counters: list[tuple[str, int]]) -> list[int] | None:
    if time.monotonic() < _redis_paused_until.get(url, 0.0):
        return None
    try:
        with _redis(url).pipeline() as pipeline:
            for key, timeout in counters:
                pipeline.incr(key)
                pipeline.expire(key, timeout, nx=True)
            replies = pipeline.execute()
    except redis.RedisError:
        # Fails open: a Redis outage takes away the rate limits, not the API
        # (reads and offers need only PostgreSQL). Logged for the operators.
        _redis_paused_until[url] = time.monotonic() + REDIS_PAUSE_SECONDS
        logger.error(
            "Rate limits not counted: Redis does not answer (asking again in %.0f s)",
            REDIS_PAUSE_SECONDS,
        )
        return None
    return [int(count) for count in replies[::2]]


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


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
