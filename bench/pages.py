"""Bars: SQL queries per page — the buyer's pages, and the vendor's intent list by page size.

Pages are rendered in this process with Django's test client, each query
captured. The settings overrides only let the test client in (its host,
plain http, static files without a manifest); they change no query.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import Count
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from bench.data import HEAVY_BUYER, LIGHT_BUYER
from bench.report import Row, ratio
from intents.models import Intent
from marketplace.models import User

BUYER_PAGE_BAR = 10
IN_PROCESS = {
    "ALLOWED_HOSTS": ["testserver"],
    "SECURE_SSL_REDIRECT": False,
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    },
}


@contextmanager
def _in_process() -> Iterator[None]:
    axes = logging.getLogger("axes")
    level = axes.level
    with override_settings(**IN_PROCESS), warnings.catch_warnings():
        # WhiteNoise warns that STATIC_ROOT was never collected; pages need no static file.
        warnings.filterwarnings("ignore", message="No directory at")
        # django-axes logs each bench buyer's login; the bench prints its own lines only.
        axes.setLevel(logging.WARNING)
        try:
            yield
        finally:
            axes.setLevel(level)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return len(captured.captured_queries)


def _busiest_intent(buyer: User) -> tuple[object, int]:
    """The buyer's intent with the most offers, and how many it has."""
    return (
        Intent.objects.filter(buyer=buyer)
        .annotate(offers_count=Count("offers"))
        .order_by("-offers_count", "pk")
        .values_list("pk", "offers_count")
        .first()
    )


def buyer_pages() -> list[Row]:
    """My intents and the intent page: a buyer with many rows against one with a single row."""
    counts: dict[str, tuple[int, int, int, int]] = {}
    with _in_process():
        for username in (HEAVY_BUYER, LIGHT_BUYER):
            buyer = User.objects.get(username=username)
            intent_id, offers = _busiest_intent(buyer)
            client = Client()
            client.force_login(buyer)
            _queries(client, reverse("intents:mine"))  # warm: the session's first request
            counts[username] = (
                _queries(client, reverse("intents:mine")),
                buyer.intents.count(),
                _queries(client, reverse("offers:intent", kwargs={"intent_id": intent_id})),
                offers,
            )
    heavy_mine, intents, heavy_page, offers = counts[HEAVY_BUYER]
    light_mine, light_intents, light_page, light_offers = counts[LIGHT_BUYER]
    return [
        Row(
            f"buyer page My intents (≤ {BUYER_PAGE_BAR} queries)",
            f"{heavy_mine} queries ({_plural(intents, 'intent')})",
            f"{light_mine} queries ({_plural(light_intents, 'intent')})",
            ratio(heavy_mine, light_mine),
            heavy_mine <= BUYER_PAGE_BAR,
        ),
        Row(
            f"buyer intent page (≤ {BUYER_PAGE_BAR} queries)",
            f"{heavy_page} queries ({_plural(offers, 'offer')})",
            f"{light_page} queries ({_plural(light_offers, 'offer')})",
            ratio(heavy_page, light_page),
            heavy_page <= BUYER_PAGE_BAR,
        ),
    ]


def intent_list_queries(raw_key: str) -> Row:
    """``GET /api/v1/intents/``: the same number of queries for a page of 10 and of 50."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    url = reverse("api:intent-list")
    with _in_process():
        # Warm: the first use of a key also stamps its last use (two more UPDATEs).
        _queries(client, f"{url}?page_size=10")
        ten = _queries(client, f"{url}?page_size=10")
        fifty = _queries(client, f"{url}?page_size=50")
    return Row(
        "GET /api/v1/intents/ queries, page of 50 = page of 10",
        f"{fifty} queries (page of 50)",
        f"{ten} queries (page of 10)",
        ratio(fifty, ten),
        fifty == ten,
    )
