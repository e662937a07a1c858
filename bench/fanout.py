"""Bar: notice fan-out through the real path, vs a plain ``INSERT … SELECT`` of notices.

Measured: ``intents.notices.intent_match`` on intents whose cap is the
highest allowed (200 vendors) — per intent: lock, match, insert the
notices, count them towards the vendors' capacity, write an ``intent.matched``
outbox event per notice, and after commit enqueue the e-mail task (one per
``EMAIL_BATCH`` notices) and the event dispatch task on a real Redis broker
(Celery not eager). No worker runs, so the tasks stay queued; the bench counts them.

The intents are shared among as many processes as a Celery worker runs by
default (one per core), each with its own database connection: a worker's
matchings run side by side, and contend for the vendors' rows as they would.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.models import Count
from django.test import override_settings
from kombu import pools

from bench.report import Row, ratio
from config.celery import app
from intents.models import Intent
from intents.notices import EMAIL_BATCH, intent_match
from intents.services import MAX_VENDORS_LIMIT

BAR = 20_000
# DESIGN §9: "a plain INSERT … SELECT of notices runs at about 200,000 rows/s here".
REFERENCE_BASELINE = 200_000
SCALED_BAR = BAR / REFERENCE_BASELINE
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


def _fan_out(
    intent_ids: list[Any], redis_url: str, ready: Any, results: multiprocessing.Queue
) -> None:
    """One worker process: connect, wait for the others, match its intents, report."""
    try:
        connection.ensure_connection()
        with real_broker(redis_url):
            ready.wait()
            notices = tasks = 0
            for intent_id in intent_ids:
                made = len(intent_match(intent_id=intent_id))
                notices += made
                tasks += (made + EMAIL_BATCH - 1) // EMAIL_BATCH + (1 if made else 0)
        results.put((notices, tasks, time.perf_counter(), None))
    except BaseException:
        ready.abort()
        results.put((0, 0, time.perf_counter(), traceback.format_exc()))
    finally:
        connection.close()


def _fan_out_in_processes(
    intent_ids: list[Any], processes: int, redis_url: str
) -> tuple[int, int, float]:
    """Notices made, tasks they enqueued, and seconds from the common start to the last end."""
    context = multiprocessing.get_context("fork")  # the children share Django's setup
    ready = context.Barrier(processes + 1)
    results = context.Queue()
    connections.close_all()  # a connection is not to be shared across a fork
    workers = [
        context.Process(
            target=_fan_out, args=(intent_ids[number::processes], redis_url, ready, results)
        )
        for number in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        with suppress(threading.BrokenBarrierError):  # a process failed: its report says why
            ready.wait(timeout=60)
        started = time.perf_counter()
        reports = [results.get(timeout=600) for _ in workers]
    except queue.Empty:
        raise CommandError("The fan-out's processes did not report within 10 minutes.") from None
    finally:
        for worker in workers:
            worker.join(timeout=60)
    failures = [failure for *_, failure in reports if failure]
    if failures:
        raise CommandError("A fan-out process failed:\n" + failures[0])
    return (
        sum(notices for notices, *_ in reports),
        sum(tasks for _, tasks, *_ in reports),
        max(ended for _, _, ended, _ in reports) - started,
    )


def measure(
    intents_count: int, redis_url: str, say: Callable[[str], None], processes: int | None = None
) -> list[Row]:
    processes = processes or os.cpu_count() or 1
    wanted = (1 + BASELINE_RUNS) * intents_count
    chosen = _fresh_intents(wanted)
    if len(chosen) < wanted:
        raise CommandError(
            f"The fan-out needs {wanted} open intents nobody was matched to, and"
            f" {len(chosen)} are left: load the data again (without --reuse)."
        )
    measured_ids, baseline_ids = chosen[:intents_count], chosen[intents_count:]
    Intent.objects.filter(pk__in=measured_ids).update(max_vendors=MAX_VENDORS_LIMIT)
    broker = redis.Redis.from_url(redis_url)
    queued_before = broker.llen(QUEUE)
    notices, expected_tasks, elapsed = _fan_out_in_processes(measured_ids, processes, redis_url)
    tasks = broker.llen(QUEUE) - queued_before
    broker.delete(QUEUE)  # no worker will take them: the bench's Redis database is its own
    described = f"{processes} process" + ("es" if processes > 1 else "")
    if tasks != expected_tasks:
        say(f"  FAILURE: {expected_tasks} tasks should be on Redis, found {tasks}")
    say(
        f"  fan-out: {notices:,} notices for {len(measured_ids)} intents in {elapsed:.2f} s"
        f" by {described}, {tasks} tasks on Redis"
    )
    rate, baseline_rate = notices / elapsed, _baseline_rate(baseline_ids, say)
    measured = f"{rate:,.0f} notices/s ({described})"
    baseline = f"{baseline_rate:,.0f} rows/s (INSERT … SELECT, median of {BASELINE_RUNS})"
    all_queued = tasks == expected_tasks
    return [
        Row(
            f"notice fan-out, tasks on Redis (≥ {BAR:,} notices/s)",
            measured,
            baseline,
            ratio(rate, baseline_rate),
            rate >= BAR and all_queued,
        ),
        # DESIGN §9 sets the bar where a plain INSERT … SELECT of notices runs at
        # REFERENCE_BASELINE rows/s: the same share of this machine's own.
        Row(
            f"notice fan-out scaled to this machine (≥ {SCALED_BAR:.2f}x INSERT … SELECT)",
            measured,
            baseline,
            ratio(rate, baseline_rate),
            rate >= SCALED_BAR * baseline_rate and all_queued,
        ),
    ]
