"""The buyer's flow through Django's test client."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intents.models import Criterion, Intent
from intents.services import MAX_CRITERIA
from marketplace.accounts import signup_token
from marketplace.errors import with_article
from marketplace.models import Category, User
from offers.models import Offer, OfferRevision, Question
from offers.questions import question_answer
from tests.factories import (
    PASSWORD,
    CategoryFactory,
    IntentFactory,
    OfferFactory,
    UserFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer_client(client: Client, buyer: User) -> Client:
    client.force_login(buyer)
    return client


def intent_form(category: Category, **overrides: Any) -> dict[str, Any]:
    return {
        "title": "Paint two rooms",
        "description": "About 40 m² of wall, white.",
        "category": category.pk,
        "quantity": "1",
        "unit": "job",
        "budget_min": "300",
        "budget_max": "900",
        "currency": "EUR",
        "country": "DE",
        "postal_area": "10115",
        "offers_close_at": (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        "visibility": "public",
        "max_vendors": "25",
        "is_buyer_email_enabled": "on",
        "price_weight": "50",
        "delivery_weight": "25",
        "rating_weight": "25",
        "criteria-TOTAL_FORMS": "0",
        "criteria-INITIAL_FORMS": "0",
    } | overrides


def test_sign_up_log_out_log_in(
    client: Client, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/signup/", {"email": "ada@example.test"})
    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"

    (message,) = mailoutbox
    link = re.search(r"https://intentcast\.test(/signup/finish/\S+/)", message.body)[1]
    response = client.post(
        link,
        {"username": "ada", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/intents/new/"
    assert User.objects.filter(username="ada", email="ada@example.test").exists()
    assert client.get("/intents/").status_code == 200

    client.post("/accounts/logout/")
    assert client.get("/intents/").status_code == 302

    response = client.post(
        "/accounts/login/", {"username": "ada", "password": "a-long-passphrase-1"}
    )
    assert response.status_code == 302
    assert client.get("/intents/").status_code == 200


def test_post_intent_shows_it_in_my_intents(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    response = buyer_client.post("/intents/new/", intent_form(category))

    intent = Intent.objects.get(buyer=buyer)
    assert response.status_code == 302
    assert response["Location"] == f"/intents/{intent.pk}/"
    assert intent.status == Intent.Status.OPEN
    page = buyer_client.get("/intents/").content.decode()
    assert "Paint two rooms" in page
    assert "Open" in page


def test_invalid_intent_shows_errors_next_to_fields_and_keeps_values(
    buyer_client: Client, category: Category
) -> None:
    response = buyer_client.post(
        "/intents/new/",
        intent_form(
            category, budget_min="900", budget_max="100", offers_close_at="2001-01-01T10:00"
        ),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_budget_max_error"' in html
    assert "The maximum must be at least the minimum." in html
    assert 'id="id_offers_close_at_error"' in html
    assert 'value="Paint two rooms"' in html
    assert Intent.objects.count() == 0


def test_a_budget_in_yen_with_a_fraction_is_refused_by_the_field(
    buyer_client: Client, category: Category
) -> None:
    response = buyer_client.post(
        "/intents/new/", intent_form(category, currency="JPY", budget_max="30000.50")
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_budget_max_error"' in html
    assert "JPY has no minor unit: give a whole amount." in html
    assert Intent.objects.count() == 0


def test_an_invited_intent_needs_someone_invited_to_be_published(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    nobody = intent_form(category, visibility="invited", invited="")

    response = buyer_client.post("/intents/new/", nobody)

    assert response.status_code == 200
    assert 'id="id_invited_error"' in response.content.decode()
    assert Intent.objects.count() == 0
    buyer_client.post("/intents/new/", nobody | {"save_draft": "1"})  # a draft may wait
    draft = Intent.objects.get(buyer=buyer)
    buyer_client.post(f"/intents/{draft.pk}/publish/")
    draft.refresh_from_db()
    assert draft.status == Intent.Status.DRAFT


def test_save_and_publish_refused_saves_nothing(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    nobody = intent_form(category, visibility="invited", invited="")
    buyer_client.post("/intents/new/", nobody | {"save_draft": "1"})
    draft = Intent.objects.get(buyer=buyer)

    response = buyer_client.post(
        f"/intents/{draft.pk}/edit/", nobody | {"title": "A new title", "publish": "1"}
    )

    assert response.status_code == 200
    assert 'id="id_invited_error"' in response.content.decode()
    draft.refresh_from_db()
    assert (draft.title, draft.status) == ("Paint two rooms", Intent.Status.DRAFT)


def test_a_fields_errors_share_one_id_and_help_lists_are_kept(
    buyer_client: Client, category: Category
) -> None:
    response = buyer_client.post("/intents/new/", intent_form(category, invited="nope, nada"))
    token = signup_token("new@example.test")
    signup = Client().get(f"/signup/finish/{token}/").content.decode()

    html = response.content.decode()
    assert "No vendor “nope”." in html and "No vendor “nada”." in html
    assert html.count('id="id_invited_error"') == 1
    # The password rules are a list: inside a div, not cut off by a <p>.
    assert '<div class="help" id="id_password1_helptext"><ul>' in signup


def test_every_mistake_is_shown_at_once(buyer_client: Client, category: Category) -> None:
    response = buyer_client.post(
        "/intents/new/", intent_form(category, title="", budget_min="900", budget_max="100")
    )

    html = response.content.decode()
    assert 'id="id_title_error"' in html
    assert 'id="id_budget_max_error"' in html  # the service's rule, not only the form's
    assert "The maximum must be at least the minimum." in html
    assert Intent.objects.count() == 0


def test_save_as_draft_then_publish(buyer_client: Client, buyer: User, category: Category) -> None:
    buyer_client.post("/intents/new/", intent_form(category) | {"save_draft": "1"})
    intent = Intent.objects.get(buyer=buyer)
    assert intent.status == Intent.Status.DRAFT

    buyer_client.post(f"/intents/{intent.pk}/publish/")

    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.OPEN


def test_edit_intent(buyer_client: Client, open_intent: Intent, category: Category) -> None:
    response = buyer_client.post(
        f"/intents/{open_intent.pk}/edit/", intent_form(category, title="Paint three rooms")
    )
    assert response.status_code == 302
    assert Intent.objects.get(pk=open_intent.pk).title == "Paint three rooms"


def test_an_open_intent_s_currency_is_shown_not_offered_to_change(
    buyer_client: Client, open_intent: Intent, category: Category
) -> None:
    page = buyer_client.get(f"/intents/{open_intent.pk}/edit/").content.decode()
    saved = buyer_client.post(
        f"/intents/{open_intent.pk}/edit/", intent_form(category, currency="USD", title="Paint")
    )

    assert re.search(r'<select name="currency"[^>]*disabled', page)
    assert saved.status_code == 302  # the posted currency is ignored, the edit saved
    assert Intent.objects.values_list("currency", "title").get(pk=open_intent.pk) == (
        open_intent.currency,
        "Paint",
    )


def test_an_edit_form_opened_before_another_edit_was_saved_does_not_undo_it(
    buyer_client: Client, open_intent: Intent, category: Category
) -> None:
    def opened() -> str:
        page = buyer_client.get(f"/intents/{open_intent.pk}/edit/").content.decode()
        return re.search(r'name="edit_count" value="(\d+)"', page).group(1)

    tab_a, tab_b = opened(), opened()
    buyer_client.post(
        f"/intents/{open_intent.pk}/edit/",
        intent_form(category, description="Three rooms now.", edit_count=tab_a),
    )
    refused = buyer_client.post(
        f"/intents/{open_intent.pk}/edit/",
        intent_form(category, budget_max="650", edit_count=tab_b),
    )
    kept = Intent.objects.get(pk=open_intent.pk)
    again = re.search(r'name="edit_count" value="(\d+)"', refused.content.decode()).group(1)
    buyer_client.post(
        f"/intents/{open_intent.pk}/edit/",
        intent_form(category, budget_max="650", edit_count=again),  # replaces it, knowingly
    )

    assert refused.status_code == 200
    assert "was changed since you opened this form" in refused.content.decode()
    assert 'value="650"' in refused.content.decode()  # tab B's version, not saved
    assert (kept.description, kept.budget_max) == ("Three rooms now.", Decimal("900.00"))
    assert Intent.objects.get(pk=open_intent.pk).budget_max == Decimal("650.00")


def test_an_edit_keeps_the_deadline_to_the_second_unless_it_was_changed(
    buyer_client: Client, open_intent: Intent, category: Category
) -> None:
    deadline = (timezone.now() + timedelta(days=3)).replace(second=42, microsecond=123456)
    Intent.objects.filter(pk=open_intent.pk).update(offers_close_at=deadline)
    as_shown = deadline.strftime("%Y-%m-%dT%H:%M")

    buyer_client.post(
        f"/intents/{open_intent.pk}/edit/",
        intent_form(category, title="Paint three rooms", offers_close_at=as_shown),
    )
    kept = Intent.objects.get(pk=open_intent.pk).offers_close_at
    later = (deadline + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    buyer_client.post(
        f"/intents/{open_intent.pk}/edit/", intent_form(category, offers_close_at=later)
    )

    assert kept == deadline
    assert Intent.objects.get(pk=open_intent.pk).offers_close_at == (
        deadline + timedelta(hours=1)
    ).replace(second=0, microsecond=0)


def test_amounts_in_yen_are_shown_whole(buyer_client: Client, buyer: User) -> None:
    intent = IntentFactory(
        buyer=buyer, currency="JPY", budget_min=Decimal(20000), budget_max=Decimal(30000)
    )
    Criterion.objects.create(intent=intent, key="price", name="Price", kind="price", weight=5)
    offer = OfferFactory(
        intent=intent,
        price=Decimal(24000),
        currency="JPY",
        line_items=[{"description": "Labour", "quantity": "4", "unit_price": "6000.00"}],
    )

    page = buyer_client.get(f"/intents/{intent.pk}/").content.decode()
    confirm = buyer_client.get(f"/offers/{offer.pk}/accept/").content.decode()

    assert "20000 to 30000 JPY" in page
    assert "24,000 JPY" in page  # the comparison's price column
    assert "6000 JPY" in page and "6000 JPY" in confirm  # the line item
    assert "<dd>24000 JPY</dd>" in confirm
    assert "24000.00" not in page + confirm


def test_accept_needs_confirmation_then_awards(buyer_client: Client, open_intent: Intent) -> None:
    chosen = OfferFactory(intent=open_intent)
    other = OfferFactory(intent=open_intent)

    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert chosen.vendor.name in page and other.vendor.name in page

    confirm = buyer_client.get(f"/offers/{chosen.pk}/accept/")
    assert confirm.status_code == 200
    assert "another offer was accepted" in confirm.content.decode()
    assert Offer.objects.get(pk=chosen.pk).status == Offer.Status.SUBMITTED

    buyer_client.post(f"/offers/{chosen.pk}/accept/")

    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.AWARDED
    assert Offer.objects.get(pk=chosen.pk).status == Offer.Status.ACCEPTED
    assert Offer.objects.get(pk=other.pk).status == Offer.Status.DECLINED
    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert chosen.vendor.contact_email in page


def test_decline_asks_for_confirmation_then_declines_with_reason(
    buyer_client: Client, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent)

    asked = buyer_client.get(f"/offers/{offer.pk}/decline/")
    too_long = buyer_client.post(f"/offers/{offer.pk}/decline/", {"reason": "x" * 301})
    still = Offer.objects.get(pk=offer.pk).status
    done = buyer_client.post(f"/offers/{offer.pk}/decline/", {"reason": "Too late for me"})

    assert asked.status_code == 200 and "This cannot be undone." in asked.content.decode()
    assert (  # "optional" said once, by the field's own mark
        '<label for="id_reason">Reason (the vendor sees it) <span class="optional">(optional)'
        in asked.content.decode()
    )
    assert too_long.status_code == 400
    assert 'id="id_reason_error"' in too_long.content.decode()
    assert "x" * 301 in too_long.content.decode()  # what was typed is kept
    assert still == Offer.Status.SUBMITTED
    assert done.status_code == 302
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason) == (Offer.Status.DECLINED, "Too late for me")


def test_an_offer_decided_already_has_nothing_to_decline(
    buyer_client: Client, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent, status=Offer.Status.WITHDRAWN)

    page = buyer_client.get(f"/offers/{offer.pk}/decline/", follow=True).content.decode()

    assert "This withdrawn offer can no longer be declined." in page


def test_withdraw_intent_after_confirmation(buyer_client: Client, open_intent: Intent) -> None:
    offer = OfferFactory(intent=open_intent)
    assert buyer_client.get(f"/intents/{open_intent.pk}/withdraw/").status_code == 200
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN

    buyer_client.post(f"/intents/{open_intent.pk}/withdraw/")

    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.WITHDRAWN
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.DECLINED


def test_another_buyer_gets_404_everywhere_and_changes_nothing(
    client: Client, open_intent: Intent
) -> None:
    offer = OfferFactory(intent=open_intent)
    client.force_login(UserFactory())

    for url in (
        f"/intents/{open_intent.pk}/",
        f"/intents/{open_intent.pk}/edit/",
        f"/intents/{open_intent.pk}/withdraw/",
        f"/offers/{offer.pk}/accept/",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/offers/{offer.pk}/accept/",
        f"/offers/{offer.pk}/decline/",
        f"/intents/{open_intent.pk}/withdraw/",
        f"/intents/{open_intent.pk}/publish/",
    ):
        assert client.post(url).status_code == 404, url
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.SUBMITTED
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN


def test_anonymous_is_sent_to_log_in(client: Client, open_intent: Intent) -> None:
    response = client.get(f"/intents/{open_intent.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_accept_twice_shows_a_message_not_an_error(
    buyer_client: Client, open_intent: Intent
) -> None:
    first, second = OfferFactory(intent=open_intent), OfferFactory(intent=open_intent)
    buyer_client.post(f"/offers/{first.pk}/accept/")
    response = buyer_client.post(f"/offers/{second.pk}/accept/", follow=True)
    assert response.status_code == 200
    assert "no offer can be accepted" in response.content.decode()
    assert Offer.objects.get(pk=second.pk).status == Offer.Status.DECLINED


@pytest.mark.parametrize("url_name", ["mine", "intent"])
def test_buyer_pages_query_count_is_constant(
    buyer_client: Client, buyer: User, category: Category, url_name: str
) -> None:
    intent = IntentFactory(buyer=buyer, category=category)
    for kind in ("price", "delivery", "rating", "number"):
        Criterion.objects.create(intent=intent, key=kind, name=kind, kind=kind, weight=1)
    url = "/intents/" if url_name == "mine" else f"/intents/{intent.pk}/"

    def add_offer() -> None:
        offer = OfferFactory(intent=intent, criteria_answers={"number": 3})
        OfferRevision.objects.create(offer=offer, changes={"price": ["300.00", "250.00"]})
        Question.objects.create(intent=intent, vendor=offer.vendor, text="?")

    add_offer()
    with CaptureQueriesContext(connection) as one:
        assert buyer_client.get(url).status_code == 200
    for _ in range(49):
        add_offer()
        IntentFactory(buyer=buyer, category=category)
    with CaptureQueriesContext(connection) as fifty:
        assert buyer_client.get(url).status_code == 200
    assert len(one) == len(fifty)
    assert len(fifty) <= 10


def test_home_page_explains_and_links(client: Client) -> None:
    html = client.get("/").content.decode()
    assert "Post an intent" in html or "Sign up" in html
    assert "cdn" not in html.lower()


def test_login_page_works_with_password(client: Client, buyer: User) -> None:
    response = client.post("/accounts/login/", {"username": buyer.username, "password": PASSWORD})
    assert response.status_code == 302


def test_the_intent_page_at_its_busiest_stays_within_ten_queries(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    """Invited vendors, unread news, questions and revisions: all on one page."""
    intent = IntentFactory(
        buyer=buyer,
        category=category,
        visibility=Intent.Visibility.INVITED,
        buyer_activity_at=timezone.now(),  # unread: the page marks it read
    )
    for _ in range(3):
        invited = VendorFactory(categories=[category])
        intent.invited_vendors.add(invited)
        offer = OfferFactory(intent=intent, vendor=invited)
        OfferRevision.objects.create(offer=offer, changes={"price": ["300.00", "250.00"]})
        Question.objects.create(intent=intent, vendor=invited, text="?")

    with CaptureQueriesContext(connection) as queries:
        html = buyer_client.get(f"/intents/{intent.pk}/").content.decode()

    assert "Invited vendors only:" in html
    assert len(queries) <= 10, "\n".join(query["sql"][:120] for query in queries)


@pytest.mark.parametrize("status", [Intent.Status.CLOSED, Intent.Status.AWARDED])
def test_an_intent_that_can_no_longer_change_offers_no_edit_form(
    buyer_client: Client, buyer: User, category: Category, status: str
) -> None:
    intent = IntentFactory(buyer=buyer, category=category, status=status)

    page = buyer_client.get(f"/intents/{intent.pk}/edit/", follow=True)

    assert page.redirect_chain[-1][0] == f"/intents/{intent.pk}/"
    assert f"{with_article(status)} intent cannot be edited." in page.content.decode()


def _criteria_rows(html: str) -> tuple[list[str], list[str]]:
    """The custom-criterion rows' name boxes: shown, and under "More criteria"."""
    shown, _, more = html.partition('<details class="more-criteria"')
    names = r'name="(criteria-\d+-name)"'
    return re.findall(names, shown), re.findall(names, more.partition("</details>")[0])


