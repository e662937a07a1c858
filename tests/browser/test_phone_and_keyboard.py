"""The buyer's and poster's pages at phone size, by keyboard and by screen reader."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from intents.models import Intent
from intents.services import intent_update
from marketplace.models import Event, WebhookDelivery, WebhookEndpoint
from offers.models import Question
from tests.factories import (
    IntentFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
    proposal,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
PASSWORD = "a-long-passphrase-1"


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def person(username: str, **fields: object) -> Any:
    return UserFactory(username=username, password=PASSWORD, **fields)


def overflow(page: Any, selector: str = "html") -> tuple[int, int]:
    return page.evaluate(
        "(s) => { const e = document.querySelector(s); return [e.scrollWidth, e.clientWidth]; }",
        selector,
    )


def test_webhook_pages_need_no_sideways_scrolling_on_a_phone(page: Any, live_server: Any) -> None:
    # given a vendor with an ordinary endpoint and one delivery in its log
    vendor = VendorFactory(name="Pixel Foundry")
    person("pixel-staff", vendor=vendor)
    endpoint = WebhookEndpoint.objects.create(
        vendor=vendor, url="https://hooks.pixel-foundry.example/intentcast/events", secret="s"
    )
    event = Event.objects.create(vendor=vendor, type="webhook.test", payload={}, dedupe_key="t1")
    WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, message_id=f"msg_{uuid.uuid4().hex}", attempts=1
    )
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "pixel-staff")

    # when the endpoint list and the delivery log are opened at 375 px
    page.goto(live_server.url + "/vendor/webhooks/")
    listing = overflow(page)
    page.goto(f"{live_server.url}/vendor/webhooks/{endpoint.pk}/")
    detail = overflow(page)

    # then neither page is wider than the screen
    assert (listing[0] <= listing[1], detail[0] <= detail[1]) == (True, True), (
        f"/vendor/webhooks/ is {listing[0]}px and its delivery log {detail[0]}px wide at 375px"
    )


def test_offer_cards_fit_a_phone(page: Any, live_server: Any) -> None:
    # given an intent with one live offer (so its actions are shown)
    buyer = person("ada")
    intent = IntentFactory(buyer=buyer)
    OfferFactory(intent=intent, vendor=VendorFactory(name="Acme Tiles"))
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "ada")

    # when the buyer opens the intent on a phone
    page.goto(f"{live_server.url}/intents/{intent.pk}/")

    # then the offer card is not wider than its box (no sideways scrolling to reach its
    # actions' right edge)
    scroll_width, client_width = overflow(page, ".comparison")
    assert scroll_width <= client_width, (
        f"the offer cards are {scroll_width}px wide in a {client_width}px box"
    )


def _contrast(first: list[float], second: list[float]) -> float:
    def luminance(rgb: list[float]) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(first), luminance(second)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_keyboard_focus_ring_is_visible_against_the_page(page: Any, live_server: Any) -> None:
    # given the home page, reached by keyboard
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # "Intentcast", in the white header

    # when the focused link's outline is compared with what it is drawn on
    outline, background = page.evaluate(
        """() => {
          const rgb = (s) => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
          const focused = document.activeElement;
          let e = focused.parentElement, bg = 'rgba(0, 0, 0, 0)';
          while (e && getComputedStyle(e).backgroundColor === 'rgba(0, 0, 0, 0)') e = e.parentElement;
          if (e) bg = getComputedStyle(e).backgroundColor;
          return [rgb(getComputedStyle(focused).outlineColor), rgb(bg)];
        }"""
    )

    # then the indicator has at least 3:1 contrast (WCAG 1.4.11)
    ratio = _contrast(outline, background)
    assert ratio >= 3, f"focus outline {outline} on {background} has contrast {ratio:.2f}:1"


def test_each_offer_s_actions_say_which_vendor_they_act_on(page: Any, live_server: Any) -> None:
    # given two offers on one intent
    buyer = person("grace")
    intent = IntentFactory(buyer=buyer)
    for name in ("Zebra Works", "Acme Tiles"):
        OfferFactory(intent=intent, vendor=VendorFactory(name=name))
    log_in(page, live_server, "grace")

    # when the buyer's screen reader lists the page's controls
    page.goto(f"{live_server.url}/intents/{intent.pk}/")

    # then each accept, shortlist, reveal, decline and block control names its vendor
    # (as the ↑/↓ buttons already do: "Move Acme Tiles up")
    for role, action in (
        ("link", "Accept"),
        ("button", "Shortlist"),
        ("link", "Reveal"),
        ("link", "Decline"),
        ("link", "Block"),
    ):
        named = page.get_by_role(
            role, name=re.compile(rf"{action}.*Acme Tiles|Acme Tiles.*{action}")
        )
        assert named.count() == 1, f"no {role} named for Acme Tiles' {action.lower()}"


def test_withdrawing_an_rfp_asks_for_confirmation(page: Any, live_server: Any) -> None:
    # given an organization's open RFP with a colleague's proposal
    organization = OrganizationFactory(name="Demo Co")
    poster = org_member(organization, username="poster")
    poster.set_password(PASSWORD)
    poster.save()
    colleague = org_member(organization, username="colleague")
    rfp = internal_intent(organization, poster)
    proposal(rfp, colleague)
    log_in(page, live_server, "poster")
    page.goto(f"{live_server.url}/orgs/{organization.slug}/rfps/{rfp.pk}/")

    # when the poster presses "Withdraw this RFP…"
    page.get_by_role("link", name=re.compile("Withdraw this RFP")).click()
    page.wait_for_load_state()

    # then, as for a public intent, nothing irreversible happened yet: a confirmation asks
    rfp.refresh_from_db()
    assert rfp.status == Intent.Status.OPEN, "one click withdrew the RFP and declined its proposal"
    page.get_by_role("button", name="Yes, withdraw it").click()
    page.wait_for_load_state()
    rfp.refresh_from_db()
    assert rfp.status == Intent.Status.WITHDRAWN


def judged_on_six_criteria(buyer: Any) -> Intent:
    """An intent of ``buyer``'s whose comparison table is wider than a laptop's page."""
    intent = IntentFactory(buyer=buyer)
    intent_update(
        intent=intent,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 40},
            {"name": "Delivery", "kind": "delivery", "weight": 20},
            {"name": "Vendor rating", "kind": "rating", "weight": 10},
            {"name": "Insured against water damage", "kind": "yes_no", "weight": 10},
            {"name": "Years of warranty on the work", "kind": "number", "weight": 10},
            {"name": "Method and materials", "kind": "text", "weight": 10},
        ],
    )
    return intent


def test_the_intent_page_needs_no_sideways_scrolling_on_a_tablet(
    page: Any, live_server: Any
) -> None:
    # given an intent with offers (their hidden "for declining …" texts in the table)
    intent = judged_on_six_criteria(person("hedy"))
    for name in ("Zebra Works", "Acme Tiles With A Rather Long Company Name"):
        OfferFactory(intent=intent, vendor=VendorFactory(name=name))
    page.set_viewport_size({"width": 768, "height": 1024})
    log_in(page, live_server, "hedy")

    # when the buyer opens it at 768 px, where the offers are a table in a scroll box
    page.goto(f"{live_server.url}/intents/{intent.pk}/")

    # then the page itself is no wider than the screen (only the table's box scrolls)
    scroll_width, client_width = overflow(page)
    assert scroll_width <= client_width, f"the page is {scroll_width}px wide at {client_width}px"


def test_a_failed_submit_takes_the_focus_to_what_to_mend(page: Any, live_server: Any) -> None:
    # given a buyer on the new-intent form
    person("lin")
    log_in(page, live_server, "lin")
    page.goto(live_server.url + "/intents/new/")

    # when they submit it without a title
    page.get_by_role("button", name=re.compile("Save")).first.click()
    page.wait_for_load_state()

    # then the focus is on the summary, which links to the field to mend (the browser
    # applies autofocus once it renders, which may come just after the load event)
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "() => document.activeElement.className.includes('form-errors')", timeout=5_000
        )
    focused = page.evaluate("() => document.activeElement.className")
    assert "form-errors" in focused, focused
    link = page.locator(".form-errors a[href='#id_title']")
    assert link.count() == 1
    link.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "id_title"


def test_each_proposal_s_controls_say_whose_proposal_they_act_on(
    page: Any, live_server: Any
) -> None:
    # given a closed RFP with two colleagues' proposals
    organization = OrganizationFactory(name="Demo Co")
    poster = org_member(organization, username="poster")
    poster.set_password(PASSWORD)
    poster.save()
    rfp = internal_intent(organization, poster)
    for username in ("ada", "grace"):
        proposal(rfp, org_member(organization, username=username))
    log_in(page, live_server, "poster")

    # when the poster's screen reader lists the page's controls
    page.goto(f"{live_server.url}/orgs/{organization.slug}/rfps/{rfp.pk}/")

    # then each share, reason and decline names its proposer, and the share says its rule
    for role, action in (("textbox", "Share"), ("textbox", "Reason"), ("button", "Decline")):
        named = page.get_by_role(role, name=re.compile(rf"{action}.*grace"))
        assert named.count() == 1, f"no {role} named for grace's {action.lower()}"
    share = page.get_by_role("textbox", name=re.compile("Share.*grace"))
    assert "add up to 100" in share.evaluate(
        "(e) => document.getElementById(e.getAttribute('aria-describedby')).textContent"
    )


def test_each_criterion_row_is_a_group_of_its_own(page: Any, live_server: Any) -> None:
    # given a buyer on the new-intent form
    person("mary")
    log_in(page, live_server, "mary")

    # when their screen reader lists the criteria editor's groups
    page.goto(live_server.url + "/intents/new/")

    # then the weights and each row of their own criteria are named groups
    assert page.get_by_role("group", name=re.compile("Weights")).count() == 1
    second = page.get_by_role("group", name="Your own criterion 2")
    assert second.get_by_label("Weight").count() == 1


def test_an_offer_s_actions_stay_in_view_when_the_table_is_wider_than_its_box(
    page: Any, live_server: Any
) -> None:
    # given an intent judged on six criteria, with an offer
    intent = judged_on_six_criteria(person("joan"))
    OfferFactory(intent=intent, vendor=VendorFactory(name="Acme Tiles"))
    page.set_viewport_size({"width": 1024, "height": 768})
    log_in(page, live_server, "joan")

    # when the buyer opens it on a laptop, the table scrolled to its start
    page.goto(f"{live_server.url}/intents/{intent.pk}/")
    box = page.locator(".comparison").bounding_box()
    accept = page.get_by_role("link", name=re.compile("Accept Acme Tiles")).bounding_box()

    # then the offer's Accept… is inside the visible part of the table's box
    scroll_width, client_width = overflow(page, ".comparison")
    assert scroll_width > client_width, "the table fits: this test shows nothing"
    assert box["x"] <= accept["x"] and accept["x"] + accept["width"] <= box["x"] + box["width"]


def test_an_offer_s_score_and_status_are_not_under_its_actions(page: Any, live_server: Any) -> None:
    # given an intent judged on six criteria, with an offer
    intent = judged_on_six_criteria(person("kay"))
    OfferFactory(intent=intent, vendor=VendorFactory(name="Acme Tiles"))
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "kay")

    # when the buyer opens it on a desktop, the table scrolled to its start
    page.goto(f"{live_server.url}/intents/{intent.pk}/")
    actions = page.locator("tbody td.offer-actions").bounding_box()

    # then the score and the status are in view, left of the sticky actions
    box = page.locator(".comparison").bounding_box()
    for label in ("Score", "Status"):
        cell = page.locator(f'tbody td[data-label="{label}"]').bounding_box()
        assert cell["x"] + cell["width"] <= actions["x"], f"{label} is under the actions"
        assert cell["x"] >= box["x"], f"{label} is scrolled out of view"


LONG_URL = "https://tiles.example/catalogue?ref=" + "tilesandgrout" * 7


def test_a_long_url_others_wrote_pushes_no_page_sideways(page: Any, live_server: Any) -> None:
    # given a vendor's offer and question, and a colleague's proposal, each with a long URL
    buyer = person("ada")
    intent = IntentFactory(buyer=buyer)
    vendor = VendorFactory(name="Acme Tiles")
    offer = OfferFactory(intent=intent, vendor=vendor, message=f"Photos: {LONG_URL}")
    OfferFactory(intent=intent, vendor=VendorFactory(name="Zebra Works"), message="Fine.")
    Question.objects.create(intent=intent, vendor=vendor, text=f"Is this your floor? {LONG_URL}")
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization, username="bea", password=PASSWORD)
    rfp = internal_intent(organization, poster)
    proposal(rfp, org_member(organization), message=f"See my notes: {LONG_URL}")
    log_in(page, live_server, "ada")

    # when the buyer compares on a desktop, and reads the pages on a phone
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/intents/{intent.pk}/")
    comparison = overflow(page, ".comparison")
    page.set_viewport_size(PHONE)
    widths = {}
    for path in (f"/intents/{intent.pk}/", f"/offers/{offer.pk}/accept/"):
        page.goto(live_server.url + path)
        widths[path] = overflow(page)
    page.context.clear_cookies()
    log_in(page, live_server, "bea")
    page.goto(f"{live_server.url}/orgs/{organization.slug}/rfps/{rfp.pk}/")
    widths["rfp"] = overflow(page)

    # then every price stays in the comparison's box, and no page scrolls sideways
    assert comparison[0] <= comparison[1], f"the comparison is {comparison}"
    assert all(scroll <= client for scroll, client in widths.values()), widths
