"""Times in the person's own zone: shown and typed in it, while every rule keeps one calendar (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from intents.models import Intent
from marketplace.models import Event, Vendor
from offers.models import Offer
from tests.factories import CategoryFactory, IntentFactory, OfferFactory, UserFactory, VendorFactory
from tests.offers.test_views import intent_form

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def _next_berlin_fall_back() -> datetime:
    """The first of Berlin's repeated 02:30s (00:30 UTC on the last Sunday of October), ahead."""
    now = timezone.now()
    for year in (now.year, now.year + 1):
        day = datetime(year, 10, 31, 0, 30, tzinfo=UTC)
        while day.weekday() != 6:
            day -= timedelta(days=1)
        if day > now + timedelta(days=1):
            return day
    raise AssertionError


def _edit_page_values(client: Client, intent: Intent) -> dict[str, str]:
    page = client.get(f"/intents/{intent.pk}/edit/").content.decode()
    return {
        name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)
        for name in ("offers_close_at", "offers_close_at_as_shown", "edit_count")
    }


def test_an_untouched_deadline_in_the_repeated_hour_saves_unchanged(client: Client) -> None:
    """Berlin, last Sunday of October: the edit form prefills 02:30 (the first one, CEST).
    Saving the edit of the title only must keep the deadline, not refuse the whole form."""
    buyer = UserFactory()
    category = CategoryFactory()
    deadline = _next_berlin_fall_back()
    intent = IntentFactory(buyer=buyer, category=category, offers_close_at=deadline)
    client.force_login(buyer)
    client.cookies["tz"] = "Europe/Berlin"
    shown = _edit_page_values(client, intent)

    saved = client.post(
        f"/intents/{intent.pk}/edit/",
        intent_form(category, title="Paint three rooms", **shown),
    )

    assert shown["offers_close_at"].endswith("T02:30")
    assert saved.status_code == 302, re.findall(
        r"couldn.t be interpreted[^<]*", saved.content.decode()
    )
    intent.refresh_from_db()
    assert (intent.title, intent.offers_close_at) == ("Paint three rooms", deadline)


def test_the_intent_updated_event_carries_the_deadline_in_utc(
    client: Client, vendor_client: Any
) -> None:
    """A deadline moved on the web page by a person in Berlin: the vendors' event (webhook
    body and event feed) must say it in UTC, as the API does."""
    buyer = UserFactory()
    category = CategoryFactory()
    vendor = VendorFactory(categories=[category])
    intent = IntentFactory(buyer=buyer, category=category)
    from tests.factories import NoticeFactory

    NoticeFactory(intent=intent, vendor=vendor)
    client.force_login(buyer)
    client.cookies["tz"] = "Europe/Berlin"
    new = (timezone.now() + timedelta(days=20)).replace(second=0, microsecond=0)
    typed = new.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")

    response = client.post(
        f"/intents/{intent.pk}/edit/", intent_form(category, offers_close_at=typed)
    )

    assert response.status_code == 302
    event = Event.objects.get(vendor=vendor, type="intent.updated")
    api = vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").json()
    told = event.payload["intent"]["offers_close_at"]
    assert told == api["offers_close_at"], (told, api["offers_close_at"])


def _zone_whose_date_differs_from_utc() -> tuple[str, int]:
    """A zone whose calendar date now differs from UTC's, and by how many days."""
    hour = timezone.now().hour
    return ("Etc/GMT-14", 1) if hour >= 10 else ("Etc/GMT+12", -1)


def test_an_offer_s_valid_until_is_judged_on_one_calendar_web_or_beat(client: Client) -> None:
    """The beat lapses offers by the UTC date, and the API's accept reads it so; the buyer's
    web accept now judges it by the buyer's own date: one offer is 'lapsed' for a buyer in
    Kiritimati that the beat keeps, or accepted by a buyer in Samoa after the beat lapsed it."""
    zone, shift = _zone_whose_date_differs_from_utc()
    utc_today = timezone.now().date()
    # Ahead of UTC: valid until today (UTC) — live by the beat, "lapsed" by the buyer's date.
    # Behind UTC: valid until yesterday (UTC) — lapsed by the beat, live by the buyer's date.
    valid_until = utc_today if shift == 1 else utc_today - timedelta(days=1)
    buyer = UserFactory()
    offer = OfferFactory(intent=IntentFactory(buyer=buyer), valid_until=valid_until)
    lapsed_by_utc = offer.has_lapsed  # outside a request: UTC, as the beat judges
    client.force_login(buyer)
    client.cookies["tz"] = zone

    client.post(
        f"/offers/{offer.pk}/accept/",
        {"contact_details": "call me", "revision": str(offer.revision_count)},
    )

    offer.refresh_from_db()
    assert (offer.status == Offer.Status.ACCEPTED) == (not lapsed_by_utc), (
        zone,
        valid_until,
        offer.status,
    )