def _criteria_as_sent(typed: dict[int, dict[str, str]], *, rows: int = 9) -> dict[str, str]:
    """Every row as a browser sends it: the blank ones with their defaults."""
    sent = {"criteria-TOTAL_FORMS": str(rows)}
    for number in range(rows):
        row = {"name": "", "kind": "yes_no", "weight": "10"} | typed.get(number, {})
        sent |= {f"criteria-{number}-{field}": value for field, value in row.items()}
    return sent


def test_a_new_intent_takes_as_many_own_criteria_as_the_rules_allow(client: Client) -> None:
    client.force_login(UserFactory())
    category = CategoryFactory()
    own = MAX_CRITERIA - 3  # price, delivery and rating are the others

    shown, more = _criteria_rows(client.get("/intents/new/").content.decode())
    typed = {number: {"name": f"Criterion {number}", "weight": "5"} for number in range(own)}
    client.post("/intents/new/", intent_form(category, **_criteria_as_sent(typed)))

    # Two blank rows in view, the rest a click away.
    assert (len(shown), len(more)) == (2, own - 2)
    intent = Intent.objects.get()
    assert [c.name for c in intent.criteria.all() if c.is_custom] == [
        f"Criterion {number}" for number in range(own)
    ]


def test_a_refused_form_shows_the_criteria_typed_under_more_criteria(client: Client) -> None:
    client.force_login(UserFactory())
    category = CategoryFactory()
    typed = {4: {"name": "Low-VOC paint", "weight": "150"}}

    html = client.post("/intents/new/", intent_form(category, **_criteria_as_sent(typed)))

    assert '<details class="more-criteria" open>' in html.content.decode()
    assert 'id="id_criteria-4-weight_error"' in html.content.decode()
    assert not Intent.objects.exists()


