"""Migrations a deploy may stop half-way run again. PostgreSQL only."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.conftest import require_postgresql

ROOT = Path(__file__).resolve().parent.parent.parent


def migrate(
    database_url: str, *targets: str, pg_options: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PGOPTIONS"}
    env |= {
        "DATABASE_URL": database_url, "SECRET_KEY": "x", "SITE_URL": "http://localhost",
        "ALLOWED_HOSTS": "localhost", "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }  # fmt: skip
    if pg_options:
        env["PGOPTIONS"] = pg_options
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0", *targets],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def scratch_database() -> Iterator[str]:
    require_postgresql()
    params = connection.get_connection_params()
    server = (
        f"postgres://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}"
        f":{params.get('port', 5432)}"
    )
    name = f"test_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_the_sweep_s_index_swap_stopped_while_building_runs_again(scratch_database: str) -> None:
    first = migrate(scratch_database, "intents", "0024_match_again_at")
    assert first.returncode == 0, first.stderr
    holding, release = threading.Event(), threading.Event()

    def old_transaction() -> None:  # a long report: CREATE INDEX CONCURRENTLY waits for it
        with psycopg.connect(scratch_database) as other:
            other.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            other.execute("SELECT count(*) FROM django_content_type").fetchone()
            holding.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=old_transaction)
    thread.start()
    holding.wait(timeout=10)
    try:
        stopped = migrate(scratch_database, pg_options="-c statement_timeout=2000")
    finally:
        release.set()
        thread.join(timeout=30)
    assert stopped.returncode != 0 and "statement timeout" in stopped.stderr

    again = migrate(scratch_database)

    assert again.returncode == 0, again.stderr[-600:]
    with psycopg.connect(scratch_database) as check:
        indexes = check.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname IN ('intent_match_again', 'intent_needs_matching')"
        ).fetchall()
    assert indexes == [("intent_match_again", True)]
