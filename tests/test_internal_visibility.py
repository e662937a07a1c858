"""An internal intent is seen by its organization's members only — on every page and endpoint.

Actors: the poster, a member (matched, with a notice), a signed-in non-member,
another organization's member, a vendor whose API key could otherwise see it
(it serves the category worldwide and even holds a notice), and anonymous.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from intents.models import Intent, Notice
from intents.services import intent_update
from marketplace.events import events_dispatch
from marketplace.models import Vendor
from offers.models import RewardEntry
from tests.factories import (
    CategoryFactory,
    NoticeFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
    proposal,
)

pytestmark = pytest.mark.django_db

SECRET = "Quietly replace the payroll system"


@pytest.fixture
def world() -> dict[str, Any]:
    category = CategoryFactory(slug="software", name="Software")
    organization = OrganizationFactory(slug="acme", name="Acme")
    other = OrganizationFactory(slug="globex", name="Globex")
    poster = org_member(organization)
    member = org_member(organization, skills=["payroll"])
    intent = internal_intent(
        organization,
        poster,
        category=category,
        title=SECRET,
        description="The payroll system needs replacing.",
    )
    NoticeFactory(intent=intent, vendor=None, member=member, reasons=["skills: payroll"])
    vendor = VendorFactory(categories=[category], regions=["*"])
    # Even a notice that should never exist does not open it to a vendor.
    NoticeFactory(intent=intent, vendor=vendor)
    proposal(intent, member, message="I know the payroll vendor well.")
    return {
        "organization": organization,
        "other": other,
        "poster": poster,
        "member": member,
        "outsider": UserFactory(),
        "other_member": org_member(other),
        "vendor": vendor,
        "intent": intent,
    }


def _client(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


PAGES = [
    "/intents/",
    "/intents/{id}/",
    "/intents/{id}/edit/",
    "/orgs/acme/",
    "/orgs/acme/dashboard/",
    "/orgs/acme/rfps/{id}/",
    "/orgs/acme/members/",
    "/orgs/globex/",
    "/orgs/globex/dashboard/",
    "/orgs/",
]

# Who may see the intent's title on which page (status code, shows the title).
EXPECTED: dict[str, dict[str, tuple[int, bool]]] = {
    "poster": {
        "/intents/": (200, True),
        "/intents/{id}/": (302, False),  # to the RFP page inside the organization
        "/intents/{id}/edit/": (302, False),
        "/orgs/acme/": (200, True),
        "/orgs/acme/dashboard/": (200, True),
        "/orgs/acme/rfps/{id}/": (200, True),
        "/orgs/acme/members/": (200, False),
        "/orgs/globex/": (404, False),
        "/orgs/globex/dashboard/": (404, False),
        "/orgs/": (200, False),
    },
    "member": {
        "/intents/": (200, False),
        "/intents/{id}/": (404, False),
        "/intents/{id}/edit/": (404, False),
        "/orgs/acme/": (200, True),
        "/orgs/acme/dashboard/": (200, True),
        "/orgs/acme/rfps/{id}/": (200, True),
        "/orgs/acme/members/": (200, False),
        "/orgs/globex/": (404, False),
        "/orgs/globex/dashboard/": (404, False),
        "/orgs/": (200, False),
    },
    **{
        outsider: {
            "/intents/": (200, False),
            "/intents/{id}/": (404, False),
            "/intents/{id}/edit/": (404, False),
            "/orgs/acme/": (404, False),
            "/orgs/acme/dashboard/": (404, False),
            "/orgs/acme/rfps/{id}/": (404, False),
            "/orgs/acme/members/": (404, False),
            "/orgs/globex/": (200 if outsider == "other_member" else 404, False),
            "/orgs/globex/dashboard/": (200 if outsider == "other_member" else 404, False),
            "/orgs/": (200, False),
        }
        for outsider in ("outsider", "other_member")
    },
}


@pytest.mark.parametrize("who", ["poster", "member", "outsider", "other_member", "anonymous"])
@pytest.mark.parametrize("page", PAGES)
def test_web_pages(world: dict[str, Any], who: str, page: str) -> None:
    intent: Intent = world["intent"]
    client = _client(None if who == "anonymous" else world[who])

    response = client.get(page.format(id=intent.pk))

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
        return
    status, shows = EXPECTED[who][page]
    assert response.status_code == status, (who, page)
    assert (SECRET in response.content.decode()) is shows, (who, page)
    if status == 302:
        assert response["Location"] == f"/orgs/acme/rfps/{intent.pk}/"


def test_the_proposal_and_award_actions_are_404_for_outsiders(world: dict[str, Any]) -> None:
    intent: Intent = world["intent"]
    offer = intent.offers.get()
    for who in ("outsider", "other_member"):
        client = _client(world[who])
        for path, data in (
            (f"/orgs/acme/rfps/{intent.pk}/propose/", {"message": "Let me in"}),
            (f"/orgs/acme/rfps/{intent.pk}/award/", {f"share-{offer.pk}": "100"}),
            (f"/orgs/acme/rfps/{intent.pk}/withdraw/", {}),
            (f"/orgs/acme/proposals/{offer.pk}/decline/", {"reason": "no"}),
            (f"/orgs/acme/proposals/{offer.pk}/withdraw/", {}),
        ):
            assert client.post(path, data).status_code == 404, (who, path)
    intent.refresh_from_db()
    offer.refresh_from_db()
    assert (intent.status, offer.status, intent.offers.count()) == ("open", "submitted", 1)
    assert RewardEntry.objects.count() == 0


def test_vendor_api_never_shows_it(
    world: dict[str, Any], vendor_client: Callable[[Vendor], APIClient]
) -> None:
    intent: Intent = world["intent"]
    api = vendor_client(world["vendor"])
    # An edit would tell noticed vendors (intent.updated): not for an internal intent.
    intent_update(intent=intent, description="The payroll system must go.")
    events_dispatch()

    listing = api.get("/api/v1/intents/")
    searched = api.get("/api/v1/intents/", {"q": "payroll"})
    detail = api.get(f"/api/v1/intents/{intent.pk}/")
    questions = api.get(f"/api/v1/intents/{intent.pk}/questions/")
    ask = api.post(f"/api/v1/intents/{intent.pk}/questions/", {"text": "Who?"}, format="json")
    notices = api.get("/api/v1/notices/")
    events = api.get("/api/v1/events/")
    offer = api.post(
        "/api/v1/offers/",
        {"intent": str(intent.pk), "price": "10.00", "currency": "EUR"},
        format="json",
    )

    assert listing.status_code == 200 and listing.json()["count"] == 0
    assert searched.json()["count"] == 0
    assert (detail.status_code, questions.status_code, ask.status_code) == (404, 404, 404)
    assert notices.status_code == 200 and notices.json()["count"] == 0
    assert events.status_code == 200 and events.json()["results"] == []
    assert offer.status_code == 404
    for response in (listing, searched, notices, events):
        assert str(intent.pk) not in response.content.decode()
        assert SECRET not in response.content.decode()
    assert Notice.objects.filter(intent=intent, vendor=world["vendor"]).count() == 1


def test_anonymous_api_is_refused(world: dict[str, Any]) -> None:
    api = APIClient()

    assert api.get("/api/v1/intents/").status_code == 401
    assert api.get(f"/api/v1/intents/{world['intent'].pk}/").status_code == 401


def test_another_organizations_member_never_gets_a_notice(world: dict[str, Any]) -> None:
    assert set(
        Notice.objects.filter(intent=world["intent"], member__isnull=False).values_list(
            "member_id", flat=True
        )
    ) == {world["member"].pk}


# --- Query counts: constant in the number of rows ------------------------------------


def _queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def _grow(organization: Any, poster: Any, rows: int) -> None:
    for _ in range(rows):
        intent = internal_intent(organization, poster)
        member = org_member(organization)
        made = proposal(intent, member)
        proposal(intent, org_member(organization))
        NoticeFactory(intent=intent, vendor=None, member=poster, reasons=["skills: x"])
        RewardEntry.objects.create(
            intent=intent,
            offer=made,
            member=member,
            percent=Decimal("50"),
            amount=Decimal("10.00"),
            currency="EUR",
        )


@pytest.mark.parametrize("page", ["/orgs/{slug}/dashboard/", "/orgs/{slug}/"])
def test_organization_pages_query_count_is_constant(page: str) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    client = _client(poster)
    path = page.format(slug=organization.slug)
    _grow(organization, poster, 2)
    few = _queries(client, path)

    _grow(organization, poster, 6)
    many = _queries(client, path)

    assert few == many
    assert many <= 12
