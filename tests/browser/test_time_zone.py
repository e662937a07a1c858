"""Times in the person's own zone: their browser tells it, the pages show and read it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser.test_phone_and_keyboard import log_in, person
from tests.factories import IntentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_in_berlin_reads_the_deadline_in_berlin_time(page: Any, live_server: Any) -> None:
    buyer = person("berliner")
    IntentFactory(buyer=buyer, offers_close_at=datetime(2027, 1, 15, 12, 0, tzinfo=UTC))
    berlin = page.context.browser.new_context(timezone_id="Europe/Berlin").new_page()

    log_in(berlin, live_server, "berliner")  # the first page the browser shows tells it
    berlin.goto(live_server.url + "/intents/")

    assert "15 Jan 2027, 13:00 CET" in berlin.content()
    berlin.goto(live_server.url + "/intents/new/")
    assert "In your time (Europe/Berlin, CET)" in berlin.content()
    berlin.context.close()