@pytest.mark.django_db(transaction=True)
def test_a_vendor_s_capacity_day_stays_utc_when_matching_runs_in_the_request(
    client: Client,
) -> None:
    """Embedded default (eager tasks): the matching that a web publish runs counts the
    vendor's notices on the buyer's calendar day; notices_day is a UTC day (its model says so),
    and a worker-run matching counts on UTC."""
    zone, _ = _zone_whose_date_differs_from_utc()
    category = CategoryFactory()
    vendor = VendorFactory(categories=[category])
    buyer = UserFactory()
    client.force_login(buyer)
    client.cookies["tz"] = zone
    typed = (
        (timezone.now() + timedelta(days=5)).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    )

    # Committed inside the request, as in the embedded default: the eager task runs there.
    client.post("/intents/new/", intent_form(category, offers_close_at=typed, publish="1"))

    assert Intent.objects.get().status == Intent.Status.OPEN
    vendor = Vendor.objects.get(pk=vendor.pk)
    assert vendor.notices_today == 1
    assert vendor.notices_day == timezone.now().date(), (zone, vendor.notices_day)


@pytest.mark.parametrize("typed", ["2027-03-28T02:30", "2027-10-31T02:30"])
def test_a_nonexistent_or_repeated_local_time_is_a_form_error(client: Client, typed: str) -> None:
    client.force_login(UserFactory())
    client.cookies["tz"] = "Europe/Berlin"

    response = client.post("/intents/new/", intent_form(CategoryFactory(), offers_close_at=typed))

    assert response.status_code == 200
    assert not Intent.objects.exists()


def test_control_the_same_accept_without_a_zone_cookie_is_accepted(client: Client) -> None:
    """Control for the calendar test: the same post, no cookie, accepts the offer."""
    buyer = UserFactory()
    offer = OfferFactory(intent=IntentFactory(buyer=buyer), valid_until=timezone.now().date())
    client.force_login(buyer)

    client.post(
        f"/offers/{offer.pk}/accept/",
        {"contact_details": "call me", "revision": str(offer.revision_count)},
    )

    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED


def test_an_untouched_deadline_keeps_its_time_when_the_browser_s_zone_changed(
    client: Client,
) -> None:
    """The edit page is rendered in the zone the cookie named (Berlin); the page's own script
    then sets the browser's zone now (New York: the laptop travelled, or a first visit with no
    cookie rendered UTC). The post is read in New York time: a save of the title alone moves
    the deadline by six hours, silently. The form does not carry the zone it was shown in."""
    buyer = UserFactory()
    category = CategoryFactory()
    deadline = (timezone.now() + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    intent = IntentFactory(buyer=buyer, category=category, offers_close_at=deadline)
    client.force_login(buyer)
    client.cookies["tz"] = "Europe/Berlin"
    shown = _edit_page_values(client, intent)
    client.cookies["tz"] = "America/New_York"  # what time-zone.js wrote on that page

    saved = client.post(
        f"/intents/{intent.pk}/edit/", intent_form(category, title="Paint three rooms", **shown)
    )

    assert saved.status_code == 302
    intent.refresh_from_db()
    assert intent.offers_close_at == deadline, intent.offers_close_at - deadline


@pytest.mark.parametrize(
    "cookie",
    [
        "x" * 5000,
        "%00",
        "%ZZ%",
        "Europe%2FBerlin%00",
        "localtime",
        "Factory",
        "Europe/Berlin\u00e9",
    ],
)
def test_odd_zone_cookies_never_fail_a_page(client: Client, cookie: str) -> None:
    buyer = UserFactory()
    IntentFactory(buyer=buyer)
    client.force_login(buyer)
    client.cookies["tz"] = cookie

    assert client.get("/intents/").status_code == 200
    assert client.get("/intents/new/").status_code == 200
