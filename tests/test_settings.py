"""Production settings refuse to start without a secret and default DEBUG off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import NotSupportedError, connection

from marketplace.database import close_after_stale_plan
from marketplace.models import Category
from tests.conftest import require_postgresql

ROOT = Path(__file__).resolve().parent.parent

PRINT = "from django.conf import settings; print(settings.DEBUG, settings.EMBEDDED, settings.DATABASES['default']['ENGINE'])"


def run_settings(env: dict[str, str], code: str = PRINT) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "REDIS_URL", "SITE_URL")
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings.base"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_default_needs_nothing() -> None:
    result = run_settings({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "django.db.backends.sqlite3"]


def test_a_django_message_is_logged_once_on_the_embedded_default() -> None:
    """With DEBUG on, Django's own console handler and ours both printed each line."""
    result = run_settings(
        {}, "import logging; logging.getLogger('django.request').warning('Not Found: /x')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /x") == 1, result.stderr


def test_production_requires_secret_key() -> None:
    result = run_settings({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_requires_the_site_s_address() -> None:
    """Links in e-mails need it; a password reset could not be sent without it."""
    base = {"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "SECRET_KEY": "s" * 50}
    for given in ({}, {"SITE_URL": ""}, {"SITE_URL": "intentcast.example"}):
        result = run_settings(base | given)
        assert result.returncode != 0, given
        assert "SITE_URL" in result.stderr, given


def test_production_defaults_debug_off_on_postgresql() -> None:
    result = run_settings(
        {
            "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
            "SECRET_KEY": "s" * 50,
            "SITE_URL": "https://intentcast.example",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "django.db.backends.postgresql"]


def print_settings(names: str, env: dict[str, str]) -> list[str]:
    code = f"from django.conf import settings; print(*[repr(getattr(settings, n)) for n in {names.split()!r}], sep='|')"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "SITE_URL")
        }
        | {"DJANGO_SETTINGS_MODULE": "config.settings.base"}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("|")


PRODUCTION = {
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
    "SECRET_KEY": "s" * 50,
    "SITE_URL": "https://intentcast.example",
}


def test_production_sets_secure_cookies_hsts_and_https_redirect() -> None:
    values = print_settings(
        "SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS "
        "SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_SSL_REDIRECT SESSION_COOKIE_HTTPONLY "
        "SECURE_CONTENT_TYPE_NOSNIFF X_FRAME_OPTIONS",
        PRODUCTION,
    )
    assert values == ["True", "True", "2592000", "True", "True", "True", "True", "'DENY'"]


def test_production_responses_carry_hsts_and_csp() -> None:
    code = (
        "from django.test import Client; "
        # An API answer: no database, no collected static files needed.
        "r = Client().get('/api/v1/vendor/', secure=True); "
        "print(r.status_code); print(r['Strict-Transport-Security']); "
        "print(r['Content-Security-Policy'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG")
        }
        | {"DJANGO_SETTINGS_MODULE": "config.settings.base", "ALLOWED_HOSTS": "testserver"}
        | PRODUCTION,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, hsts, csp = result.stdout.strip().splitlines()[:3]
    assert status == "401"
    assert hsts == "max-age=2592000; includeSubDomains"
    assert "default-src 'self'" in csp and "script-src 'self'" in csp


def test_api_limits_come_from_the_environment() -> None:
    values = print_settings(
        "REST_FRAMEWORK API_MAX_REQUEST_BYTES AXES_FAILURE_LIMIT",
        {"API_THROTTLE_RATE": "5/min", "API_WRITE_THROTTLE_RATE": "2/min"}
        | {"API_MAX_REQUEST_BYTES": "1024", "AXES_FAILURE_LIMIT": "3"},
    )
    assert "'api_key': '5/min', 'api_key_write': '2/min'" in values[0]
    assert values[1:] == ["1024", "3"]


def test_default_api_limits() -> None:
    values = print_settings("REST_FRAMEWORK API_MAX_REQUEST_BYTES", {})
    assert "'api_key': '1200/min', 'api_key_write': '120/min'" in values[0]
    assert values[1] == "262144"


def test_site_url_for_e_mail_links_comes_from_the_environment() -> None:
    assert print_settings("SITE_URL", {}) == ["'http://127.0.0.1:8000'"]  # embedded
    given = PRODUCTION | {"SITE_URL": "https://intentcast.example/"}
    assert print_settings("SITE_URL", given) == ["'https://intentcast.example'"]


def test_production_e_mail_from_its_url_unless_a_backend_is_named() -> None:
    from_url = PRODUCTION | {"EMAIL_URL": "smtp+tls://user:pass@smtp.example:587"}
    named = from_url | {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}

    assert print_settings("EMAIL_BACKEND EMAIL_HOST EMAIL_PORT EMAIL_USE_TLS", from_url) == [
        "'django.core.mail.backends.smtp.EmailBackend'",
        "'smtp.example'",
        "587",
        "True",
    ]
    assert print_settings("EMAIL_BACKEND", named) == [
        "'django.core.mail.backends.console.EmailBackend'"
    ]


def test_postgresql_prepares_statements_unless_told_not_to() -> None:
    """Server-side binding: psycopg prepares a statement on its fifth use (no planning after)."""
    on = print_settings("DATABASES", PRODUCTION)[0]
    off = print_settings("DATABASES", PRODUCTION | {"DATABASE_PREPARED_STATEMENTS": "false"})[0]
    embedded = print_settings("DATABASES", {})[0]
    other = print_settings(
        "DATABASES", PRODUCTION | {"DATABASE_URL": "sqlite:////tmp/intentcast-settings.sqlite3"}
    )[0]

    assert "'OPTIONS': {'server_side_binding': True, 'prepare_threshold': 5}" in on
    assert "server_side_binding" not in off and "prepare_threshold" not in off
    assert "server_side_binding" not in embedded
    assert "server_side_binding" not in other  # psycopg's options are PostgreSQL's alone


@pytest.mark.django_db
def test_a_repeated_statement_is_prepared_on_postgresql() -> None:
    require_postgresql()
    for _ in range(6):
        list(Category.objects.filter(slug="prepared-probe"))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%marketplace_category%prepared-probe%"],
        )
        by_value = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "marketplace_category" WHERE "marketplace_category"."slug" = $1%'],
        )
        by_parameter = cursor.fetchone()[0]

    assert (by_value, by_parameter) == (0, 1)


