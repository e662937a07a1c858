"""Links in messages that leave the site: e-mails, sent by workers with no request to ask.

``SITE_URL`` is the site's public address (``https://intentcast.example``).
Unset in production, the links are bare paths, and ``manage.py check
--deploy`` says so.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.urls import reverse


def absolute_url(name: str, *args: Any) -> str:
    """The public address of the URL named ``name`` (``reverse``'s name and arguments)."""
    return settings.SITE_URL + reverse(name, args=args)


@checks.register(checks.Tags.urls, deploy=True)
def check_site_url(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SITE_URL:
        return []
    return [
        checks.Warning(
            "SITE_URL is not set: links in e-mails are paths without the site's address.",
            hint="Set SITE_URL to the site's public address, e.g. https://intentcast.example.",
            id="marketplace.W001",
        )
    ]
