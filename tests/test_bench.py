"""The bench command runs end to end at small volumes and prints its table.

Its figures are not asserted: the bars are measured by the command at full
size (DESIGN §9), not by timed tests. What is asserted is that every bar gets
a row with a verdict, and that the hand-written SQL baseline of matching
returns the same vendors as matching itself.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import time
import uuid
from importlib import import_module
from io import StringIO

import pytest
import redis
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from bench import fanout
from bench.web import Load, measure, median_of, spread
from intents.models import IntentTerm, Term
from marketplace.models import Vendor
from tests.conftest import IN_CI, require_postgresql
from tests.factories import IntentFactory

REDIS_URL = "redis://127.0.0.1:6379/15"
BARS = (
    "matching, median of",
    "matching returns the SQL query's vendor set",
    "notice fan-out, tasks on Redis",
    "notice fan-out as a share of INSERT … SELECT",
    "GET intents page of 50, p95",
    "GET /api/v1/intents/ queries",
    "POST offers throughput",
    "buyer page My intents",
    "buyer intent page",
)


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if IN_CI:
            pytest.fail(f"CI must run the bench smoke test: no Redis at {REDIS_URL}.")
        pytest.skip(f"needs Redis at {REDIS_URL}")


def http_arguments() -> list[str]:
    if shutil.which("wrk"):
        return []
    if IN_CI:
        pytest.fail("CI must run the bench's HTTP part: wrk is missing (apt-get install wrk).")
    return ["--skip-http"]


def verdicts(table: str) -> dict[str, str]:
    found = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for bar in BARS:
            if len(cells) == 5 and cells[0].startswith(bar):
                found[bar] = cells[4]
    return found


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_quick_bench_prints_a_verdict_for_every_bar() -> None:
    require_postgresql()
    require_redis()
    # The roster comes from a migration; a transactional test before this one may have
    # flushed it, and the load must find it to attach terms (and keep it).
    import_module("intents.migrations.0007_terms_roster").add_roster(apps, None)
    out = StringIO()

    call_command("bench", "--quick", f"--redis-url={REDIS_URL}", *http_arguments(), stdout=out)

    printed = out.getvalue()
    assert "Loaded in" in printed
    assert "| bar " in printed and "| verdict |" in printed
    found = verdicts(printed)
    assert set(found) == set(BARS), printed
    assert set(found.values()) <= {"PASS", "FAIL", "SKIP"}
    assert found["matching returns the SQL query's vendor set"] == "PASS", printed
    # Every POST made its offer (criteria answered, terms accepted), every task was queued.
    assert "FAILURE" not in printed, printed
    if not http_arguments():
        assert re.search(r"POST /api/v1/offers/ .* 0 errors", printed), printed
    # The load kept the roster of buyer's terms, and used it.
    assert IntentTerm.objects.exists() and Term.objects.filter(is_current=True).count() == 4


@pytest.mark.django_db
def test_bench_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")

    with pytest.raises(CommandError, match="refuses to run on sqlite"):
        call_command("bench", "--quick", "--skip-http", stdout=StringIO())


@pytest.mark.django_db
def test_bench_refuses_a_database_not_named_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgresql()
    monkeypatch.setitem(connection.settings_dict, "NAME", "intentcast")

    with pytest.raises(CommandError, match="does not look like a bench or test database"):
        call_command("bench", "--quick", "--skip-http", stdout=StringIO())


@pytest.mark.django_db
def test_bench_refuses_a_database_whose_terms_roster_is_gone() -> None:
    require_postgresql()
    IntentTerm.objects.all().delete()
    Term.objects.all().delete()

    with pytest.raises(CommandError, match=r"terms roster .* is empty"):
        call_command("bench", "--quick", "--skip-http", stdout=StringIO())


def test_bench_refuses_zero_rounds() -> None:
    with pytest.raises(CommandError, match="--rounds must be 1 or more"):
        call_command("bench", "--quick", "--rounds", "0", stdout=StringIO())


def test_the_http_bars_judge_the_median_round_and_print_the_spread() -> None:
    def load(p95_ms: float, requests: int) -> Load:
        return Load(requests, 10.0, 0, 0, p50_ms=p95_ms / 2, p95_ms=p95_ms, p99_ms=2 * p95_ms)

    rounds = [load(61.0, 1500), load(48.5, 2100), load(52.25, 1900)]

    assert median_of(rounds, "p95_ms") == 52.25
    assert median_of(rounds, "per_second") == 190
    assert spread(rounds, "p95_ms") == " (median of 3, 48.5–61.0)"
    assert spread(rounds, "per_second") == " (median of 3, 150–210)"
    assert spread(rounds[:1], "p95_ms") == ""


@pytest.mark.django_db
def test_bench_refuses_to_post_when_no_open_intent_is_left_for_a_round(vendor: Vendor) -> None:
    with pytest.raises(CommandError, match=r"0 open intents are left .*without --reuse"):
        measure(
            vendor=vendor,
            key="unused",
            offer_vendor=vendor,
            offer_key="unused",
            redis_url=REDIS_URL,
            workers=1,
            seconds=1,
            rounds=3,
            say=print,
        )


@pytest.mark.django_db
def test_fanout_refuses_to_measure_on_too_few_fresh_intents() -> None:
    # Its baseline would quietly insert fewer rows than the table says.
    IntentFactory.create_batch(3)

    # 50 measured, 5 to warm up each of 2 processes, 3 × 50 for the baseline.
    with pytest.raises(CommandError, match=r"needs 210 open intents .* and 3 are left"):
        fanout.measure(50, REDIS_URL, say=lambda line: None, processes=2)


def test_bench_refuses_zero_fanout_processes() -> None:
    with pytest.raises(CommandError, match="--fanout-processes must be 1 or more"):
        call_command("bench", "--quick", "--fanout-processes", "0", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_fanout_process_fails_the_bench_with_its_traceback() -> None:
    require_postgresql()
    require_redis()
    missing = uuid.uuid4()  # a process's intent is gone: intent_match raises

    with pytest.raises(CommandError, match=r"(?s)A fan-out process failed.*DoesNotExist"):
        fanout._fan_out_in_processes([missing, uuid.uuid4()], [], 2, REDIS_URL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("when", ["warming up, before the others start", "while timed"])
def test_a_fanout_process_that_dies_fails_the_bench_at_once(
    when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgresql()
    require_redis()
    doomed = uuid.uuid4()

    def die_on_the_doomed_intent(*, intent_id: object) -> list[object]:
        if intent_id == doomed:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        return []

    monkeypatch.setattr(fanout, "intent_match", die_on_the_doomed_intent)  # forked: inherited
    others = [uuid.uuid4() for _ in range(3)]
    measured, warm_ups = ([others[0], others[1]], [doomed, others[2]])
    if when == "while timed":
        measured, warm_ups = [doomed, others[0]], [others[1], others[2]]
    started = time.monotonic()

    with pytest.raises(CommandError, match=r"Fan-out process 0 \(pid \d+\) exited with code -9"):
        fanout._fan_out_in_processes(measured, warm_ups, 2, REDIS_URL)

    assert time.monotonic() - started < 30  # not the ten minutes of the run's timeout
    assert multiprocessing.active_children() == []  # none left behind


@pytest.mark.django_db
def test_the_fanout_refuses_to_run_inside_a_transaction() -> None:
    # Its processes could not see this transaction's rows, and would close its connection.
    with pytest.raises(CommandError, match="cannot run inside a transaction"):
        fanout._fan_out_in_processes([uuid.uuid4()], [], 1, REDIS_URL)
