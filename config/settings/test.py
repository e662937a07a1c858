"""Test settings: the base settings with a fixed secret and fast hashing.

The database is whatever ``DATABASE_URL`` says (PostgreSQL in CI), SQLite
otherwise. Celery runs eagerly unless a test starts a real worker.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("SITE_URL", "https://intentcast.test")

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Eager unless a test starts a real worker (it passes CELERY_TASK_ALWAYS_EAGER=false).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)  # noqa: F405
WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
SITE_URL = "https://intentcast.test"  # links in e-mails are absolute; tests look for this
SECURE_SSL_REDIRECT = False
ALLOWED_HOSTS = ["*"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
STATIC_ROOT = None  # nothing is collected in tests; WhiteNoise then serves from the finders
WHITENOISE_USE_FINDERS = True
# Live-server and worker threads must not keep connections past their request,
# or the test database cannot be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WEBHOOKS_REQUIRE_HTTPS = False
# No test is throttled unless it lowers these itself; every test's API keys are new anyway.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    "api_key": "100000/min",
    "api_key_write": "100000/min",
}
