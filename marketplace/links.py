"""Links in messages that leave the site: e-mails, sent by workers with no request to ask.

``SITE_URL`` is the site's public address (``https://intentcast.example``),
required in production (``config.settings.base``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse


def absolute_url(name: str, *args: Any) -> str:
    """The public address of the URL named ``name`` (``reverse``'s name and arguments)."""
    return settings.SITE_URL + reverse(name, args=args)
