"""``python manage.py bench``: load realistic volumes, measure every DESIGN §9 bar.

It empties the marketplace tables first, so it runs only on a database whose
name says bench or test (or with --force). The work is in the rest of ``bench``.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.report import render
from bench.runner import Options, run

FULL = 100_000
QUICK = 2_000


class Command(BaseCommand):
    help = "Load 100,000 vendors and intents into PostgreSQL and measure the DESIGN §9 bars."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--vendors", type=int, help=f"default {FULL:,} ({QUICK:,} with --quick)"
        )
        parser.add_argument(
            "--intents", type=int, help=f"default {FULL:,} ({QUICK:,} with --quick)"
        )
        parser.add_argument(
            "--quick", action="store_true", help="small volumes and short runs: a smoke test"
        )
        parser.add_argument(
            "--skip-http", action="store_true", help="no gunicorn and wrk (the HTTP bars)"
        )
        parser.add_argument(
            "--reuse", action="store_true", help="measure the data the last run loaded"
        )
        parser.add_argument(
            "--force", action="store_true", help="run on a database not named like bench/test"
        )
        parser.add_argument(
            "--redis-url",
            default="redis://127.0.0.1:6379/15",
            help="Redis for the fan-out's real enqueueing; its 'celery' list is emptied",
        )
        parser.add_argument(
            "--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers"
        )
        parser.add_argument(
            "--fanout-processes",
            type=int,
            default=os.cpu_count() or 1,
            help="processes running the fan-out side by side (default: one per core,"
            " a Celery worker's default concurrency)",
        )
        parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
        parser.add_argument(
            "--rounds", type=int, help="rounds of the HTTP loads, medians judged (default 3)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rounds"] is not None and options["rounds"] < 1:
            raise CommandError("--rounds must be 1 or more.")
        if options["fanout_processes"] < 1:
            raise CommandError("--fanout-processes must be 1 or more.")
        quick = options["quick"]
        size = QUICK if quick else FULL
        bench_options = Options(
            vendors=options["vendors"] or size,
            intents=options["intents"] or size,
            matching_intents=10 if quick else 50,
            fanout_intents=5 if quick else 50,
            fanout_processes=options["fanout_processes"],
            seconds=options["duration"] or (2 if quick else 10),
            rounds=options["rounds"] or (1 if quick else 3),
            workers=options["workers"],
            redis_url=options["redis_url"],
            skip_http=options["skip_http"],
            reuse=options["reuse"],
            force=options["force"],
        )
        rows = run(bench_options, self.say)
        self.stdout.write("")
        self.stdout.write(render(rows))

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # progress shows as it happens, even through a pipe
