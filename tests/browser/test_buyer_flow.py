"""The buyer's main flow in a real browser, with a vendor answering over the API."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from intents.models import Intent
from marketplace.services import api_key_create
from offers.models import Offer
from tests.factories import (
    CategoryFactory,
    IntentFactory,
    OfferFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


def api_post(base_url: str, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)


def test_sign_up_post_intent_and_accept_an_api_offer(page: Any, live_server: Any) -> None:
    category = CategoryFactory(slug="painting", name="Painting")
    vendor = VendorFactory(name="Brush & Roller", categories=[category])
    vendor_key = api_key_create(vendor=vendor).raw_key

    # Sign up: the address, then the link e-mailed to it, then username and password.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("E-mail").fill("grace@example.test")
    page.get_by_role("button", name="E-mail me the link").click()
    page.wait_for_url("**/signup/sent/")
    assert page.get_by_role("heading", name="Check your e-mail").is_visible()
    (message,) = [m for m in mail.outbox if m.to == ["grace@example.test"]]
    link = re.search(r"https://intentcast\.test(/signup/finish/\S+/)", message.body)[1]
    page.goto(live_server.url + link)
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password", exact=True).fill("a-long-passphrase-1")
    page.get_by_label("Password confirmation").fill("a-long-passphrase-1")
    page.get_by_role("button", name="Create account").click()

    # Post an intent; first with a mistake, which is shown next to the field.
    page.wait_for_url("**/intents/new/")
    page.get_by_label("Title").fill("Paint the hallway")
    page.get_by_label("Description").fill("Walls and ceiling, about 20 m².")
    page.get_by_label("Category").select_option(label="Painting")
    page.get_by_label("Budget from (optional)").fill("900")
    page.get_by_label("Budget up to (optional)").fill("300")
    page.get_by_label("Country").select_option("DE")
    closes = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Take offers until").fill(closes)
    page.get_by_role("button", name="Publish").click()
    assert page.locator("#id_budget_max_error").inner_text() == (
        "The maximum must be at least the minimum."
    )
    assert page.get_by_label("Title").input_value() == "Paint the hallway"
    page.get_by_label("Budget up to (optional)").fill("1200")
    page.get_by_role("button", name="Publish").click()

    intent = Intent.objects.get(title="Paint the hallway")
    page.wait_for_url(f"**/intents/{intent.pk}/")
    assert intent.status == Intent.Status.OPEN

    # It is in "My intents".
    page.get_by_role("link", name="My intents").click()
    assert page.get_by_role("link", name="Paint the hallway").is_visible()

    # A vendor answers over the API.
    offer = api_post(
        live_server.url,
        "/api/v1/offers/",
        vendor_key,
        {"intent": str(intent.pk), "price": "850.00", "currency": "EUR", "message": "Two days."},
    )

    # The buyer opens the intent, sees the offer and accepts it after confirming.
    page.get_by_role("link", name="Paint the hallway").click()
    row = page.locator(f"#offer-{offer['id']}")
    assert "Brush & Roller" in row.inner_text()
    assert "850.00 EUR" in row.inner_text()
    # Shortlisting comes back to the offer's own row, not the top of the page.
    row.get_by_role("button", name=re.compile(r"^Shortlist")).click()
    page.wait_for_url(re.compile(rf"/intents/{intent.pk}/(\?[^#]*)?#offer-{offer['id']}$"))
    assert "shortlisted" in (row.get_attribute("class") or "")
    row.get_by_role("link", name=re.compile(r"^Accept .*offer…$")).click()
    assert "Accept Brush & Roller" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Yes, accept this offer").click()

    assert page.get_by_role("heading", name="You accepted Brush & Roller").is_visible()
    assert vendor.contact_email in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "buyer-accepted.png"), full_page=True)

    assert Offer.objects.get(pk=offer["id"]).status == Offer.Status.ACCEPTED
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.AWARDED


def test_on_a_phone_the_offers_sort_from_links_above_the_cards(page: Any, live_server: Any) -> None:
    buyer = UserFactory(username="ada")
    buyer.set_password("a-long-passphrase-1")
    buyer.save()
    intent = IntentFactory(buyer=buyer)
    for name in ("Zebra Works", "Acme Tiles"):
        OfferFactory(intent=intent, vendor=VendorFactory(name=name))

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("a-long-passphrase-1")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/intents/{intent.pk}/")

    assert not page.locator("table.offers thead").is_visible()  # cards: no header row
    sort_by = page.get_by_role("navigation", name="Sort the offers")
    assert sort_by.is_visible()
    sort_by.get_by_role("link", name="vendor").focus()  # reachable by keyboard
    page.keyboard.press("Enter")
    page.wait_for_url("**?sort=vendor")
    first_card = page.locator("table.offers tbody tr").first
    assert "Acme Tiles" in first_card.inner_text()
