"""The marketplace's one calendar: UTC, whoever is looking.

A web page shows times in the person's own zone (``PersonTimeZoneMiddleware``), so
Django's ``timezone.localdate()`` in a request is that person's date. Business rules
("is this date past?", "today's capacity") must not depend on who asks: they read the
date here, as the API, the beat and every task do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.utils import timezone


def today() -> date:
    """Today's date in UTC."""
    return timezone.now().astimezone(UTC).date()


def date_of(moment: datetime) -> date:
    """The UTC date of an aware moment."""
    return moment.astimezone(UTC).date()
