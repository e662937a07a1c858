"""One bench run: refuse the wrong database, load, measure every DESIGN §9 bar, one table."""

from __future__ import annotations

import os
import platform
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from bench import fanout, matching, pages, web
from bench.data import BENCH_OFFER_VENDOR_SLUG, BENCH_VENDOR_SLUG, Volumes, load
from bench.report import Row, skipped
from intents.models import Term
from marketplace.models import ApiKey, Vendor
from marketplace.services import api_key_create

BENCH_DATABASE_NAME = re.compile(r"bench|test", re.IGNORECASE)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    vendors: int
    intents: int
    matching_intents: int
    fanout_intents: int
    fanout_processes: int
    seconds: float
    rounds: int
    workers: int
    redis_url: str
    skip_http: bool
    reuse: bool
    force: bool


def check_preconditions(options: Options) -> None:
    """Refuse to run where the bench would mislead or destroy."""
    if connection.vendor != "postgresql":
        raise CommandError(
            "The bench measures PostgreSQL and refuses to run on "
            f"{connection.vendor}: set DATABASE_URL=postgres://…/intentcast_bench."
        )
    name = connection.settings_dict["NAME"]
    if not BENCH_DATABASE_NAME.search(name) and not options.force:
        raise CommandError(
            f"The bench empties every marketplace table, and “{name}” does not look like a "
            "bench or test database (its name has neither “bench” nor “test”). "
            "Use a database such as intentcast_bench, or pass --force."
        )
    if not options.reuse and not Term.objects.filter(is_current=True).exists():
        raise CommandError(
            "The buyer's terms roster (loaded by migration intents 0007) is empty: an older "
            "bench emptied it. Recreate the database (dropdb, createdb, migrate) and run again."
        )
    try:
        redis.Redis.from_url(options.redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        raise CommandError(f"No Redis at {options.redis_url} for the fan-out: {error}") from None
    if not options.skip_http and shutil.which("wrk") is None:
        raise CommandError("wrk is not installed (apt-get install wrk), or pass --skip-http.")


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read(), re.MULTILINE)
            model = found.group(1).strip() if found else model
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    load_1, load_5, _ = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"PostgreSQL {server}, {timezone.now():%Y-%m-%d %H:%M} UTC, "
        f"load average {load_1:.2f} / {load_5:.2f} (1 / 5 min)"
    )


def run(options: Options, say: Say) -> list[Row]:
    check_preconditions(options)
    say(f"Machine: {machine()}")
    say(f"Database: {connection.settings_dict['NAME']}")
    if options.reuse:
        say("Reusing the data already loaded (--reuse).")
    else:
        say(f"Loading {options.vendors:,} vendors and {options.intents:,} intents:")
        seconds = load(Volumes.of(vendors=options.vendors, intents=options.intents), say)
        say(f"Loaded in {seconds:.1f} s.")
    vendor = Vendor.objects.get(slug=BENCH_VENDOR_SLUG)
    offer_vendor = Vendor.objects.get(slug=BENCH_OFFER_VENDOR_SLUG)
    # A fresh key each run; the earlier runs' (--reuse) are revoked, not left to pile up.
    ApiKey.objects.filter(
        vendor__in=[vendor, offer_vendor], name="bench", revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    key = api_key_create(vendor=vendor, name="bench").raw_key
    offer_key = api_key_create(vendor=offer_vendor, name="bench").raw_key

    say(f"Matching {options.matching_intents} intents, and the SQL baseline:")
    matching_rows = matching.measure(matching.sample_intents(options.matching_intents), say)
    say("Queries per page:")
    buyer_rows = pages.buyer_pages()
    list_queries = pages.intent_list_queries(key)
    if options.skip_http:
        get_row = skipped(web.GET_BAR, "not measured (--skip-http)")
        post_row = skipped(web.POST_BAR, "not measured (--skip-http)")
    else:
        say(
            f"HTTP under load, wrk {web.CONNECTIONS} connections, {options.seconds:g} s each,"
            f" {options.rounds} round(s):"
        )
        get_row, post_row = web.measure(
            vendor=vendor,
            key=key,
            offer_vendor=offer_vendor,
            offer_key=offer_key,
            redis_url=options.redis_url,
            workers=options.workers,
            seconds=options.seconds,
            rounds=options.rounds,
            say=say,
        )
    say(f"Fan-out on {options.fanout_intents} intents, and the INSERT … SELECT baseline:")
    fanout_rows = fanout.measure(
        options.fanout_intents, options.redis_url, say, processes=options.fanout_processes
    )
    say("Load average at the end: {:.2f} / {:.2f} (1 / 5 min)".format(*os.getloadavg()[:2]))
    # In the order of DESIGN §9.
    return [*matching_rows, *fanout_rows, get_row, list_queries, post_row, *buyer_rows]
