from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.db import connections

from tests.conftest import require_chromium


@pytest.fixture
def page(live_server: object) -> Iterator[object]:
    """A Playwright page in Debian's Chromium, against the live test server."""
    executable = require_chromium()
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test itself makes are still plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        # A phone, in UTC: the pages show times in the browser's zone (static/js/time-zone.js).
        context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="UTC")
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # ORM calls made while Playwright runs get their own connection
            # (another context); close it so the test database can be dropped.
            connections.close_all()
