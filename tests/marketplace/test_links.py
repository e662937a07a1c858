"""Links in e-mails are absolute: SITE_URL and the named URL's path."""

from __future__ import annotations

import uuid
from typing import Any

from django.core import checks

from marketplace.links import absolute_url, check_site_url


def test_absolute_url_is_the_site_and_the_path(settings: Any) -> None:
    settings.SITE_URL = "https://intentcast.example"
    intent_id = uuid.uuid4()

    assert absolute_url("offers:intent", intent_id) == (
        f"https://intentcast.example/intents/{intent_id}/"
    )
    assert absolute_url("offers:organization", "acme") == "https://intentcast.example/orgs/acme/"


def test_the_deploy_check_warns_when_site_url_is_not_set(settings: Any) -> None:
    settings.SITE_URL = ""
    [warning] = check_site_url()
    assert (warning.level, warning.id) == (checks.WARNING, "marketplace.W001")

    settings.SITE_URL = "https://intentcast.example"
    assert check_site_url() == []
    # Registered for `manage.py check --deploy` only.
    assert check_site_url in checks.registry.registry.get_checks(include_deployment_checks=True)
    assert check_site_url not in checks.registry.registry.get_checks()
