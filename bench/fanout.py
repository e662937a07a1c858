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

import math
import multiprocessing
import os
import queue
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, NamedTuple

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
from marketplace.queue import broker_failure_forget

BAR = 20_000
# DESIGN §9: "a plain INSERT … SELECT of notices runs at about 200,000 rows/s here".
REFERENCE_BASELINE = 200_000
SCALED_BAR = BAR / REFERENCE_BASELINE
QUEUE = "celery"  # Celery's default queue: a Redis list of that name
# The baseline takes a fifth of a second: its median of three, for a steadier ratio.
BASELINE_RUNS = 3
# Intents each process matches before the clock starts: psycopg prepares a statement
# once it ran five times (config.settings: prepare_threshold).
WARM_UP_INTENTS = 5
START_TIMEOUT = 120  # seconds a process waits for the others to be ready
RUN_TIMEOUT = 600  # seconds for the whole fan-out

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
        broker_failure_forget()

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


class Report(NamedTuple):
    """What one fan-out process sends back: its figures, or why it failed."""

    number: int
    notices: int = 0
    tasks: int = 0
    started: float = 0.0
    ended: float = 0.0
    failure: str = ""


def _match(intent_id: Any) -> tuple[int, int]:
    """Notices made for one intent, and the tasks they enqueued."""
    made = len(intent_match(intent_id=intent_id))
    return made, (made + EMAIL_BATCH - 1) // EMAIL_BATCH + (1 if made else 0)


def _fan_out(
    number: int,
    intent_ids: list[Any],
    warm_up_ids: list[Any],
    redis_url: str,
    ready: Barrier,
    results: Queue,
) -> None:
    """One worker process: warm up, wait for the others, match its intents, report.

    The warm-up runs its statements until psycopg prepares them, as on a worker's
    long-lived connection; its tasks are counted, its notices and time are not.
    """
    try:
        with real_broker(redis_url):
            tasks = sum(_match(intent_id)[1] for intent_id in warm_up_ids)
            ready.wait(timeout=START_TIMEOUT)
            started = time.perf_counter()  # CLOCK_MONOTONIC: one clock for every process
            notices = 0
            for intent_id in intent_ids:
                made, queued = _match(intent_id)
                notices, tasks = notices + made, tasks + queued
            results.put(Report(number, notices, tasks, started, time.perf_counter()))
    except BaseException:
        results.put(Report(number, failure=traceback.format_exc()))
        ready.abort()  # the others stop waiting for this one
    finally:
        connection.close()


def _reports(workers: list[Any], results: Queue) -> list[Report]:
    """Every process's report; a process that dies without one fails the bench at once."""
    reports: dict[int, Report] = {}
    deadline = time.monotonic() + RUN_TIMEOUT
    while len(reports) < len(workers):
        try:
            report = results.get(timeout=1)
            reports[report.number] = report
            continue
        except queue.Empty:
            pass
        gone = [
            (number, worker)
            for number, worker in enumerate(workers)
            if number not in reports and worker.exitcode is not None
        ]
        if gone:
            with suppress(queue.Empty):  # a report written just before its process exited
                while True:
                    report = results.get(timeout=0.5)
                    reports[report.number] = report
            for number, worker in gone:
                if number not in reports:
                    raise CommandError(
                        f"Fan-out process {number} (pid {worker.pid}) exited with code"
                        f" {worker.exitcode} before reporting."
                    )
        if time.monotonic() > deadline:
            raise CommandError(f"The fan-out's processes did not finish within {RUN_TIMEOUT} s.")
    return [reports[number] for number in range(len(workers))]


def _fan_out_in_processes(
    intent_ids: list[Any], warm_up_ids: list[Any], processes: int, redis_url: str
) -> tuple[int, int, float]:
    """Notices made, tasks enqueued (warm-up included), and seconds from the first
    process's start to the last one's end."""
    if connection.in_atomic_block:
        # The processes have their own connections: they would not see what this
        # transaction wrote, and closing its connection would end it.
        raise CommandError(
            "The fan-out cannot run inside a transaction (tests: django_db(transaction=True))."
        )
    context = multiprocessing.get_context("fork")  # the children share Django's setup
    ready, results = context.Barrier(processes), context.Queue()
    connections.close_all()  # a connection is not to be shared across a fork
    workers = [
        context.Process(
            target=_fan_out,
            args=(
                number,
                intent_ids[number::processes],
                warm_up_ids[number::processes],
                redis_url,
                ready,
                results,
            ),
            daemon=True,
        )
        for number in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = _reports(workers, results)
    finally:
        ready.abort()  # whoever still waits for a process that failed stops waiting
        for worker in workers:  # none is left behind holding its connection and locks
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
    failures = [report.failure for report in reports if report.failure]
    if failures:
        # The process that failed first, rather than the others it woke from the barrier.
        failures.sort(key=lambda failure: "BrokenBarrierError" in failure)
        raise CommandError("A fan-out process failed:\n" + failures[0])
    return (
        sum(report.notices for report in reports),
        sum(report.tasks for report in reports),
        max(report.ended for report in reports) - min(report.started for report in reports),
    )


def measure(
    intents_count: int, redis_url: str, say: Callable[[str], None], processes: int | None = None
) -> list[Row]:
    processes = (os.cpu_count() or 1) if processes is None else processes
    if processes < 1:
        raise CommandError("The fan-out needs one process or more.")
    warm_ups = WARM_UP_INTENTS * processes
    wanted = (1 + BASELINE_RUNS) * intents_count + warm_ups
    chosen = _fresh_intents(wanted)
    if len(chosen) < wanted:
        raise CommandError(
            f"The fan-out needs {wanted} open intents nobody was matched to, and"
            f" {len(chosen)} are left: load the data again (without --reuse)."
        )
    measured_ids = chosen[:intents_count]
    warm_up_ids = chosen[intents_count : intents_count + warm_ups]
    baseline_ids = chosen[intents_count + warm_ups :]
    Intent.objects.filter(pk__in=measured_ids + warm_up_ids).update(max_vendors=MAX_VENDORS_LIMIT)
    broker = redis.Redis.from_url(redis_url)
    queued_before = broker.llen(QUEUE)
    notices, expected_tasks, elapsed = _fan_out_in_processes(
        measured_ids, warm_up_ids, processes, redis_url
    )
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
        # DESIGN §9 puts its bar beside a plain INSERT … SELECT of notices at about
        # REFERENCE_BASELINE rows/s: the same share of this machine's own is a
        # reading across machines, printed apart from the bar itself.
        Row(
            f"notice fan-out as a share of INSERT … SELECT (≥ {SCALED_BAR:.0%},"
            f" as {BAR:,} of {REFERENCE_BASELINE:,}; not the bar)",
            measured,
            baseline,
            # Cut, not rounded, so a share just short never prints as the bar itself.
            f"{math.floor(1000 * rate / baseline_rate) / 10:.1f}%",
            rate >= SCALED_BAR * baseline_rate and all_queued,
        ),
    ]
