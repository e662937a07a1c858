"""Guards: a stale edit against a moderator's correction, the winner's access to what it
won, amounts in whole-unit currencies, text as text, and the records the admin keeps."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from intents.models import Intent
from intents.services import buyer_block_vendor, intent_moderate_words
from marketplace.errors import DomainError
from marketplace.events import emit
from marketplace.models import Category, User, Vendor, WebhookDelivery, WebhookEndpoint
from marketplace.services import vendor_unblock
from offers.models import Offer
from offers.services import offer_accept
from tests.factories import IntentFactory, OfferFactory, UserFactory, VendorFactory, noticed_intent
from tests.offers.test_api import offer_body
from tests.offers.test_views import intent_form

pytestmark = pytest.mark.django_db


def test_a_stale_edit_form_does_not_undo_a_moderator_s_correction(
    client: Client, buyer: User, open_intent: Intent, category: Category
) -> None:
    client.force_login(buyer)
    page = client.get(f"/intents/{open_intent.pk}/edit/").content.decode()
    opened = re.search(r'name="edit_count" value="(\d+)"', page).group(1)
    intent_moderate_words(intent=open_intent, title="Paint rooms", description="(removed)")

    client.post(
        f"/intents/{open_intent.pk}/edit/",
        intent_form(category, description="Abusive words", edit_count=opened),
    )

    assert Intent.objects.get(pk=open_intent.pk).description == "(removed)"


def test_a_vendor_that_cannot_read_the_intent_is_not_given_it(
    vendor: Vendor,
    buyer: User,
    category: Category,
    vendor_client: Callable[[Vendor], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Unblocked, a paused vendor is not matched again: accepted, it could not read its win."""
    intent = noticed_intent(vendor, buyer=buyer, category=category)
    offer = OfferFactory(intent=intent, vendor=vendor)
    buyer_block_vendor(buyer=buyer, vendor=vendor)
    Vendor.objects.filter(pk=vendor.pk).update(is_paused=True)
    with django_capture_on_commit_callbacks(execute=True):
        vendor_unblock(buyer=buyer, vendor=vendor)

    with pytest.raises(DomainError) as refused:
        offer_accept(offer=offer, buyer=buyer, contact_details="call me")

    assert "no longer matched to this intent" in refused.value.message
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    assert vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").status_code == 404


