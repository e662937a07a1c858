"""Bar: notice fan-out through the real path, vs a plain ``INSERT … SELECT`` of notices.

Measured: ``intents.notices.intent_match`` on intents whose cap is the
highest allowed (200 vendors) — per intent: lock, match, insert the
notices, count them towards the vendors' capacity, write an ``intent.matched``
outbox event per notice, and after commit enqueue the e-mail task (one per
``EMAIL_BATCH`` notices) and the event dispatch task on a real Redis broker
(Celery not eager). No worker runs, so the tasks stay queued; the bench counts them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.test import override_settings
from kombu import pools

from bench.report import Row, ratio
from config.celery import app
from intents.models import Intent
from intents.notices import EMAIL_BATCH, intent_match
from intents.services import MAX_VENDORS_LIMIT

BAR = 20_000
QUEUE = "celery"  # Celery's default queue: a Redis list of that name
# The baseline takes a fifth of a second: its median of three, for a steadier ratio.
BASELINE_RUNS = 3

BASELINE_SQL = """
INSERT INTO intents_notice (id, intent_id, vendor_id, reasons, score, state, attempts, created_at,
                            listed, closes_at)
SELECT gen_random_uuid(), intent.id, vendor.id, '["bench baseline"]'::jsonb, 0.5, 'pending', 0, now(),
       true, intent.offers_close_at
FROM (SELECT id, offers_close_at FROM intents_intent WHERE id = ANY(%(intents)s)) AS intent
CROSS JOIN (SELECT id FROM marketplace_vendor ORDER BY id LIMIT %(vendors)s) AS vendor
ON CONFLICT DO NOTHING
"""


@contextmanager
def real_broker(url: str) -> Iterator[None]:
    """Celery in this process sends to ``url`` for real (not eager), with fresh connections.

    The Celery app reads its configuration from Django's settings when asked,
    unless a value was set on the app itself; both are put back as they were.
    """
    wanted = {"broker_url": url, "task_always_eager": False}
    changes = app.conf.changes
    saved = {key: changes[key] for key in wanted if key in changes}

    def reset_pools() -> None:
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url):
            changes.update(wanted)
            reset_pools()
            yield
    finally:
        for key in wanted:
            if key in saved:
                changes[key] = saved[key]
            else:
                changes.pop(key, None)
        reset_pools()


def _fresh_intents(count: int) -> list[Any]:
    """Open public intents nobody fanned out yet (a rerun on the same data takes others)."""
    return list(
        Intent.objects.filter(
            status=Intent.Status.OPEN, visibility=Intent.Visibility.PUBLIC, is_hidden=False
        )
        .annotate(notices_count=Count("notices"))
        .filter(notices_count__lt=10)
        .order_by("-id")
        .values_list("pk", flat=True)[:count]
    )


def _baseline(intent_ids: list[Any]) -> tuple[int, float]:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, {"intents": intent_ids, "vendors": MAX_VENDORS_LIMIT})
        rows = cursor.rowcount
    return rows, time.perf_counter() - started


def _baseline_rate(intent_ids: list[Any], say: Callable[[str], None]) -> float:
    """Rows a second of the median of BASELINE_RUNS baselines, each on its own intents."""
    runs = [_baseline(intent_ids[number::BASELINE_RUNS]) for number in range(BASELINE_RUNS)]
    say("  baseline: " + ", ".join(f"{rows:,} rows in {seconds:.3f} s" for rows, seconds in runs))
    return statistics.median(rows / seconds for rows, seconds in runs)


def measure(intents_count: int, redis_url: str, say: Callable[[str], None]) -> Row:
    wanted = (1 + BASELINE_RUNS) * intents_count
    chosen = _fresh_intents(wanted)
    if len(chosen) < wanted:
        raise CommandError(
            f"The fan-out needs {wanted} open intents nobody was matched to, and"
            f" {len(chosen)} are left: load the data again (without --reuse)."
        )
    measured_ids, baseline_ids = chosen[:intents_count], chosen[intents_count:]
    Intent.objects.filter(pk__in=measured_ids).update(max_vendors=MAX_VENDORS_LIMIT)
    queue = redis.Redis.from_url(redis_url)
    queued_before = queue.llen(QUEUE)
    notices = expected_tasks = 0
    with real_broker(redis_url):
        started = time.perf_counter()
        for intent_id in measured_ids:
            made = len(intent_match(intent_id=intent_id))
            notices += made
            expected_tasks += (made + EMAIL_BATCH - 1) // EMAIL_BATCH + (1 if made else 0)
        elapsed = time.perf_counter() - started
    tasks = queue.llen(QUEUE) - queued_before
    queue.delete(QUEUE)  # no worker will take them: the bench's Redis database is its own
    if tasks != expected_tasks:
        say(f"  FAILURE: {expected_tasks} tasks should be on Redis, found {tasks}")
    say(
        f"  fan-out: {notices:,} notices for {len(measured_ids)} intents in {elapsed:.2f} s,"
        f" {tasks} tasks on Redis"
    )
    rate, baseline_rate = notices / elapsed, _baseline_rate(baseline_ids, say)
    return Row(
        f"notice fan-out, tasks on Redis (≥ {BAR:,} notices/s)",
        f"{rate:,.0f} notices/s",
        f"{baseline_rate:,.0f} rows/s (INSERT … SELECT, median of {BASELINE_RUNS})",
        ratio(rate, baseline_rate),
        rate >= BAR and tasks == expected_tasks,
    )
