"""Settings, read from the environment.

With no environment at all this is the *embedded default*: SQLite, Celery
tasks run eagerly in-process, DEBUG on, a development secret key. As soon as
``DATABASE_URL`` is set we are in production shape: ``SECRET_KEY`` must be
given and DEBUG defaults to off.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

EMBEDDED = "DATABASE_URL" not in env

DEBUG = env.bool("DEBUG", default=EMBEDDED)
if EMBEDDED:
    SECRET_KEY = env("SECRET_KEY", default="embedded-default-not-for-production")
else:
    SECRET_KEY = env("SECRET_KEY")  # required: raises ImproperlyConfigured when missing

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if EMBEDDED else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public address, for links in e-mails (marketplace.links); no trailing slash.
# Required outside the embedded default: without it, a password reset could not be sent.
if EMBEDDED:
    SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
else:
    SITE_URL = env.str("SITE_URL").rstrip("/")  # raises ImproperlyConfigured when missing
    if not SITE_URL.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"SITE_URL must be the site's public address, e.g. https://intentcast.example"
            f" (it is {SITE_URL!r})."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "marketplace",
    "intents",
    "offers",
    "bench",  # `manage.py bench` (DESIGN §9); no models
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside every middleware that may answer by itself (a 400, a 413): each answer,
    # an error page too, carries the frame denial and the Content-Security-Policy.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "marketplace.api.middleware.ApiRequestSizeLimitMiddleware",
    "marketplace.api.middleware.RateLimitHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "marketplace.middleware.PrivatePagesMiddleware",
    "marketplace.middleware.PersonTimeZoneMiddleware",
    # Inside PrivatePagesMiddleware: a logged-in person's refused query is kept by no cache.
    "marketplace.middleware.QueryGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if not EMBEDDED:
    # Persistent connections: a gunicorn sync worker reuses its connection
    # across requests instead of paying a PostgreSQL handshake per request.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, so psycopg prepares a statement once it ran
    # five times and PostgreSQL stops planning it each time: planning the vendor's
    # list cost PostgreSQL as much as running it. Off behind a pooler in
    # transaction mode that cannot follow (see README, Production).
    is_postgresql = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if is_postgresql and env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=5
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "marketplace.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "intents:mine"
LOGOUT_REDIRECT_URL = "home"

AUTHENTICATION_BACKENDS = [
    # First: refuses a login while its username and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
FORMAT_MODULE_PATH = ["config.formats"]  # dates as "10 Dec 2026" everywhere
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Redis: Celery broker and cache -----------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs costs a request a second, not redis-py's default wait;
            # what the cache guards lets the request through (the new-intent form's token).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it finished, and a worker that dies takes
# its task back to the queue: every task is written to run twice safely.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # A broker that is down must not make a web request hang: fail fast,
    # the outbox sweeps send it later.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# --- E-mail ---------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Intentcast <noreply@intentcast.localhost>")
# Where people write to the operators (a suspended vendor, a buyer whose intent was
# hidden); the e-mails that need it name it, and leave the sentence out when unset.
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="")
if not EMBEDDED:
    vars().update(env.email("EMAIL_URL", default="smtp://localhost:25"))
    # The URL's scheme sets a backend too; an EMAIL_BACKEND given outright wins.
    EMAIL_BACKEND = env("EMAIL_BACKEND", default=EMAIL_BACKEND)
# A mail server that does not answer is given up: a sender's hold on what it sends
# (a notice, a proposal's decision) outlasts this.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["marketplace.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["marketplace.api.permissions.IsVendor"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["marketplace.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "marketplace.api.ordering.StrictOrderingFilter",
    ],
    "EXCEPTION_HANDLER": "marketplace.api.problems.exception_handler",
    # Per vendor, whichever of its API keys (marketplace/api/throttling.py); 429 with
    # Retry-After past the limit.
    "DEFAULT_THROTTLE_CLASSES": ["marketplace.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Every request of one vendor, and (stricter) its POST/PUT/PATCH/DELETE.
        "api_key": env("API_THROTTLE_RATE", default="1200/min"),
        "api_key_write": env("API_WRITE_THROTTLE_RATE", default="120/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
}

# API request bodies above this are refused with 413 (the web forms keep Django's 2.5 MB).
API_MAX_REQUEST_BYTES = env.int("API_MAX_REQUEST_BYTES", default=256 * 1024)

SPECTACULAR_SETTINGS = {
    "TITLE": "Intentcast vendor API",
    # With the events and webhooks: what they are, how they are signed and sent again.
    "DESCRIPTION": (BASE_DIR / "marketplace" / "api" / "description.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's JavaScript is served from our own static files, no CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The problem responses (400, 401, 404, 409, 413, 415, 422, 429 …) of every operation.
        "marketplace.api.schema.add_problem_responses",
        "marketplace.api.schema.mark_request_bodies_strict",
        "marketplace.api.schema.state_the_limits",
        "marketplace.api.schema.null_and_blank_as_served",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IntentStatusEnum": "intents.models.Intent.Status",
        "OfferStatusEnum": "offers.models.Offer.Status",
        "WebhookDeliveryStatusEnum": "marketplace.models.WebhookDelivery.Status",
    },
}

# --- Security in production --------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SESSION_COOKIE_HTTPONLY = True
# Our pages load scripts, styles and images from our own origin only and run no
# inline script; the API docs page widens this for ReDoc (config/api_urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Password guessing (django-axes) ----------------------------------------
# After AXES_FAILURE_LIMIT failed logins for one username from one address,
# that pair is locked out for AXES_COOLOFF_MINUTES; the page says so (429).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no start-up banner in every command's output
# The address is the socket's peer, unless TRUSTED_PROXIES proxies (a TLS terminator,
# a load balancer) stand in front, each appending the address it was reached from to
# X-Forwarded-For: then the one the outermost proxy saw (marketplace.accounts).
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
AXES_CLIENT_IP_CALLABLE = "marketplace.accounts.login_address"

# --- Intentcast ------------------------------------------------------------
# Vendors' webhook URLs that resolve to private addresses are refused unless
# this is on; it is on in the embedded default and in tests.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=EMBEDDED)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own go to this console alone (its default adds a second with DEBUG on).
        "django": {
            "handlers": ["console"],
            "level": env("LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        # One line per finished task is noise; failures are still logged.
        "celery.app.trace": {"level": "WARNING"},
    },
}
# Webhook URLs must be https in production; plain http is fine locally.
WEBHOOKS_REQUIRE_HTTPS = env.bool("WEBHOOKS_REQUIRE_HTTPS", default=not EMBEDDED)
# An egress proxy for webhooks (http://host:port), when workers may not connect out
# themselves; it then resolves the receivers' names. HTTP(S)_PROXY is not used.
WEBHOOKS_PROXY = env("WEBHOOKS_PROXY", default="")
# How long a worker holds a webhook delivery it is sending; a crashed worker's
# deliveries are retried once this runs out. Longer than the 10 s timeout.
WEBHOOK_CLAIM_SECONDS = env.int("WEBHOOK_CLAIM_SECONDS", default=60)
