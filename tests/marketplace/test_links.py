"""Links in e-mails are absolute: SITE_URL and the named URL's path."""

from __future__ import annotations

import uuid
from typing import Any

from marketplace.links import absolute_url


def test_absolute_url_is_the_site_and_the_path(settings: Any) -> None:
    settings.SITE_URL = "https://intentcast.example"
    intent_id = uuid.uuid4()

    assert absolute_url("offers:intent", intent_id) == (
        f"https://intentcast.example/intents/{intent_id}/"
    )
    assert absolute_url("offers:organization", "acme") == "https://intentcast.example/orgs/acme/"