@pytest.mark.django_db(transaction=True)
def test_a_plan_a_migration_made_stale_fails_once_then_the_connection_is_renewed() -> None:
    """A migration changing a read column's type breaks that prepared statement; psycopg would
    keep using it on the connection, so the connection is closed at the end of the request."""
    require_postgresql()

    def read() -> list[Any]:
        return list(Category.objects.filter(slug="stale-probe").values_list("name"))

    for _ in range(6):
        read()  # prepared by now
    connection.close_at = time.monotonic() + 60  # a persistent connection, as in production
    settings = connection.settings_dict
    migration = psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    try:
        migration.execute("ALTER TABLE marketplace_category ALTER COLUMN name TYPE varchar(140)")
        with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
            read()
        connection.close_if_unusable_or_obsolete()  # what Django does when a request ends

        assert connection.connection is None
        assert read() == []  # a new connection, which plans afresh
    finally:
        migration.execute("ALTER TABLE marketplace_category ALTER COLUMN name TYPE varchar(120)")
        migration.close()


@pytest.mark.django_db(transaction=True)
def test_a_connection_opened_inside_an_execute_wrapper_block_keeps_its_watch() -> None:
    require_postgresql()
    seen: list[str] = []

    def note(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    connection.close()
    connection.execute_wrappers.clear()  # as on a thread's first connection
    with connection.execute_wrapper(note):
        Category.objects.exists()  # opens the connection inside the block

    assert seen and connection.execute_wrappers == [close_after_stale_plan]
