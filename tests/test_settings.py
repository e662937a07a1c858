"""Production settings refuse to start without a secret and default DEBUG off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRINT = "from django.conf import settings; print(settings.DEBUG, settings.EMBEDDED, settings.DATABASES['default']['ENGINE'])"


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {PRINT}"],
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


def test_production_requires_secret_key() -> None:
    result = run_settings({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_defaults_debug_off_on_postgresql() -> None:
    result = run_settings({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "SECRET_KEY": "s" * 50})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "django.db.backends.postgresql"]
