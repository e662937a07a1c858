"""Site-wide response rules that no single view owns."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control

from marketplace.errors import RequestRefused


class PrivatePagesMiddleware:
    """A response to a logged-in person is theirs alone: no cache keeps it.

    Their intents, offers, data export and account pages would otherwise stay in a
    browser's or a shared cache after they log out or delete their account. A view
    that set its own ``Cache-Control`` keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response


# The date parts the admin's date filters take, and the years Python's dates can hold.
DATE_PARTS = {"__year": (1, 9999), "__month": (1, 12), "__day": (1, 31)}


class QueryGuardMiddleware:
    """A query string PostgreSQL or Python's dates cannot take is a 400, not a 500.

    A NUL byte anywhere (PostgreSQL refuses it in a query), and under ``/admin/`` a date
    part out of range (``?created_at__year=99999``): the admin's list filters pass both
    through to the database.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, value in request.GET.items():
            if "\x00" in name or "\x00" in value:
                raise RequestRefused("A NUL byte cannot be part of a query.")
            if request.path.startswith("/admin/"):
                for suffix, (low, high) in DATE_PARTS.items():
                    if name.endswith(suffix) and not (
                        value.isascii() and value.isdigit() and low <= int(value) <= high
                    ):
                        raise RequestRefused(f"{name} is a whole number from {low} to {high}.")
        return self.get_response(request)


TIME_ZONE_COOKIE = "tz"  # set by static/js/time-zone.js


class PersonTimeZoneMiddleware:
    """A page shows times, and its forms read the times typed, in the person's own zone
    (their browser's, from a cookie), not in UTC. The API and every task stay in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = _zone(unquote(request.COOKIES.get(TIME_ZONE_COOKIE, "")))
        if zone is None or request.path.startswith("/api/"):
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone of that name; None for anything else (a cookie is the client's)."""
    return zoneinfo.ZoneInfo(name) if name in _zone_names() else None


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
