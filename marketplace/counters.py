"""Counters of fixed time windows, for rate limits: in Redis, or the local cache embedded.

Each counter is added to atomically, so concurrent requests cannot both take
the last place: one round trip to Redis for all of a request's counters (INCR
and EXPIRE NX in a MULTI), or, embedded with no Redis, the local cache's ``incr``.

When Redis does not answer (within half a second), nothing is counted and an
error is logged: the limits fail open, the site stays up. The process then
does not ask Redis for ten seconds, so a Redis that hangs slows one request in
ten seconds per worker, not each one.
"""

from __future__ import annotations

import functools
import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache

from marketplace.errors import THROTTLED, DomainError

logger = logging.getLogger(__name__)


def count_in_windows(counters: list[tuple[str, int]]) -> list[int] | None:
    """Add one to each (key, expiry) window counter, return the counts; the first sets its expiry.

    None when Redis does not answer: the caller lets the action through uncounted.
    """
    if settings.REDIS_URL:
        return _count_in_redis(settings.REDIS_URL, counters)
    return [_count_in_cache(key, timeout=timeout) for key, timeout in counters]


def count_or_refuse(key: str, *, limit: int, seconds: int, message: str) -> None:
    """Count one in ``key``'s current window of ``seconds``; past ``limit`` in it, refuse
    with ``message`` (THROTTLED, and when to try again). Let through uncounted when Redis
    does not answer."""
    now = time.time()
    window = int(now // seconds)
    counts = count_in_windows([(f"{key}:{window}", seconds + 1)])
    if counts is not None and counts[0] > limit:
        raise DomainError(message, kind=THROTTLED, retry_after=(window + 1) * seconds - int(now))


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
        # Fails open: a Redis outage takes away the rate limits, not the site
        # (it needs only PostgreSQL). Logged for the operators.
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
    """``count_in_windows`` with Django's cache: the embedded site's local memory."""
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
