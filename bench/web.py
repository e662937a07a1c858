"""Bars under load: gunicorn on a loopback port, wrk as the load tool.

The trivial endpoint (``GET /api/v1/ping/``, see :mod:`bench.urls`) is served
by the same gunicorn and authenticated with the same API key, so its figures
are what the server can do for a request that does nothing: the baseline.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from bench.report import Row, ratio
from intents.models import Criterion, Intent
from intents.selectors import intents_visible_to_vendor
from marketplace.models import Vendor
from offers.models import Offer

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 8
THREADS = 2
GET_P95_BAR_MS = 50.0
POST_RATIO_BAR = 0.5
GET_BAR = f"GET intents page of 50, p95 at {CONNECTIONS} clients (≤ {GET_P95_BAR_MS:.0f} ms)"
POST_BAR = f"POST offers throughput (≥ {POST_RATIO_BAR:.0%} of trivial)"
LIST_URL = "/api/v1/intents/?page_size=50"
PING_URL = "/api/v1/ping/"

Say = Callable[[str], None]

# Every script ends with this: one line the bench parses (wrk's own summary has no p95).
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p95_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""
GET_SCRIPT = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer {key}"
"""
# Each thread takes every THREADS-th intent from its own offset, so no intent
# gets two offers; past the end it repeats the first one, and the 409s show.
POST_SCRIPT = """
local intents = {{
{intents}
}}
local headers = {{["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json"}}
threads_seen = 0
setup = function(thread)
  threads_seen = threads_seen + 1
  thread:set("first", threads_seen)
end
init = function(args) next_index = first end
request = function()
  local intent = intents[next_index] or intents[1]
  next_index = next_index + {threads}
  local body = string.format(
    '{{"intent": "%s", "price": "95.00", "currency": "%s", "delivery_date": "{delivery}", "message": "bench offer"%s}}',
    intent[1], intent[2], intent[3])
  return wrk.format("POST", "/api/v1/offers/", headers, body)
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors

    def describe(self) -> str:
        return (
            f"{self.per_second:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms,"
            f" p99 {self.p99_ms:.1f} ms, {self.errors} errors"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The database this process uses (under pytest: the test database)."""
    settings = connection.settings_dict
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"