def test_a_line_item_in_yen_with_a_fraction_is_refused(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    intent = noticed_intent(vendor, category=category, currency="JPY")
    body = offer_body(
        intent,
        price="24000",
        line_items=[{"description": "Sheets", "quantity": "1000", "unit_price": "0.50"}],
    )

    response = api.post("/api/v1/offers/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["line_items"] == [
        "Sheets: JPY has no minor unit: give a whole amount."
    ]
    assert not Offer.objects.exists()


def test_a_list_of_texts_takes_only_texts(api: APIClient, vendor: Vendor) -> None:
    response = api.patch("/api/v1/vendor/", {"keywords": [42], "regions": ["DE"]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"keywords": ["Send text, as a JSON string."]}
    vendor.refresh_from_db()
    assert vendor.keywords != ["42"]


def test_an_offer_s_message_is_kept_to_its_length_by_the_service(
    vendor: Vendor, category: Category
) -> None:
    from offers.services import offer_submit

    intent = noticed_intent(vendor, category=category)

    with pytest.raises(DomainError) as refused:
        offer_submit(
            vendor=vendor, intent=intent, price=1, currency=intent.currency, message="x" * 5001
        )

    assert refused.value.errors["message"] == ["At most 5000 characters."]


def test_what_keeps_records_is_not_offered_for_deletion_in_the_admin(
    admin_client: Client,
) -> None:
    """A vendor, its endpoints and a person: suspended, turned off, erased instead."""
    vendor = VendorFactory()
    emit(vendor_id=vendor.pk, type="intent.matched", payload={"x": 1}, dedupe_key="k")
    endpoint = WebhookEndpoint.objects.create(vendor=vendor, url="https://hooks.example/y")
    WebhookDelivery.objects.create(endpoint=endpoint, event=vendor.events.get())
    person = UserFactory()

    pages = [
        f"/admin/marketplace/vendor/{vendor.pk}/delete/",
        f"/admin/marketplace/webhookendpoint/{endpoint.pk}/delete/",
        f"/admin/marketplace/user/{person.pk}/delete/",
    ]

    assert [admin_client.post(url, {"post": "yes"}).status_code for url in pages] == [403] * 3
    change = admin_client.get(f"/admin/marketplace/user/{person.pk}/change/").content.decode()
    assert "deletelink" not in change


def test_an_operator_erases_an_account_as_its_owner_would(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    person = UserFactory(username="leaving", email="leaving@example.test")

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/marketplace/user/", {"action": "erase", "_selected_action": [person.pk]}
        )

    person.refresh_from_db()
    assert (person.is_active, person.email.endswith("@deleted.invalid")) == (False, True)


def test_an_intent_in_a_currency_no_longer_offered_can_still_be_edited(
    client: Client, buyer: User, category: Category
) -> None:
    intent = IntentFactory(buyer=buyer, category=category, currency="USN")
    client.force_login(buyer)
    page = client.get(f"/intents/{intent.pk}/edit/").content.decode()
    count = re.search(r'name="edit_count" value="(\d+)"', page).group(1)

    client.post(
        f"/intents/{intent.pk}/edit/",
        intent_form(category, currency="USN", edit_count=count, title="A better title"),
    )

    assert Intent.objects.get(pk=intent.pk).title == "A better title"


def test_the_log_out_address_opened_asks_rather_than_answers_405(client: Client) -> None:
    person = UserFactory()
    client.force_login(person)

    asked = client.get("/accounts/logout/")
    still_in = client.get("/intents/").status_code
    client.post("/accounts/logout/")

    assert asked.status_code == 200
    assert f"<h1>Log out {person.username}?</h1>" in asked.content.decode()
    assert still_in == 200
    assert client.get("/intents/").status_code == 302  # logged out by the POST
    assert client.get("/accounts/logout/").status_code == 302  # nobody to log out


@pytest.mark.parametrize(
    "query",
    [
        "/admin/intents/intent/?currency__exact=%00",
        "/admin/marketplace/vendor/?created_at__year=99999",
        "/admin/marketplace/event/?created_at__month=13",
        "/intents/?sort=%00",
    ],
)
def test_a_query_the_database_cannot_take_is_a_400_that_says_why(
    admin_client: Client, query: str
) -> None:
    response = admin_client.get(query)

    assert response.status_code == 400
    page = response.content.decode()
    assert ("A NUL byte cannot be part of a query." in page) or ("is a whole number from" in page)
    assert 'class="site-header"' in page  # the site's own page, with its navigation


def test_a_nul_byte_in_an_api_query_is_a_problem_that_says_why(api: APIClient) -> None:
    response = api.get("/api/v1/intents/?q=%00")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "A NUL byte cannot be part of a query."


def test_a_page_not_found_says_why_on_the_site_s_own_page(client: Client, buyer: User) -> None:
    client.force_login(buyer)

    mine_only = client.get(f"/intents/{IntentFactory().pk}/")
    nowhere = client.get("/no-such-page/")

    assert mine_only.status_code == 404
    assert "No such intent of yours." in mine_only.content.decode()
    assert nowhere.status_code == 404
    assert "There is nothing at this address" in nowhere.content.decode()
    for response in (mine_only, nowhere):
        assert f"Log out {buyer.username}" in response.content.decode()  # the site's header


@pytest.mark.parametrize("debug", [False, True], ids=["production", "make-run"])
@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v2/", "/api/v1/nothing-here"])
def test_an_unknown_api_address_is_a_problem_document(
    client: Client, settings: Any, debug: bool, path: str
) -> None:
    settings.DEBUG = debug  # with DEBUG on, Django shows its own HTML page, not handler404

    response = client.get(path)
    if not path.endswith("/"):  # sent to the address with its slash first, as the API's are
        assert (response.status_code, response["Location"]) == (308, f"{path}/")
        response = client.get(response["Location"])

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "There is nothing at this address."
    posted = Client(enforce_csrf_checks=True).post(f"{path.rstrip('/')}/")  # no CSRF refusal
    assert (posted.status_code, posted["Content-Type"]) == (404, "application/problem+json")


def test_a_page_refused_says_why_on_the_site_s_own_page(client: Client, buyer: User) -> None:
    client.force_login(buyer)

    response = client.get("/vendor/")

    assert response.status_code == 403
    assert "Only a vendor&#x27;s staff can manage a vendor." in response.content.decode()
    assert f"Log out {buyer.username}" in response.content.decode()


def test_a_blocked_vendor_s_offer_on_a_closed_intent_is_not_accepted(
    vendor: Vendor, buyer: User, category: Category
) -> None:
    """A block takes only open intents' notices: a closed one keeps its notice, and the
    buyer's contact must not go to the vendor they blocked."""
    from intents.services import intent_close

    intent = noticed_intent(vendor, buyer=buyer, category=category)
    offer = OfferFactory(intent=intent, vendor=vendor)
    intent_close(intent=intent)
    buyer_block_vendor(buyer=buyer, vendor=vendor)

    with pytest.raises(DomainError) as refused:
        offer_accept(offer=offer, buyer=buyer, contact_details="call me")

    assert "You blocked this vendor" in refused.value.message
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED


def test_an_offer_stored_before_the_whole_yen_rule_can_still_be_revised(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    intent = noticed_intent(vendor, category=category, currency="JPY")
    offer = OfferFactory(
        intent=intent,
        vendor=vendor,
        price=Decimal("24000.50"),
        line_items=[{"description": "Sheets", "quantity": "1.00", "unit_price": "0.50"}],
    )

    moved = api.patch(f"/api/v1/offers/{offer.pk}/", {"message": "Earlier"}, format="json")
    repriced = api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "23999.50"}, format="json")

    assert moved.status_code == 200, moved.json()
    assert repriced.status_code == 400
    assert Offer.objects.get(pk=offer.pk).price == Decimal("24000.50")


def test_an_account_an_operator_deactivated_can_still_be_erased(admin_client: Client) -> None:
    person = UserFactory(username="dormant", email="dormant@example.test", is_active=False)

    admin_client.post(
        "/admin/marketplace/user/", {"action": "erase", "_selected_action": [person.pk]}
    )
    person.refresh_from_db()
    again = admin_client.post(
        "/admin/marketplace/user/",
        {"action": "erase", "_selected_action": [person.pk]},
        follow=True,
    )

    assert person.email.endswith("@deleted.invalid")
    assert "erased already" in again.content.decode()


def test_an_offer_stored_before_the_whole_yen_rule_may_be_sent_back_as_it_is(
    api: APIClient, vendor: Vendor, category: Category
) -> None:
    intent = noticed_intent(vendor, category=category, currency="JPY")
    offer = OfferFactory(intent=intent, vendor=vendor, price=Decimal("24000.50"))

    whole = api.patch(
        f"/api/v1/offers/{offer.pk}/", {"price": "24000.50", "message": "Earlier"}, format="json"
    )

    assert whole.status_code == 200, whole.json()
    assert Offer.objects.get(pk=offer.pk).message == "Earlier"


def test_a_new_intent_form_sent_again_does_not_undo_an_edit_of_its_draft(
    client: Client, buyer: User, category: Category
) -> None:
    client.force_login(buyer)
    page = client.get("/intents/new/").content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', page).group(1)
    client.post("/intents/new/", intent_form(category, form_token=token, save_draft="1"))
    draft = Intent.objects.get(buyer=buyer)
    edit = client.get(f"/intents/{draft.pk}/edit/").content.decode()
    count = re.search(r'name="edit_count" value="(\d+)"', edit).group(1)
    client.post(
        f"/intents/{draft.pk}/edit/",
        intent_form(
            category, description="Edited in another tab.", edit_count=count, save_draft="1"
        ),
    )

    refused = client.post("/intents/new/", intent_form(category, form_token=token))

    draft.refresh_from_db()
    assert "was changed since you opened this form" in refused.content.decode()
    assert (draft.status, draft.description) == (Intent.Status.DRAFT, "Edited in another tab.")


def test_a_crash_on_a_page_is_the_site_s_own_500_without_the_error_s_words(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marketplace.views as views

    def crash(request: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "render", crash)  # the home page's one call
    client.raise_request_exception = False

    page = client.get("/")

    assert page.status_code == 500
    assert "Something went wrong on our side" in page.content.decode()
    assert "a bug" not in page.content.decode()
