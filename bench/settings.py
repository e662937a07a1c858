"""Settings of the bench's gunicorn: the production settings, plus a trivial endpoint.

Everything comes from the environment as in production (``config.settings.base``);
only the URLconf differs, to add the trivial endpoint the API is compared with.
"""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