@contextmanager
def gunicorn(*, workers: int, redis_url: str, key: str, say: Say) -> Iterator[str]:
    """Start gunicorn with production settings on a free loopback port; yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only-not-a-secret",
        "SITE_URL": "http://127.0.0.1",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        # Production limits one key to 1,200 requests a minute (120 writes): the
        # bench drives one key at thousands a second, and measures the code, not 429s.
        "API_THROTTLE_RATE": "100000000/min",
        "API_WRITE_THROTTLE_RATE": "100000000/min",
    }
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--chdir", str(ROOT), "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    say(f"  gunicorn: {workers} sync workers on {base}")
    try:
        _wait_ready(f"{base}{PING_URL}", key, process)
        yield base
    except BaseException:
        say(f"  gunicorn's log is kept in {log.name}")
        raise
    else:
        os.unlink(log.name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, key: str, process: subprocess.Popen[Any]) -> None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited; see its log")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within 60 s")


def wrk(url: str, script: str, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script + DONE)
    try:
        result = subprocess.run(
            ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds:g}s",
             "--timeout", "10s", "-s", file.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    finally:
        os.unlink(file.name)
    found = re.search(r"^BENCH (.*)$", result.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    values = {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", found.group(1))}
    return Load(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        status_errors=values["status_errors"],
        socket_errors=values["socket_errors"],
        p50_ms=values["p50_us"] / 1000,
        p95_ms=values["p95_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
    )


def offerable_intents(vendor: Vendor) -> list[tuple[str, str, str]]:
    """Open intents the vendor was noticed about and has no live offer on.

    Each as (id, currency, the rest of a valid offer's body): the answer to a
    required question, the buyer's terms accepted, where the intent asks for them.
    """
    answered = Offer.objects.filter(vendor=vendor, status__in=Offer.LIVE_STATUSES)
    intents = (
        intents_visible_to_vendor(vendor)
        .filter(status=Intent.Status.OPEN, offers_close_at__gt=timezone.now() + timedelta(hours=1))
        .exclude(pk__in=answered.values("intent_id"))
        .order_by("pk")
    )
    offerable = []
    for intent in intents:
        required = [
            criterion["key"]
            for criterion in intent.criteria_for_vendors
            if Criterion.kind_is_custom(criterion["kind"]) and criterion["required"]
        ]
        more = ""
        if required:  # the bench's only required question is a yes/no one
            more += ', "criteria_answers": ' + json.dumps(dict.fromkeys(required, True))
        if intent.terms_for_vendors:
            more += ', "accept_terms": true'
        offerable.append((str(intent.pk), intent.currency, more))
    return offerable


def measure(
    *,
    vendor: Vendor,
    key: str,
    offer_vendor: Vendor,
    offer_key: str,
    redis_url: str,
    workers: int,
    seconds: float,
    rounds: int,
    say: Say,
) -> list[Row]:
    """Each round loads the trivial endpoint, the list, then the offers; the medians are judged.

    Several rounds, because one 10 s run on a shared 2-core machine can land on
    a slow stretch: the spread is printed beside each median. ``vendor`` (its
    ``key``) lists and pings; ``offer_vendor`` (its ``offer_key``) makes the offers,
    from an inbox of its own.
    """
    intents = offerable_intents(offer_vendor)
    get_script = GET_SCRIPT.format(key=key)
    # Each round posts on its own share of the intents: none gets a second offer.
    share = len(intents) // rounds
    if not share:
        raise CommandError(
            f"{len(intents)} open intents are left to post offers on, fewer than the "
            f"{rounds} rounds: load the data again (run without --reuse)."
        )
    post_scripts = [
        post_script(offer_key, intents[number * share : (number + 1) * share])
        for number in range(rounds)
    ]
    pings: list[Load] = []
    listings: list[Load] = []
    postings: list[Load] = []
    offers_before = Offer.objects.filter(vendor=offer_vendor).count()
    with gunicorn(workers=workers, redis_url=redis_url, key=key, say=say) as base:
        wrk(f"{base}{PING_URL}", get_script, min(seconds, 3))  # warm every worker
        wrk(f"{base}{LIST_URL}", get_script, min(seconds, 3))
        for number in range(1, rounds + 1):
            pings.append(wrk(f"{base}{PING_URL}", get_script, seconds))
            say(f"  {number}. GET  {PING_URL:<31} {pings[-1].describe()}")
            listings.append(wrk(f"{base}{LIST_URL}", get_script, seconds))
            say(f"  {number}. GET  {LIST_URL:<31} {listings[-1].describe()}")
            # Past the last open intent the script repeats the first, and the 409s show.
            postings.append(wrk(f"{base}/api/v1/offers/", post_scripts[number - 1], seconds))
            say(f"  {number}. POST {'/api/v1/offers/':<31} {postings[-1].describe()}")
    created = Offer.objects.filter(vendor=offer_vendor).count() - offers_before
    posted = sum(load.requests for load in postings)
    if created < posted:
        say(f"  FAILURE: {posted} POSTs made only {created} offers")
    say(
        f"  POST made {created:,} offers; {len(intents):,} intents were open to offers,"
        f" {share:,} a round"
    )
    ping_p95, ping_rate = median_of(pings, "p95_ms"), median_of(pings, "per_second")
    list_p95, list_rate = median_of(listings, "p95_ms"), median_of(listings, "per_second")
    post_rate = median_of(postings, "per_second")
    return [
        Row(
            GET_BAR,
            f"{list_p95:.1f} ms{spread(listings, 'p95_ms')} ({list_rate:,.0f} req/s)",
            f"{ping_p95:.1f} ms (trivial endpoint)",
            ratio(list_p95, ping_p95),
            list_p95 <= GET_P95_BAR_MS and not any(load.errors for load in listings),
        ),
        Row(
            POST_BAR,
            f"{post_rate:,.0f} req/s{spread(postings, 'per_second')}",
            f"{ping_rate:,.0f} req/s (trivial endpoint)",
            ratio(post_rate, ping_rate, unit="%"),
            post_rate >= POST_RATIO_BAR * ping_rate
            and not any(load.errors for load in postings)
            and created >= posted,
        ),
    ]


def post_script(key: str, intents: list[tuple[str, str, str]]) -> str:
    return POST_SCRIPT.format(
        key=key,
        threads=THREADS,
        delivery=(timezone.localdate() + timedelta(days=14)).isoformat(),
        intents=",\n".join(
            f'{{"{pk}", "{currency}", [[{more}]]}}' for pk, currency, more in intents
        ),
    )


def median_of(loads: list[Load], figure: str) -> float:
    return statistics.median(getattr(load, figure) for load in loads)


def spread(loads: list[Load], figure: str) -> str:
    """`` (median of 3, 50.2–60.4)``, or nothing for a single round."""
    if len(loads) < 2:
        return ""
    values = [getattr(load, figure) for load in loads]
    decimals = 1 if figure.endswith("_ms") else 0
    return f" (median of {len(values)}, {min(values):,.{decimals}f}–{max(values):,.{decimals}f})"