def test_more_criteria_stays_closed_on_a_form_refused_for_something_else(
    client: Client,
) -> None:
    client.force_login(UserFactory())
    sent = intent_form(CategoryFactory(), title="", **_criteria_as_sent({}))

    html = client.post("/intents/new/", sent).content.decode()

    assert 'id="id_title_error"' in html and not Intent.objects.exists()
    assert '<details class="more-criteria">' in html  # nothing typed there: closed


def test_editing_shows_the_intents_criteria_then_two_blank_rows(client: Client) -> None:
    client.force_login(UserFactory())
    typed = {
        number: {"name": f"Criterion {number}", "kind": "text", "weight": "0"}
        for number in range(3)
    }
    client.post("/intents/new/", intent_form(CategoryFactory(), **_criteria_as_sent(typed)))
    intent = Intent.objects.get()

    html = client.get(f"/intents/{intent.pk}/edit/").content.decode()
    shown, more = _criteria_rows(html)

    assert (len(shown), len(more)) == (3 + 2, 9 - 3 - 2)
    assert 'value="Criterion 2"' in html
    assert '<details class="more-criteria">' in html  # nothing typed there: closed


def test_a_refused_criterion_row_is_announced_at_the_top_of_the_form(client: Client) -> None:
    # given a buyer posting an intent whose one custom criterion has a weight over 100
    buyer = UserFactory()
    client.force_login(buyer)
    category = CategoryFactory()
    form = {
        "title": "Paint two rooms",
        "description": "White.",
        "category": category.pk,
        "quantity": "1",
        "currency": "EUR",
        "country": "DE",
        "offers_close_at": (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        "visibility": "public",
        "max_vendors": "25",
        "price_weight": "50",
        "delivery_weight": "25",
        "rating_weight": "25",
        "criteria-TOTAL_FORMS": "1",
        "criteria-INITIAL_FORMS": "0",
        "criteria-0-name": "Low-VOC paint",
        "criteria-0-kind": "yes_no",
        "criteria-0-weight": "150",
    }

    # when it is posted
    response = client.post("/intents/new/", form)

    # then nothing is saved, the row's field carries its error ...
    html = response.content.decode()
    assert response.status_code == 200
    assert not Intent.objects.exists()
    assert 'id="id_criteria-0-weight_error"' in html
    # ... and, as for any other refused field, the top of the form says so (role="alert"):
    # otherwise the page just reloads, the error some 3,000 px further down on a phone
    assert 'class="form-errors" role="alert"' in html


@pytest.mark.parametrize(
    ("sort", "header", "direction", "caption"),
    [
        ("vendor", "Vendor", "ascending", "sorted by vendor, ascending"),
        ("-score", "Score", "descending", "sorted by score, descending"),
    ],
)
def test_the_comparison_says_which_column_it_is_sorted_by(
    buyer_client: Client, buyer: User, sort: str, header: str, direction: str, caption: str
) -> None:
    intent = IntentFactory(buyer=buyer)
    for name in ("Zebra Works", "Acme Tiles"):
        OfferFactory(intent=intent, vendor=VendorFactory(name=name))

    html = buyer_client.get(f"/intents/{intent.pk}/?sort={sort}").content.decode()

    sorted_headers = re.findall(r'<th scope="col" aria-sort="(\w+)"><a [^>]*>([^<]+)</a>', html)
    assert sorted_headers == [(direction, header)]
    assert caption in html
    assert html.count('aria-current="true"') == 1  # the phone's "Sort by" links too


def test_a_withdrawn_intent_counts_no_questions_to_answer_and_no_live_offers(
    buyer_client: Client, open_intent: Intent
) -> None:
    Question.objects.create(intent=open_intent, vendor=VendorFactory(), text="Still open?")
    OfferFactory(intent=open_intent)
    open_page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    buyer_client.post(f"/intents/{open_intent.pk}/withdraw/")

    page = buyer_client.get(f"/intents/{open_intent.pk}/").content.decode()
    mine = buyer_client.get("/intents/").content.decode()

    assert "(1 to answer)" in open_page
    assert "to answer)" not in page  # it can no longer be answered
    assert '<td data-label="Live offers">0</td>' in mine  # its offer was declined


def test_a_draft_is_deleted_after_confirmation_and_a_published_intent_is_not(
    buyer_client: Client, buyer: User, open_intent: Intent, category: Category
) -> None:
    buyer_client.post("/intents/new/", intent_form(category, save_draft="1"))
    draft = Intent.objects.get(buyer=buyer, status=Intent.Status.DRAFT)

    asked = buyer_client.get(f"/intents/{draft.pk}/delete/")
    still_there = Intent.objects.filter(pk=draft.pk).exists()
    done = buyer_client.post(f"/intents/{draft.pk}/delete/", follow=True)
    refused = buyer_client.post(f"/intents/{open_intent.pk}/delete/", follow=True)
    withdraw = buyer_client.get(f"/intents/{draft.pk}/withdraw/")

    assert asked.status_code == 200 and "This cannot be undone." in asked.content.decode()
    assert still_there
    assert "Draft “Paint two rooms” deleted." in done.content.decode()
    assert not Intent.objects.filter(pk=draft.pk).exists()
    assert "Only a draft can be deleted" in refused.content.decode()
    assert Intent.objects.get(pk=open_intent.pk).status == Intent.Status.OPEN
    assert withdraw.status_code == 404  # deleted: nothing left to withdraw


def test_another_person_cannot_delete_a_buyer_s_draft(client: Client, buyer: User) -> None:
    draft = IntentFactory(buyer=buyer, status=Intent.Status.DRAFT)
    client.force_login(UserFactory())

    assert client.post(f"/intents/{draft.pk}/delete/").status_code == 404
    assert Intent.objects.filter(pk=draft.pk).exists()


def test_a_new_intent_form_sent_again_leads_to_the_intent_it_made(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    """Back, then Publish again: no second intent, told to the same vendors again."""
    page = buyer_client.get("/intents/new/").content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', page).group(1)
    refused = buyer_client.post(
        "/intents/new/", intent_form(category, form_token=token, budget_min="900", budget_max="1")
    )

    first = buyer_client.post("/intents/new/", intent_form(category, form_token=token))
    again = buyer_client.post("/intents/new/", intent_form(category, form_token=token), follow=True)
    other = buyer_client.post("/intents/new/", intent_form(category, form_token=str(uuid.uuid4())))

    made = Intent.objects.filter(buyer=buyer).order_by("created_at")
    assert refused.status_code == 200  # refused: the mended form still goes, once
    assert first.status_code == 302 and other.status_code == 302
    assert made.count() == 2
    assert again.redirect_chain[-1][0] == f"/intents/{made[0].pk}/"
    assert "This form was sent already" in again.content.decode()


def test_a_form_that_saved_a_draft_publishes_that_draft_when_sent_again(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    """Save draft, Back, mend the title, Publish: the draft is saved again and published,
    not left behind (nor a second intent made)."""
    page = buyer_client.get("/intents/new/").content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', page).group(1)
    buyer_client.post("/intents/new/", intent_form(category, form_token=token, save_draft="1"))

    buyer_client.post(
        "/intents/new/", intent_form(category, form_token=token, title="Paint three rooms")
    )

    [intent] = Intent.objects.filter(buyer=buyer)
    assert (intent.status, intent.title) == (Intent.Status.OPEN, "Paint three rooms")


def test_a_form_whose_draft_was_deleted_makes_a_new_intent_when_sent_again(
    buyer_client: Client, buyer: User, category: Category
) -> None:
    page = buyer_client.get("/intents/new/").content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', page).group(1)
    buyer_client.post("/intents/new/", intent_form(category, form_token=token, save_draft="1"))
    buyer_client.post(f"/intents/{Intent.objects.get(buyer=buyer).pk}/delete/")

    sent = buyer_client.post("/intents/new/", intent_form(category, form_token=token))

    [intent] = Intent.objects.filter(buyer=buyer)
    assert sent["Location"] == f"/intents/{intent.pk}/"
    assert intent.status == Intent.Status.OPEN


def test_the_deadline_field_says_what_time_it_is_in_utc(buyer_client: Client) -> None:
    page = buyer_client.get("/intents/new/").content.decode()

    now = timezone.now()
    shown = re.search(r"In your time \(UTC\): it is now (\d{4}-\d\d-\d\d \d\d:\d\d)", page)
    assert shown is not None
    assert (
        abs(
            (
                now.replace(tzinfo=None) - datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M")
            ).total_seconds()
        )
        < 120
    )


def test_an_answer_the_textarea_allows_is_saved_whatever_its_line_breaks(client: Client) -> None:
    buyer = UserFactory()
    question = Question.objects.create(
        intent=IntentFactory(buyer=buyer), vendor=VendorFactory(), text="Allergies?"
    )
    answer = "\r\n".join(["a" * 99] * 50)  # as a browser sends it: 4,999 characters to it
    client.force_login(buyer)

    client.post(f"/questions/{question.pk}/answer/", {"answer": answer})

    question.refresh_from_db()
    assert question.answer == answer.replace("\r\n", "\n")


def test_a_refused_answer_is_shown_again_in_its_box_with_why(client: Client) -> None:
    buyer = UserFactory()
    question = Question.objects.create(
        intent=IntentFactory(buyer=buyer), vendor=VendorFactory(), text="Allergies?"
    )
    client.force_login(buyer)

    refused = client.post(
        f"/questions/{question.pk}/answer/", {"answer": "Nuts for two guests; " + "x" * 5000}
    )

    page = refused.content.decode()
    box = re.search(rf'<textarea id="answer-{question.pk}"[^>]*>([^<]*)</textarea>', page)
    assert refused.status_code == 400
    assert box and box.group(1).startswith("Nuts for two guests; ")
    assert f'aria-describedby="answer-{question.pk}-error"' in box.group(0)
    assert "at most 5,000 characters" in page
    question.refresh_from_db()
    assert question.answered_at is None


def test_contact_details_the_accept_textarea_allows_are_accepted_whatever_their_line_breaks(
    client: Client,
) -> None:
    buyer = UserFactory()
    offer = OfferFactory(intent=IntentFactory(buyer=buyer))
    # 2,000 characters to the browser (maxlength="2000"): it sends the break as CR LF.
    contact = "a" * 1000 + "\r\n" + "b" * 999
    client.force_login(buyer)

    response = client.post(f"/offers/{offer.pk}/accept/", {"contact_details": contact})

    offer.refresh_from_db()
    assert response.status_code == 302  # today: 400, "At most 2000 characters of text."
    assert offer.status == Offer.Status.ACCEPTED
    assert offer.intent.contact_details == contact.replace(
        "\r\n", "\n"
    )  # as the intent form keeps it


@pytest.mark.parametrize("moved_on", ["answered in another tab", "intent withdrawn"])
def test_an_answer_refused_for_a_question_no_longer_open_says_why(
    client: Client, moved_on: str
) -> None:
    buyer = UserFactory()
    intent = IntentFactory(buyer=buyer)
    question = Question.objects.create(intent=intent, vendor=VendorFactory(), text="Allergies?")
    client.force_login(buyer)
    client.get(f"/intents/{intent.pk}/")  # the page with the answer box, read first
    if moved_on == "answered in another tab":
        question_answer(buyer=buyer, question=question, answer="None.")
        reason = "This question is already answered."
    else:
        Intent.objects.filter(pk=intent.pk).update(
            status=Intent.Status.WITHDRAWN, withdrawn_at=timezone.now()
        )
        reason = "questions are closed"

    refused = client.post(f"/questions/{question.pk}/answer/", {"answer": "Nuts."}, follow=True)

    # Before today a message said why; now the page comes back with no box to carry it.
    assert reason in refused.content.decode()


def test_a_deadline_is_typed_and_shown_in_the_person_s_own_time_zone(client: Client) -> None:
    """The browser names the zone (static/js/time-zone.js sets the cookie)."""
    buyer = UserFactory()
    client.force_login(buyer)
    client.cookies["tz"] = "Europe/Berlin"
    deadline = (timezone.now() + timedelta(days=30)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    typed = deadline.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")

    client.post("/intents/new/", intent_form(CategoryFactory(), offers_close_at=typed))
    intent = Intent.objects.get()
    page = client.get("/intents/").content.decode()

    assert intent.offers_close_at == deadline  # read as Berlin time, stored as it is
    shown = deadline.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{shown:%-d %b %Y, %H:%M} {shown:%Z}" in page


@pytest.mark.parametrize("cookie", ["Mars/Olympus_Mons", "../../etc/passwd", ""])
def test_a_time_zone_the_server_does_not_know_leaves_times_in_utc(
    client: Client, cookie: str
) -> None:
    buyer = UserFactory()
    IntentFactory(buyer=buyer, offers_close_at=datetime(2027, 1, 15, 12, 0, tzinfo=UTC))
    client.force_login(buyer)
    client.cookies["tz"] = cookie

    assert "15 Jan 2027, 12:00 UTC" in client.get("/intents/").content.decode()


def test_the_api_keeps_utc_whatever_zone_the_cookie_names(api: Any, open_intent: Any) -> None:
    api.cookies["tz"] = "Asia/Tokyo"

    body = api.get(f"/api/v1/intents/{open_intent.pk}/").json()

    assert body["offers_close_at"].endswith(("Z", "+00:00"))
