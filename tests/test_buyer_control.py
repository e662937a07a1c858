"""The buyer stays in control (DESIGN §1): pseudonyms, terms, reveal, block, export, deletion."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core import mail
from django.db import connection, models
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from intents.models import IdentityReveal, Intent, Notice, Term
from intents.notices import intent_match, vendor_catch_up
from intents.payloads import intent_for_vendor
from intents.services import (
    buyer_block_vendor,
    intent_create,
    intent_set_hidden,
    intent_update,
    intent_withdraw,
)
from marketplace.errors import DomainError
from marketplace.events import events_dispatch
from marketplace.models import (
    AuditEntry,
    Category,
    Event,
    IdempotencyKey,
    User,
    Vendor,
    VendorBlock,
    WebhookDelivery,
)
from marketplace.privacy import account_delete, export_user_data
from marketplace.services import vendor_block
from marketplace.webhooks import NO_LONGER_APPLIES, webhook_deliver, webhook_endpoint_create
from offers import privacy as offers_privacy
from offers.buyer_mail import buyers_notify_due, intents_with_news_for_buyer
from offers.models import Offer, Question, Rating, TermsAgreement
from offers.privacy import intent_redact_for_vendors
from offers.questions import question_answer, question_ask, question_moderate
from offers.services import offer_accept, offer_decline, offer_submit
from offers.tasks import enforce_deletion_terms
from tests.conftest import require_postgresql
from tests.factories import (
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    UserFactory,
    VendorFactory,
    noticed_intent,
)
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db

DISTINCT = {
    "username": "zelda_quixotic_buyer",
    "email": "zelda.quixotic@privacy-test.invalid",
    "first_name": "Zeldaquix",
    "last_name": "Vandermeerquist",
}
BUYER_PK = 987_654_321


def terms_of(*codes: str, days: int = 30) -> list[dict[str, Any]]:
    return [
        {"code": code, **({"days": days} if code == "delete-after-award" else {})} for code in codes
    ]


def publish(buyer: User, category: Category, **extra: Any) -> Intent:
    fields = {
        "title": "Quixotic bathroom makeover",
        "description": "Tiles, shower, the works.",
        "category": category,
        "currency": "EUR",
        "country": "DE",
        "budget_max": Decimal("5000"),
        "offers_close_at": timezone.now() + timedelta(days=5),
    } | extra
    return intent_create(buyer=buyer, **fields)


@pytest.fixture
def distinct_buyer(db: None) -> User:
    return User.objects.create_user(pk=BUYER_PK, password="x-long-passphrase", **DISTINCT)


def assert_anonymous(text: str, where: str) -> None:
    for secret in (*DISTINCT.values(), str(BUYER_PK)):
        assert secret not in text, f"{secret!r} leaked in {where}"


def test_no_vendor_facing_payload_names_the_buyer_before_they_choose(
    distinct_buyer: User, category: Category, vendor_client: Callable[[Vendor], APIClient]
) -> None:
    vendors = [VendorFactory(categories=[category]) for _ in range(2)]
    payloads: list[tuple[str, str]] = []
    with webhook_receiver() as receiver:
        for vendor in vendors:
            webhook_endpoint_create(vendor=vendor, url=receiver.url)
        intent = publish(distinct_buyer, category, terms=terms_of("no-marketing"))
        intent_match(intent_id=intent.pk)
        intent_update(intent=intent, description="Tiles, shower, the works. Also a mirror.")
        winner, loser = vendors
        apis = {vendor.pk: vendor_client(vendor) for vendor in vendors}
        for vendor in vendors:
            response = apis[vendor.pk].post(
                "/api/v1/offers/",
                {
                    "intent": str(intent.pk),
                    "price": "4000.00",
                    "currency": "EUR",
                    "accept_terms": True,
                },
                format="json",
            )
            assert response.status_code == 201, response.json()
        asked = apis[loser.pk].post(
            f"/api/v1/intents/{intent.pk}/questions/", {"text": "Floor heating?"}, format="json"
        )
        question_answer(
            buyer=distinct_buyer, question=Question.objects.get(pk=asked.json()["id"]), answer="No."
        )
        offer_accept(offer=Offer.objects.get(vendor=winner), buyer=distinct_buyer)
        for _ in range(3):
            events_dispatch()
        from marketplace.tasks import retry_due_webhooks

        retry_due_webhooks()
        for vendor in vendors:
            api = apis[vendor.pk]
            for path in (
                "/api/v1/intents/?status=awarded",
                f"/api/v1/intents/{intent.pk}/",
                f"/api/v1/intents/{intent.pk}/questions/",
                "/api/v1/notices/",
                "/api/v1/events/",
                "/api/v1/offers/",
                "/api/v1/webhooks/",
            ):
                response = api.get(path)
                assert response.status_code == 200, path
                payloads.append((f"GET {path}", response.content.decode()))
        payloads += [("webhook", item.body.decode()) for item in receiver.received]
    payloads += [("e-mail", m.subject + m.body) for m in mail.outbox if m.to != [DISTINCT["email"]]]

    event_types = {json.loads(body)["type"] for kind, body in payloads if kind == "webhook"}
    assert {
        "intent.matched",
        "intent.updated",
        "question.answered",
        "offer.accepted",
        "offer.declined",
    } <= event_types
    assert len(payloads) > 20
    for where, text in payloads:
        assert_anonymous(text, where)


def test_reveal_shows_identity_to_that_vendor_only_and_is_logged(
    api: APIClient,
    vendor: Vendor,
    open_intent: Intent,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    other = VendorFactory()
    NoticeFactory(intent=open_intent, vendor=other)
    offer = OfferFactory(intent=open_intent, vendor=vendor)
    client = Client()
    client.force_login(open_intent.buyer)
    assert api.get(f"/api/v1/intents/{open_intent.pk}/").json()["buyer_identity"] is None

    asked = client.get(f"/offers/{offer.pk}/reveal/?sort=-score").content.decode()

    # Asked first: what the vendor will see, and that it is for good; nothing shown yet.
    assert open_intent.buyer.email in asked and "cannot be taken back" in asked
    assert 'name="sort" value="-score"' in asked
    assert api.get(f"/api/v1/intents/{open_intent.pk}/").json()["buyer_identity"] is None
    assert not AuditEntry.objects.filter(user=open_intent.buyer).exists()

    client.post(f"/offers/{offer.pk}/reveal/")

    assert api.get(f"/api/v1/intents/{open_intent.pk}/").json()["buyer_identity"] == {
        "name": open_intent.buyer.username,
        "email": open_intent.buyer.email,
    }
    assert (
        vendor_client(other).get(f"/api/v1/intents/{open_intent.pk}/").json()["buyer_identity"]
        is None
    )
    entry = AuditEntry.objects.get(user=open_intent.buyer)
    assert entry.action == AuditEntry.Action.IDENTITY_REVEALED and vendor.name in entry.detail
    assert vendor.name in client.get("/me/").content.decode()


# --- terms -----------------------------------------------------------------------


def test_roster_is_data_and_versioned() -> None:
    assert set(Term.objects.filter(is_current=True).values_list("code", "version")) == {
        ("no-marketing", 1),
        ("no-sharing", 1),
        ("delete-after-award", 1),
        ("contact-through-intentcast", 1),
    }


def test_offer_must_accept_the_buyers_terms(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    intent_update(intent=open_intent, terms=terms_of("no-marketing", "delete-after-award", days=14))
    body = {"intent": str(open_intent.pk), "price": "10.00", "currency": "EUR"}

    for refusal in (body, body | {"accept_terms": False}):
        response = api.post("/api/v1/offers/", refusal, format="json")
        assert response.status_code == 400
        assert "accept_terms" in response.json()["errors"]
    assert not Offer.objects.exists() and not TermsAgreement.objects.exists()

    response = api.post("/api/v1/offers/", body | {"accept_terms": True}, format="json")
    assert response.status_code == 201
    agreement = TermsAgreement.objects.get()
    assert (agreement.vendor, agreement.intent) == (vendor, open_intent)
    assert [(t["code"], t["version"], t["days"]) for t in agreement.terms] == [
        ("delete-after-award", 1, 14),
        ("no-marketing", 1, None),
    ]
    assert "14 days after the award" in agreement.terms[0]["text"]
    assert response.json()["terms_agreement"]["terms"] == agreement.terms
    # The vendor saw the terms in the intent; the buyer sees the agreement.
    assert [t["code"] for t in api.get(f"/api/v1/intents/{open_intent.pk}/").json()["terms"]] == [
        "delete-after-award",
        "no-marketing",
    ]
    client = Client()
    client.force_login(open_intent.buyer)
    assert "Agreed to your terms" in client.get(f"/intents/{open_intent.pk}/").content.decode()
    assert AuditEntry.objects.filter(
        user=open_intent.buyer, action=AuditEntry.Action.TERMS_AGREED
    ).exists()


def test_the_intent_page_previews_exactly_what_vendors_see(
    distinct_buyer: User, category: Category
) -> None:
    intent = publish(
        distinct_buyer, category, is_budget_hidden=True, budget_min=Decimal("1234"),
        contact_details="Ring Zeldaquix", terms=terms_of("no-sharing"),
        criteria=[
            {"name": "Price", "kind": "price", "weight": 60},
            {"name": "Insured", "kind": "yes_no", "weight": 40, "is_required": True},
        ],
    )  # fmt: skip
    client = Client()
    client.force_login(distinct_buyer)

    page = client.get(f"/intents/{intent.pk}/").content.decode()

    preview = page[
        page.index('id="vendor-preview"') : page.index(
            "</details>", page.index('id="vendor-preview"')
        )
    ]
    assert intent.pseudonym in preview and "Quixotic bathroom makeover" in preview
    assert "not shown" in preview
    assert "Insured (yes_no, weight 40, answer required)" in preview
    assert "no-sharing v1" in preview
    for private in ("1234", "5000", "Ring Zeldaquix", *DISTINCT.values()):
        assert private not in preview, private


def test_terms_cannot_change_once_offers_have_arrived(
    buyer: User, category: Category, vendor: Vendor
) -> None:
    intent = publish(buyer, category, terms=terms_of("no-sharing"))
    offer = OfferFactory(intent=intent, vendor=vendor)

    with pytest.raises(DomainError) as refused:
        intent_update(intent=intent, terms=terms_of("no-sharing", "no-marketing"))
    intent_update(intent=intent, terms=terms_of("no-sharing"), title="Same terms, new title")

    assert "terms" in refused.value.errors
    assert [t["code"] for t in Intent.objects.get(pk=intent.pk).terms_for_vendors] == ["no-sharing"]
    Offer.objects.filter(pk=offer.pk).update(
        status=Offer.Status.WITHDRAWN, decided_at=timezone.now()
    )
    intent_update(intent=intent, terms=terms_of("no-sharing", "no-marketing"))
    assert len(Intent.objects.get(pk=intent.pk).terms_for_vendors) == 2


def test_a_term_reworded_since_neither_blocks_an_edit_nor_changes_what_vendors_agreed_to(
    buyer: User, category: Category, vendor: Vendor
) -> None:
    intent = publish(buyer, category, terms=terms_of("no-sharing"))
    OfferFactory(intent=intent, vendor=vendor)
    first = Term.objects.get(code="no-sharing", is_current=True)
    Term.objects.filter(pk=first.pk).update(is_current=False)
    Term.objects.create(
        code="no-sharing", version=first.version + 1, title=first.title, text="Reworded."
    )

    # The edit form sends the codes the buyer chose, as it always does.
    intent_update(intent=intent, terms=terms_of("no-sharing"), title="A new title")

    intent.refresh_from_db()
    assert intent.title == "A new title"
    assert [(t["code"], t["version"]) for t in intent.terms_for_vendors] == [
        ("no-sharing", first.version)
    ]


def test_sealed_offers_cannot_be_unsealed_once_they_arrived(
    buyer: User, category: Category, vendor: Vendor
) -> None:
    intent = publish(buyer, category, is_sealed=True)
    OfferFactory(intent=intent, vendor=vendor)

    with pytest.raises(DomainError) as refused:
        intent_update(intent=intent, is_sealed=False)

    assert "is_sealed" in refused.value.errors
    assert Intent.objects.get(pk=intent.pk).is_sealed is True


def test_sealed_offers_can_be_unsealed_before_any_arrived(buyer: User, category: Category) -> None:
    intent = publish(buyer, category, is_sealed=True)

    intent_update(intent=intent, is_sealed=False)

    assert Intent.objects.get(pk=intent.pk).is_sealed is False


@pytest.mark.parametrize(
    "terms",
    [
        [{"code": "sell-my-soul"}],
        [{"code": "delete-after-award"}],
        terms_of("delete-after-award", days=0),
    ],
)
def test_unknown_term_or_missing_days_is_refused(
    buyer: User, category: Category, terms: list[dict[str, Any]]
) -> None:
    with pytest.raises(DomainError) as refused:
        publish(buyer, category, terms=terms)
    assert "terms" in refused.value.errors
    assert not Intent.objects.exists()


def test_delete_my_data_after_award_is_enforced_by_the_schedule(
    vendor: Vendor,
    category: Category,
    buyer: User,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    intent = publish(
        buyer,
        category,
        terms=terms_of("delete-after-award", days=10),
        contact_details="Ring 555-0100",
    )
    Notice.objects.get_or_create(intent=intent, vendor=vendor)
    offer = OfferFactory(intent=intent, vendor=vendor)
    IdentityReveal.objects.create(intent=intent, vendor=vendor)
    offer_accept(offer=offer, buyer=buyer)
    events_dispatch()
    assert enforce_deletion_terms() == 0  # not yet

    Intent.objects.filter(pk=intent.pk).update(
        awarded_at=timezone.now() - timedelta(days=10, minutes=1)
    )
    assert enforce_deletion_terms() == 1
    assert enforce_deletion_terms() == 0

    intent.refresh_from_db()
    assert intent.redacted_at is not None
    assert intent.contact_details == "Ring 555-0100"  # the buyer's own, kept
    won = vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").json()
    assert won["buyer_contact"] is None  # but no longer the vendor's
    assert not IdentityReveal.objects.filter(intent=intent).exists()
    for event in Event.objects.filter(vendor=vendor):
        assert "555-0100" not in json.dumps(event.payload)
        assert "Tiles, shower" not in json.dumps(event.payload)
    assert AuditEntry.objects.filter(user=buyer, action=AuditEntry.Action.DATA_REDACTED).exists()


def test_a_backlog_of_deletion_terms_is_worked_through_in_one_run(
    vendor: Vendor, category: Category, buyer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offers_privacy, "DELETION_TERMS_BATCH", 2)
    intents = []
    for _ in range(5):
        intent = publish(buyer, category, terms=terms_of("delete-after-award", days=1))
        offer_accept(offer=OfferFactory(intent=intent, vendor=vendor), buyer=buyer)
        intents.append(intent)
    Intent.objects.filter(pk__in=[i.pk for i in intents]).update(
        awarded_at=timezone.now() - timedelta(days=2)
    )

    assert enforce_deletion_terms() == 5

    assert not Intent.objects.filter(pk__in=[i.pk for i in intents], redacted_at=None).exists()


# --- controls ----------------------------------------------------------------------


def test_invited_vendors_from_the_form(buyer: User, category: Category) -> None:
    invited = VendorFactory(slug="chosen-one", categories=[category])
    VendorFactory(categories=[category])
    intent = publish(buyer, category, visibility="invited", invited=["chosen-one"])
    notices = intent_match(intent_id=intent.pk)
    assert [notice.vendor_id for notice in notices] == [invited.pk]
    with pytest.raises(DomainError) as refused:
        publish(buyer, category, visibility="invited", invited=["nobody-here"])
    assert "invited" in refused.value.errors


def test_a_vendor_on_the_intent_s_block_list_is_never_told_of_it(
    buyer: User, category: Category
) -> None:
    kept_off = VendorFactory(slug="old-supplier", categories=[category])
    told = VendorFactory(categories=[category])

    intent = publish(buyer, category, blocked=["old-supplier"])
    notices = intent_match(intent_id=intent.pk)
    caught_up = vendor_catch_up(vendor_id=kept_off.pk)  # a profile change: open intents it fits

    assert [notice.vendor_id for notice in notices] == [told.pk]
    assert caught_up == 0
    assert not Notice.objects.filter(vendor=kept_off).exists()
    assert "old-supplier" not in json.dumps(intent_for_vendor(intent))  # nor learns of the list
    other = publish(buyer, category)  # another intent of the buyer's: told as ever
    assert {n.vendor_id for n in intent_match(intent_id=other.pk)} == {kept_off.pk, told.pk}


def test_a_vendor_kept_off_an_open_intent_no_longer_sees_it(
    vendor: Vendor, vendor_client: Callable[[Vendor], APIClient], buyer: User, category: Category
) -> None:
    intent = publish(buyer, category)
    NoticeFactory(intent=intent, vendor=vendor)
    offer = OfferFactory(intent=intent, vendor=vendor)  # made before the buyer kept it off

    intent_update(intent=intent, blocked=[vendor.slug])
    intent_match(intent_id=intent.pk)

    assert vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").status_code == 404
    assert not Notice.objects.filter(intent=intent, vendor=vendor).exists()
    assert not Event.objects.filter(vendor=vendor, type="intent.updated").exists()
    with pytest.raises(DomainError, match="You keep this vendor off this intent"):
        offer_accept(offer=offer, buyer=buyer)
    assert [v["identifier"] for v in export_user_data(buyer)["seeks"][0]["ic:blockedVendors"]] == [
        vendor.slug
    ]


def test_names_left_in_a_public_intent_s_invited_box_do_not_refuse_its_block_list(
    buyer: User, category: Category
) -> None:
    VendorFactory(slug="acme", categories=[category])

    intent = publish(buyer, category, invited=["acme"], blocked=["acme"])  # public: no invitations

    assert list(intent.blocked_vendors.values_list("slug", flat=True)) == ["acme"]


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"blocked": ["nobody-here"]}, "No vendor “nobody-here”."),
        ({"blocked": [f"guess-{n}" for n in range(70_000)]}, "Name at most 200 vendors."),
        (
            {"visibility": "invited", "invited": ["acme"], "blocked": ["acme"]},
            "“acme” is invited: a vendor is invited or kept off, not both.",
        ),
    ],
    ids=["unknown", "too-many", "invited-too"],
)
def test_a_block_list_naming_no_vendor_or_an_invited_one_is_refused(
    buyer: User, category: Category, fields: dict[str, Any], refusal: str
) -> None:
    VendorFactory(slug="acme", categories=[category])

    with pytest.raises(DomainError) as refused:
        publish(buyer, category, **fields)

    assert refused.value.errors["blocked"] == [refusal]
    assert not Intent.objects.exists()


def test_the_intent_form_keeps_vendors_off(buyer: User, category: Category) -> None:
    VendorFactory(slug="old-supplier", categories=[category])
    client = Client()
    client.force_login(buyer)
    form = client.get("/intents/new/").content.decode()

    client.post(
        "/intents/new/",
        {
            "form_token": re.search(r'name="form_token" value="([^"]+)"', form).group(1),
            "title": "Gas boiler", "description": "Replace it.", "category": category.pk,
            "quantity": "1", "currency": "EUR", "country": "DE", "budget_max": "4000",
            "offers_close_at": (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
            "visibility": "public", "max_vendors": "25", "blocked": "Old-Supplier, ",
            "price_weight": "50", "delivery_weight": "25", "rating_weight": "25",
            "criteria-TOTAL_FORMS": "0", "criteria-INITIAL_FORMS": "0",
        },
    )  # fmt: skip

    [intent] = Intent.objects.filter(buyer=buyer)
    assert list(intent.blocked_vendors.values_list("slug", flat=True)) == ["old-supplier"]
    edit = client.get(f"/intents/{intent.pk}/edit/").content.decode()
    assert 'value="old-supplier"' in edit


def test_an_open_intent_cannot_turn_invited_with_nobody_invited(
    buyer: User, category: Category
) -> None:
    intent = publish(buyer, category)
    for invited in (None, []):
        with pytest.raises(DomainError) as refused:
            intent_update(intent=intent, visibility="invited", invited=invited)
        assert "invited" in refused.value.errors
    intent.refresh_from_db()
    assert intent.visibility == "public"


def test_blocking_from_an_offer_stops_future_notices(
    open_intent: Intent, category: Category
) -> None:
    offer = OfferFactory(intent=open_intent, vendor=VendorFactory(categories=[category]))
    client = Client()
    client.force_login(open_intent.buyer)
    client.post(f"/offers/{offer.pk}/block/")
    assert VendorBlock.objects.filter(buyer=open_intent.buyer, vendor=offer.vendor).exists()

    later = IntentFactory(buyer=open_intent.buyer, category=category)
    assert offer.vendor_id not in {n.vendor_id for n in intent_match(intent_id=later.pk)}

    client.post(f"/me/blocks/{offer.vendor_id}/remove/")
    assert not VendorBlock.objects.exists()


def test_blocking_asks_first_and_says_the_vendor_can_link_the_intents_it_loses(
    open_intent: Intent, category: Category
) -> None:
    vendor = VendorFactory(categories=[category])
    offer = OfferFactory(intent=open_intent, vendor=vendor)  # told of it, as it offered
    second = IntentFactory(buyer=open_intent.buyer, category=category)
    NoticeFactory(intent=second, vendor=vendor)
    hidden = IntentFactory(buyer=open_intent.buyer, category=category, is_hidden=True)
    NoticeFactory(intent=hidden, vendor=vendor)  # gone from its list already: not counted
    client = Client()
    client.force_login(open_intent.buyer)

    page = client.get(f"/intents/{open_intent.pk}/").content.decode()
    asked = client.get(f"/offers/{offer.pk}/block/").content.decode()

    assert f'href="/offers/{offer.pk}/block/?sort=' in page  # a link to ask, not a button
    assert f"<h1>Block {vendor.name}?</h1>" in asked
    assert "It was told of 2 of your open intents" in asked
    assert "it can tell that they belong to one buyer" in asked
    assert not VendorBlock.objects.exists()  # asking blocks nothing
    client.post(f"/offers/{offer.pk}/block/")
    assert VendorBlock.objects.filter(buyer=open_intent.buyer, vendor=vendor).exists()


def test_a_vendor_unblocked_is_matched_to_the_buyers_open_intents(
    category: Category, buyer: User, django_capture_on_commit_callbacks: Any
) -> None:
    vendor = VendorFactory(categories=[category])
    vendor_block(buyer=buyer, vendor=vendor)
    intent = IntentFactory(buyer=buyer, category=category, country="DE")
    intent_match(intent_id=intent.pk)
    assert not Notice.objects.filter(intent=intent, vendor=vendor).exists()
    client = Client()
    client.force_login(buyer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/me/blocks/{vendor.pk}/remove/")

    assert Notice.objects.filter(intent=intent, vendor=vendor).exists()
    vendor.refresh_from_db()
    assert vendor.catch_up_requested_at is None  # asked for, and done


def test_the_admin_reads_blocks_and_lifts_one_as_the_buyer_would(
    category: Category, buyer: User, admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    vendor = VendorFactory(categories=[category])
    vendor_block(buyer=buyer, vendor=vendor)
    intent = IntentFactory(buyer=buyer, category=category, country="DE")
    intent_match(intent_id=intent.pk)
    block = VendorBlock.objects.get()

    assert admin_client.get("/admin/marketplace/vendorblock/add/").status_code == 403
    assert admin_client.get(f"/admin/marketplace/vendorblock/{block.pk}/change/").status_code == 200
    refused = admin_client.post(
        f"/admin/marketplace/vendorblock/{block.pk}/change/",
        {"buyer": buyer.pk, "vendor": VendorFactory().pk},
    )
    assert refused.status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/marketplace/vendorblock/",
            {"action": "delete_selected", "_selected_action": [block.pk], "post": "yes"},
        )

    assert not VendorBlock.objects.exists()
    assert Notice.objects.filter(intent=intent, vendor=vendor).exists()


def ids_listed(api: APIClient) -> set[str]:
    return {item["id"] for item in api.get("/api/v1/intents/").json()["results"]}


def test_a_blocked_vendor_can_no_longer_answer_the_buyers_open_intents(
    vendor: Vendor, vendor_client: Callable[[Vendor], APIClient], buyer: User, category: Category
) -> None:
    answered = noticed_intent(vendor, buyer=buyer, category=category)
    offer = OfferFactory(intent=answered, vendor=vendor)
    unanswered = noticed_intent(vendor, buyer=buyer, category=category)
    awarded = noticed_intent(vendor, buyer=buyer, category=category, status=Intent.Status.AWARDED)
    elsewhere = noticed_intent(vendor, category=category)  # another buyer's
    api = vendor_client(vendor)
    client = Client()
    client.force_login(buyer)

    client.post(f"/offers/{offer.pk}/block/")

    for intent in (answered, unanswered):
        assert api.get(f"/api/v1/intents/{intent.pk}/").status_code == 404
        body = {"intent": str(intent.pk), "price": "1.00", "currency": "EUR"}
        assert api.post("/api/v1/offers/", body, format="json").status_code == 404
        question = {"text": "Still there?"}
        assert api.post(f"/api/v1/intents/{intent.pk}/questions/", question).status_code == 404
    revised = api.patch(f"/api/v1/offers/{offer.pk}/", {"price": "1.00"}, format="json")
    assert revised.status_code == 403
    assert ids_listed(api) == {str(elsewhere.pk)}
    assert api.get(f"/api/v1/intents/{awarded.pk}/").status_code == 200  # history stays
    offer.refresh_from_db()
    assert (offer.status, offer.price) == (Offer.Status.SUBMITTED, Decimal("250.00"))
    assert Offer.objects.filter(vendor=vendor).count() == 1
    assert not Question.objects.exists()


def test_a_blocked_vendor_s_offer_is_not_accepted_until_unblocked_and_may_be_declined(
    vendor: Vendor, buyer: User, category: Category
) -> None:
    """Accepted, the vendor would win an intent it can no longer read (its notice went)."""
    intent = noticed_intent(vendor, buyer=buyer, category=category)
    blocked = OfferFactory(intent=intent, vendor=vendor)
    other = OfferFactory(intent=intent)
    client = Client()
    client.force_login(buyer)
    client.post(f"/offers/{blocked.pk}/block/")

    page = client.get(f"/intents/{intent.pk}/").content.decode()
    row = page[page.index(f'id="offer-{blocked.pk}"') : page.index(f'id="offer-{other.pk}"')]
    with pytest.raises(DomainError) as refused:
        offer_accept(offer=blocked, buyer=buyer)
    shown = client.post(
        f"/offers/{blocked.pk}/accept/", {"contact_details": "call me"}, follow=True
    ).content.decode()
    client.post(f"/offers/{blocked.pk}/decline/", {"reason": "no thanks"})

    assert f"You blocked {vendor.name}" in row and "Unblock it on My data" in row
    assert f"/offers/{blocked.pk}/accept/" not in row and f"/offers/{blocked.pk}/block/" not in row
    assert f"/offers/{blocked.pk}/decline/" in row
    assert refused.value.kind == "conflict"
    assert "You blocked this vendor" in shown
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.OPEN
    assert Offer.objects.get(pk=blocked.pk).status == Offer.Status.DECLINED


def test_a_vendor_no_longer_invited_no_longer_sees_the_intent(
    vendor: Vendor, vendor_client: Callable[[Vendor], APIClient], buyer: User, category: Category
) -> None:
    kept = VendorFactory(slug="kept", categories=[category])
    intent = publish(buyer, category)
    NoticeFactory(intent=intent, vendor=vendor)
    NoticeFactory(intent=intent, vendor=kept)

    intent_update(intent=intent, visibility="invited", invited=["kept"], title="Boiler, invited")

    assert vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").status_code == 404
    assert vendor_client(kept).get(f"/api/v1/intents/{intent.pk}/").status_code == 200
    assert not Event.objects.filter(vendor=vendor, type="intent.updated").exists()
    assert Event.objects.filter(vendor=kept, type="intent.updated").count() == 1


def test_withdrawn_intent_tells_vendors_and_takes_no_more_offers(
    api: APIClient, vendor: Vendor, open_intent: Intent
) -> None:
    client = Client()
    client.force_login(open_intent.buyer)
    client.post(f"/intents/{open_intent.pk}/withdraw/")
    assert Event.objects.filter(vendor=vendor, type="intent.withdrawn").count() == 1
    response = api.post(
        "/api/v1/offers/",
        {"intent": str(open_intent.pk), "price": "1.00", "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 409
    assert not Offer.objects.exists()


def test_no_unsolicited_contact_every_vendor_write_needs_a_match(
    api: APIClient, category: Category
) -> None:
    stranger_intent = IntentFactory(
        category=category
    )  # same category, never matched to this vendor
    before = {model: model.objects.count() for model in (Offer, Question, Notice, Event)}

    writes = [
        (
            "post",
            "/api/v1/offers/",
            {
                "intent": str(stranger_intent.pk),
                "price": "1.00",
                "currency": "EUR",
                "accept_terms": True,
            },
        ),
        ("post", f"/api/v1/intents/{stranger_intent.pk}/questions/", {"text": "Can we talk?"}),
    ]
    reads = [
        f"/api/v1/intents/{stranger_intent.pk}/",
        f"/api/v1/intents/{stranger_intent.pk}/questions/",
    ]
    for method, path, body in writes:
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
    for path in reads:
        assert api.get(path).status_code == 404
    assert {model: model.objects.count() for model in before} == before
    assert str(stranger_intent.pk) not in api.get("/api/v1/intents/").content.decode()


# --- export --------------------------------------------------------------------------


def test_export_is_json_ld_with_demands_offers_and_the_rest(
    distinct_buyer: User, category: Category, vendor: Vendor
) -> None:
    intent = publish(
        distinct_buyer, category, budget_min=Decimal("1000"), quantity=Decimal("2"), unit="rooms",
        needed_by=timezone.localdate() + timedelta(days=40), terms=terms_of("no-sharing"),
        visibility="invited", invited=[vendor.slug], is_budget_hidden=True,
        contact_details="Ring twice", max_vendors=3,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 60},
            {"name": "Insured", "kind": "yes_no", "weight": 40, "is_required": True},
        ],
    )  # fmt: skip
    Notice.objects.get_or_create(intent=intent, vendor=vendor)
    offer = OfferFactory(
        intent=intent,
        vendor=vendor,
        price=Decimal("3000.00"),
        valid_until=timezone.localdate() + timedelta(days=9),
        line_items=[{"description": "Tiles", "quantity": "20", "unit_price": "150.00"}],
        criteria_answers={"insured": True},
        buyer_rank=1,
        is_shortlisted=True,
    )
    TermsAgreement.objects.create(
        offer=offer, intent=intent, vendor=vendor, terms=[{"code": "no-sharing", "version": 1}]
    )
    question = Question.objects.create(intent=intent, vendor=vendor, text="Which tiles?")
    question_answer(buyer=distinct_buyer, question=question, answer="White ones.")
    offer_accept(offer=offer, buyer=distinct_buyer)
    Rating.objects.create(offer=offer, vendor=vendor, stars=5, text="Spotless")
    client = Client()
    client.force_login(distinct_buyer)
    client.post(f"/offers/{offer.pk}/reveal/")

    response = client.get("/api/v1/me/export/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    document = json.loads(response.content)
    assert document["@context"][0] == "https://schema.org/"
    assert (document["@type"], document["email"], document["identifier"]) == (
        "Person", DISTINCT["email"], DISTINCT["username"],
    )  # fmt: skip
    [demand] = document["seeks"]
    assert demand["@type"] == "Demand"
    assert demand["itemOffered"]["name"] == "Quixotic bathroom makeover"
    assert demand["priceSpecification"] == {
        "@type": "PriceSpecification", "minPrice": "1000.00", "maxPrice": "5000.00", "priceCurrency": "EUR",
    }  # fmt: skip
    assert demand["eligibleQuantity"] == {
        "@type": "QuantitativeValue",
        "value": "2.00",
        "unitText": "rooms",
    }
    assert demand["eligibleRegion"] == {"@type": "Country", "name": "DE"}
    assert demand["availabilityEnds"] == intent.needed_by.isoformat()
    assert demand["validThrough"] == intent.offers_close_at.isoformat()
    [received] = demand["offersReceived"]
    assert received == {
        "@type": "Offer",
        "@id": f"urn:intentcast:offer:{offer.pk}",
        "price": "3000.00",
        "priceCurrency": "EUR",
        "priceValidUntil": offer.valid_until.isoformat(),
        "availabilityStarts": None,
        "description": "",
        "offeredBy": {"@type": "Organization", "name": vendor.name},
        "status": "accepted",
        "dateCreated": received["dateCreated"],
        "ic:lineItems": [{"description": "Tiles", "quantity": "20", "unit_price": "150.00"}],
        "ic:criteriaAnswers": {"insured": True},
        "ic:declineReason": "",
        "ic:revisionCount": 0,
        "ic:buyerRank": 1,
        "ic:shortlisted": True,
    }
    assert [(c["name"], c["kind"], c["weight"], c["required"]) for c in demand["ic:criteria"]] == [
        ("Price", "price", 60, False),
        ("Insured", "yes_no", 40, True),
    ]
    awarded = Intent.objects.get(pk=intent.pk)
    assert {
        key: demand[key] for key in demand if key.startswith("ic:") and key != "ic:criteria"
    } == {
        "ic:visibility": "invited",
        "ic:invitedVendors": [
            {"@type": "Organization", "name": vendor.name, "identifier": vendor.slug}
        ],
        "ic:blockedVendors": [],
        "ic:maxVendors": 3,
        "ic:budgetHidden": True,
        "ic:sealed": False,
        "ic:contactDetails": "Ring twice",
        "ic:emailsEnabled": True,
        "ic:organization": None,  # a public intent: no organization, no reward
        "ic:reward": None,
        "ic:remote": False,
        "ic:statusChanges": {
            "open": awarded.published_at.isoformat(),
            "awarded": awarded.awarded_at.isoformat(),
        },
    }
    assert demand["questions"][0]["acceptedAnswer"]["text"] == "White ones."
    assert demand["termsAgreements"][0]["@type"] == "AgreeAction"
    assert demand["terms"][0]["code"] == "no-sharing"
    assert document["review"][0]["reviewRating"]["ratingValue"] == 5
    assert [entry["name"] for entry in document["auditLog"]] == ["Identity revealed to a vendor"]
    # The export itself is logged.
    assert AuditEntry.objects.filter(
        user=distinct_buyer, action=AuditEntry.Action.DATA_EXPORTED
    ).exists()
    assert "Data exported" in client.get("/me/").content.decode()


# The head of https://schema.org/docs/jsonldcontext.jsonld, which a processor fetches:
# its aliases and vocabulary (the rest defines schema.org's own properties).
SCHEMA_ORG_CONTEXT = {
    "@context": {
        "type": "@type",
        "id": "@id",
        "HTML": {"@id": "rdf:HTML"},
        "@vocab": "http://schema.org/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    }
}


def test_the_export_stays_linked_data_whatever_the_buyer_named_a_criterion(
    distinct_buyer: User, category: Category, vendor: Vendor
) -> None:
    """A criterion's key comes from its name: "ID" and "Type" are schema.org's aliases of
    @id and @type. Read by a JSON-LD processor, the export keeps the answers as data."""
    from pyld import jsonld

    intent = publish(
        distinct_buyer,
        category,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 60},
            {"name": "ID", "kind": "yes_no", "weight": 20},
            {"name": "Type", "kind": "text", "weight": 0},
        ],
    )
    OfferFactory(intent=intent, vendor=vendor, criteria_answers={"id": True, "type": "Oak"})
    document = export_user_data(distinct_buyer)

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        assert url.startswith("https://schema.org"), url
        return {"contextUrl": None, "documentUrl": url, "document": SCHEMA_ORG_CONTEXT}

    expanded = jsonld.expand(document, {"documentLoader": loader})

    [demand] = expanded[0]["http://schema.org/seeks"]
    [offer] = demand["urn:intentcast:vocab#offersReceived"]
    [answers] = offer["urn:intentcast:vocab#criteriaAnswers"]
    assert answers == {"@type": "@json", "@value": {"id": True, "type": "Oak"}}


def test_export_needs_a_logged_in_person(api: APIClient) -> None:
    assert Client().get("/api/v1/me/export/").status_code in (401, 403)
    assert api.get("/api/v1/me/export/").status_code in (401, 403)  # a vendor key is not a person


# --- deletion ----------------------------------------------------------------------------


def all_text_values() -> list[tuple[str, str, str]]:
    """(table, column, value) for every text column of every table with a value; binary
    columns (stored responses) read as UTF-8."""
    found = []
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            for field in model._meta.concrete_fields:
                if not isinstance(
                    field,
                    models.CharField
                    | models.TextField
                    | models.JSONField
                    | models.EmailField
                    | models.BinaryField,
                ):
                    continue
                column = connection.ops.quote_name(field.column)
                cursor.execute(f"SELECT {column} FROM {connection.ops.quote_name(table)}")
                found += [
                    (table, field.column, _as_text(row[0]))
                    for row in cursor.fetchall()
                    if row[0] is not None
                ]
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


@pytest.mark.parametrize("kept_off", [False, True], ids=["told", "kept-off-since"])
def test_erasure_leaves_no_criterion_name_in_a_stored_idempotent_response(
    category: Category, buyer: User, vendor: Vendor, api: APIClient, kept_off: bool
) -> None:
    intent = publish(
        buyer,
        category,
        criteria=[
            {"name": "Price", "kind": "price", "weight": 5},
            {"name": "Zorblax warranty", "kind": "yes_no", "weight": 2},
        ],
    )
    Notice.objects.get_or_create(intent=intent, vendor=vendor)
    others = noticed_intent(vendor, currency="EUR")  # another buyer's: its response stays
    for key, on, more in (
        ("theirs", others, {}),
        ("erased", intent, {"criteria_answers": {"zorblax_warranty": True}}),
    ):
        made = api.post(
            "/api/v1/offers/",
            {"intent": str(on.pk), "price": "900.00", "currency": "EUR", **more},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        assert made.status_code == 201, made.content
    assert any("zorblax" in value for _, _, value in all_text_values())
    if kept_off:  # the buyer keeps the vendor off the intent since: its notice goes
        intent_update(intent=intent, blocked=[vendor.slug])

    account_delete(user=buyer)

    assert not any("zorblax" in value.lower() for _, _, value in all_text_values())
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["theirs"]


def test_deleting_the_account_erases_every_trace(
    distinct_buyer: User, category: Category, vendor: Vendor
) -> None:
    secret_text = "Quixotic-zebra-crossing tiles"
    with webhook_receiver() as receiver:
        webhook_endpoint_create(vendor=vendor, url=receiver.url)
        open_one = publish(
            distinct_buyer, category, description=secret_text, contact_details="Zeldaquix's phone 0171-55501",
            postal_area="QZ 99999",
        )  # fmt: skip
        intent_match(intent_id=open_one.pk)
        offer = OfferFactory(intent=open_one, vendor=vendor)
        criteria = [
            {"name": "Zeldaquix price", "kind": "price", "weight": 5},
            {"name": "Zeldaquix warranty", "kind": "yes_no", "weight": 2},
        ]
        judged = publish(distinct_buyer, category, criteria=criteria)
        intent_match(intent_id=judged.pk)
        answered = OfferFactory(
            intent=judged, vendor=vendor, criteria_answers={"zeldaquix_warranty": True}
        )
        offer_decline(offer=answered, buyer=distinct_buyer, reason="Zeldaquix finds it too dear")
        question = Question.objects.create(intent=open_one, vendor=vendor, text="Colour?")
        question_answer(buyer=distinct_buyer, question=question, answer="Zeldaquix likes teal")
        IdentityReveal.objects.create(intent=open_one, vendor=vendor)
        awarded = publish(
            distinct_buyer,
            category,
            title="Zeldaquix second job",
            contact_details="Vandermeerquist",
        )
        intent_match(intent_id=awarded.pk)
        won = OfferFactory(intent=awarded, vendor=vendor)
        offer_accept(offer=won, buyer=distinct_buyer)
        Rating.objects.create(offer=won, vendor=vendor, stars=4, text="Zeldaquix was pleased")
        events_dispatch()
    client = Client()
    client.force_login(distinct_buyer)
    client.get("/api/v1/me/export/")  # leaves an audit entry
    other_session = Client()
    other_session.force_login(distinct_buyer)

    page = client.get("/me/delete/")
    assert "anonymized" in page.content.decode()
    client.post("/me/delete/", {})  # not confirmed: nothing happens
    wrong = client.post("/me/delete/", {"confirm": "on", "password": "not-mine"})
    assert wrong.status_code == 400 and "This is not your password." in wrong.content.decode()
    assert User.objects.get(pk=BUYER_PK).username == DISTINCT["username"]

    # Digits alone could turn up in random ids and timestamps: each with its separator.
    secrets = (*DISTINCT.values(), secret_text, "0171-55501", "QZ 99999", "teal", "Zeldaquix")
    stored = [value for _, _, value in all_text_values()]
    for secret in secrets:  # else the search below would find nothing for nothing
        assert any(secret in value for value in stored), f"{secret!r} was never stored"

    client.post("/me/delete/", {"confirm": "on", "password": "x-long-passphrase"})

    for table, column, value in all_text_values():
        for secret in secrets:
            assert secret not in value, f"{secret!r} survives in {table}.{column}"
    assert client.get("/intents/").status_code == 302  # logged out
    assert other_session.get("/intents/").status_code == 302  # every session ended
    # Vendors keep their own offers, anonymized intents and a disposition.
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason) == (
        Offer.Status.DECLINED,
        "the buyer deleted their account",
    )
    # And what they were told (webhook, feed) says so too, not "withdrew".
    [told] = Event.objects.filter(type="offer.declined", payload__offer__id=str(offer.pk))
    assert told.payload["offer"]["decline_reason"] == "the buyer deleted their account"
    assert Offer.objects.filter(pk=won.pk, status=Offer.Status.ACCEPTED).exists()
    # The buyer's own words on a decline go; their criteria keep their answers, renamed.
    answered.refresh_from_db()
    assert (answered.decline_reason, answered.criteria_answers) == (
        "[deleted]",
        {"criterion_1": True},
    )
    assert [
        (c["key"], c["name"]) for c in Intent.objects.get(pk=judged.pk).criteria_for_vendors
    ] == [
        ("price", "Price"),
        ("criterion_1", "Criterion 1"),
    ]
    assert set(Intent.objects.filter(buyer_id=BUYER_PK).values_list("pseudonym", flat=True)) == {
        "deleted buyer"
    }
    assert Rating.objects.get(offer=won).stars == 4
    assert not IdentityReveal.objects.exists()


def test_more_vendors_invited_than_the_intent_goes_to_is_refused(
    buyer: User, category: Category
) -> None:
    invited = [VendorFactory(categories=[category]).slug for _ in range(3)]

    with pytest.raises(DomainError) as refused:
        publish(
            buyer, category, visibility=Intent.Visibility.INVITED, max_vendors=2, invited=invited
        )
    intent = publish(
        buyer, category, visibility=Intent.Visibility.INVITED, max_vendors=3, invited=invited
    )
    with pytest.raises(DomainError) as lowered:
        intent_update(intent=intent, max_vendors=2)

    assert "raise that number to 3" in refused.value.errors["invited"][0]
    assert "raise that number to 3" in lowered.value.errors["invited"][0]
    assert Intent.objects.get().max_vendors == 3


def test_an_offer_on_an_intent_a_moderator_hid_cannot_be_revised(
    vendor: Vendor, vendor_client: Callable[[Vendor], APIClient], category: Category
) -> None:
    intent = noticed_intent(vendor, category=category)
    offer = OfferFactory(intent=intent, vendor=vendor)
    intent_set_hidden(intent=intent, is_hidden=True)

    revised = vendor_client(vendor).patch(
        f"/api/v1/offers/{offer.pk}/", {"price": "1.00"}, format="json"
    )

    assert revised.status_code == 403
    offer.refresh_from_db()
    assert offer.price == Decimal("250.00")


def test_a_deleted_account_gets_no_e_mail_of_news_it_had_not_been_told(
    category: Category, buyer: User, vendor: Vendor
) -> None:
    intent = publish(buyer, category)
    NoticeFactory(intent=intent, vendor=vendor)
    offer_submit(vendor=vendor, intent=intent, price=Decimal("900"), currency="EUR")
    assert list(intents_with_news_for_buyer()) == [intent]  # an offer not yet e-mailed

    account_delete(user=buyer)
    buyers_notify_due()

    assert mail.outbox == []


def test_delete_after_award_removes_the_buyers_words_from_what_vendors_read(
    vendor: Vendor,
    category: Category,
    buyer: User,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    loser = VendorFactory(categories=[category])
    intent = publish(
        buyer,
        category,
        terms=terms_of("delete-after-award", days=10),
        description="Flat 3B, Rosenweg 7; ask for Mrs Quibble",
        postal_area="Q-4711",
        contact_details="Ring Quibble at 0171-555",
        criteria=[
            {"name": "Price", "kind": "price", "weight": 5},
            {"name": "Works at Rosenweg flat", "kind": "yes_no", "weight": 2},
        ],
    )
    for noticed in (vendor, loser):
        Notice.objects.get_or_create(intent=intent, vendor=noticed)
    question = Question.objects.create(intent=intent, vendor=loser, text="Which floor?")
    question_answer(buyer=buyer, question=question, answer="Third floor, Rosenweg 7")
    answers = {"works_at_rosenweg_flat": True}
    declined = OfferFactory(intent=intent, vendor=loser, criteria_answers=answers)
    offer_decline(offer=declined, buyer=buyer, reason="Quibble")
    offer_accept(
        offer=OfferFactory(intent=intent, vendor=vendor, criteria_answers=answers), buyer=buyer
    )
    assert vendor_client(vendor).get(f"/api/v1/intents/{intent.pk}/").json()["buyer_contact"]
    Intent.objects.filter(pk=intent.pk).update(awarded_at=timezone.now() - timedelta(days=11))

    assert enforce_deletion_terms() == 1

    for reader in (vendor, loser):
        api = vendor_client(reader)
        listed = api.get("/api/v1/intents/", {"status": "awarded"}).json()["results"]
        assert [item["id"] for item in listed] == [str(intent.pk)]  # the list's own shape too
        for path in (
            "/api/v1/intents/?status=awarded",
            f"/api/v1/intents/{intent.pk}/",
            f"/api/v1/intents/{intent.pk}/questions/",
            "/api/v1/notices/",
            "/api/v1/offers/",
            "/api/v1/events/",
        ):
            body = api.get(path).content.decode()
            for secret in ("Rosenweg", "rosenweg", "Quibble", "Q-4711"):
                assert secret not in body, (reader.name, path, secret)
        [offer] = api.get("/api/v1/offers/").json()["results"]
        assert offer["criteria_answers"] == {"criterion_1": True}  # the answer, not its name
    client = Client()
    client.force_login(buyer)
    page = client.get(f"/intents/{intent.pk}/").content.decode()
    for theirs_still in (
        "Rosenweg",
        "Works at Rosenweg flat",
        "Q-4711",
    ):
        assert theirs_still in page
    intent.refresh_from_db()
    assert (intent.postal_area, intent.contact_details) == ("Q-4711", "Ring Quibble at 0171-555")


def test_a_redacted_intents_words_cannot_be_found_by_a_vendors_text_search(
    open_intent: Intent, api: APIClient
) -> None:
    Intent.objects.filter(pk=open_intent.pk).update(
        description="My flat at Quuxstrasse 7.",
        status=Intent.Status.AWARDED,
        awarded_at=timezone.now(),
    )
    found_before = api.get("/api/v1/intents/", {"status": "awarded", "q": "Quuxstrasse"}).json()
    open_intent.refresh_from_db()
    assert intent_redact_for_vendors(intent=open_intent) is True

    found = api.get("/api/v1/intents/", {"status": "awarded", "q": "Quuxstrasse"}).json()

    assert (found_before["count"], found["count"]) == (1, 0)


@pytest.mark.parametrize("then", ["hidden by a moderator", "its buyer blocks the vendor"])
def test_a_webhook_not_yet_delivered_is_dropped_once_the_vendor_may_not_read_its_intent(
    category: Category, buyer: User, then: str
) -> None:
    vendor, other = VendorFactory(categories=[category]), VendorFactory(categories=[category])
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 500, 200, 200]  # the first attempts fail: retries wait
        for each in (vendor, other):
            webhook_endpoint_create(vendor=each, url=receiver.url)
        intent = publish(buyer, category)
        intent_match(intent_id=intent.pk)
        events_dispatch()
        deliveries = list(WebhookDelivery.objects.order_by("endpoint__vendor_id"))
        for delivery in deliveries:
            webhook_deliver(delivery_id=delivery.pk)
        assert len(receiver.received) == 2

        if then == "hidden by a moderator":
            intent_set_hidden(intent=intent, is_hidden=True)
        else:
            buyer_block_vendor(buyer=buyer, vendor=vendor)
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        for delivery in deliveries:
            webhook_deliver(delivery_id=delivery.pk)

        outcome = {
            delivery.endpoint.vendor_id: (delivery.status, delivery.last_error)
            for delivery in WebhookDelivery.objects.select_related("endpoint")
        }
        dropped = (WebhookDelivery.Status.FAILED, NO_LONGER_APPLIES)
        sent = (WebhookDelivery.Status.SUCCEEDED, "")
        assert outcome[vendor.pk] == dropped
        assert outcome[other.pk] == (dropped if then == "hidden by a moderator" else sent)
        assert len(receiver.received) == (2 if then == "hidden by a moderator" else 3)


def feed(api: APIClient, after: int = 0) -> tuple[list[tuple[str, str]], int]:
    body = api.get("/api/v1/events/", {"after": after}).json()
    told = [(item["type"], item["data"]["intent"]["title"]) for item in body["results"]]
    return told, int(body["next"])


def test_the_feed_passes_over_a_hidden_intent_and_tells_it_afresh_once_shown_again(
    category: Category, buyer: User, vendor_client: Callable[[Vendor], APIClient]
) -> None:
    vendor = VendorFactory(categories=[category])
    api = vendor_client(vendor)
    intent = publish(buyer, category, title="Rude words here")
    intent_match(intent_id=intent.pk)
    events_dispatch()

    intent_set_hidden(intent=intent, is_hidden=True)
    hidden, cursor = feed(api)
    intent_update(intent=intent, title="Still rude")  # told to nobody while hidden
    intent_set_hidden(intent=intent, is_hidden=False)
    events_dispatch()
    shown, _ = feed(api, cursor)

    assert hidden == [] and cursor > 0  # the cursor moved past what it passed over
    assert shown == [("intent.updated", "Still rude")]


def test_the_feed_passes_over_the_intents_of_a_buyer_who_blocked_the_vendor(
    category: Category, buyer: User, vendor_client: Callable[[Vendor], APIClient]
) -> None:
    vendor = VendorFactory(categories=[category])
    api = vendor_client(vendor)
    for owner, title in ((buyer, "Blocked buyer's"), (UserFactory(), "Another buyer's")):
        intent_match(intent_id=publish(owner, category, title=title).pk)
    events_dispatch()

    buyer_block_vendor(buyer=buyer, vendor=vendor)

    told, _ = feed(api)
    assert told == [("intent.matched", "Another buyer's")]


def test_a_moderators_correction_reaches_the_noticed_vendors(
    category: Category, buyer: User, admin_client: Client
) -> None:
    vendor = VendorFactory(categories=[category])
    intent = publish(buyer, category, title="Cheap pills and a bathroom")
    intent_match(intent_id=intent.pk)
    before = Intent.objects.get(pk=intent.pk).updated_at

    admin_client.post(
        f"/admin/intents/intent/{intent.pk}/change/",
        {"title": "A bathroom", "description": intent.description},
    )

    intent.refresh_from_db()
    assert intent.title == "A bathroom" and intent.updated_at > before
    told = Event.objects.filter(vendor=vendor, type="intent.updated").get()
    assert told.payload["intent"]["title"] == "A bathroom"


def test_a_closed_intent_hidden_for_a_while_is_told_closed_once_shown_again(
    category: Category, buyer: User, vendor_client: Callable[[Vendor], APIClient]
) -> None:
    vendor = VendorFactory(categories=[category])
    api = vendor_client(vendor)
    intent = publish(buyer, category, title="Tiles")
    intent_match(intent_id=intent.pk)
    events_dispatch()
    _, cursor = feed(api)

    intent_set_hidden(intent=intent, is_hidden=True)
    intent_withdraw(intent=intent)  # told to nobody while hidden
    events_dispatch()
    passed_over, cursor = feed(api, cursor)
    intent_set_hidden(intent=intent, is_hidden=False)
    events_dispatch()

    body = api.get("/api/v1/events/", {"after": cursor}).json()
    assert passed_over == []
    assert [(item["type"], item["data"]["intent"]["status"]) for item in body["results"]] == [
        ("intent.updated", "withdrawn")
    ]


def test_a_moderators_correction_replaces_the_words_in_what_vendors_were_told(
    category: Category,
    buyer: User,
    admin_client: Client,
    vendor_client: Callable[[Vendor], APIClient],
) -> None:
    vendor = VendorFactory(categories=[category])
    api = vendor_client(vendor)
    intent = publish(buyer, category, title="Call 0151 2345678 for tiles")
    intent_match(intent_id=intent.pk)
    question = question_ask(vendor=vendor, intent=intent, text="Which floor?")
    question_answer(buyer=buyer, question=question, answer="Call me at 0151 2345678")
    events_dispatch()

    admin_client.post(
        f"/admin/intents/intent/{intent.pk}/change/",
        {"title": "Tiles", "description": intent.description},
    )
    admin_client.post(
        f"/admin/offers/question/{question.pk}/change/",
        {"text": "Which floor?", "answer": "The second floor."},
    )
    events_dispatch()

    told = json.dumps(api.get("/api/v1/events/", {"after": 0}).json())
    assert "2345678" not in told
    assert "The second floor." in told and '"title": "Tiles"' in told


def test_a_moderator_cannot_blank_an_answer_the_buyer_gave_meanwhile(
    category: Category, buyer: User
) -> None:
    vendor = VendorFactory(categories=[category])
    intent = publish(buyer, category)
    intent_match(intent_id=intent.pk)
    question = question_ask(vendor=vendor, intent=intent, text="Which floor?")
    seen_unanswered = Question.objects.get(pk=question.pk)
    question_answer(buyer=buyer, question=question, answer="The second floor.")

    with pytest.raises(DomainError) as refused:
        question_moderate(question=seen_unanswered, text="Which floor, please?", answer="")

    assert "answer" in refused.value.errors
    assert Question.objects.get(pk=question.pk).answer == "The second floor."


def test_erasure_forgets_which_vendors_the_buyer_kept_off_an_intent(
    category: Category, buyer: User, vendor: Vendor
) -> None:
    intent = publish(buyer, category, blocked=[vendor.slug])
    assert list(intent.blocked_vendors.all()) == [vendor]

    account_delete(user=buyer)

    # As the account-wide block-list (VendorBlock) is.
    assert Intent.objects.get(pk=intent.pk).blocked_vendors.count() == 0


def test_erasure_searches_the_stored_responses_where_they_are(
    vendor: Vendor, category: Category
) -> None:
    """A busy vendor stores tens of thousands of responses a day: the erasure finds those
    naming the buyer's intents in the database, without reading the rest into memory."""
    require_postgresql()
    buyer = UserFactory()
    intent = noticed_intent(vendor, buyer=buyer, category=category)
    now = timezone.now()

    def stored(key: str, body: bytes) -> IdempotencyKey:
        return IdempotencyKey(
            vendor=vendor, key=key, request_fingerprint="0" * 64, claimed_at=now,
            status_code=201, response_body=body, completed_at=now,
        )  # fmt: skip

    naming = stored("names-it", f'{{"intent": "{intent.pk}"}}'.encode())
    naming.save()
    others = b'{"message": "' + b"x" * 40_000 + b'"}'  # a long message, line items
    IdempotencyKey.objects.bulk_create(stored(f"other-{n}", others) for n in range(1_000))

    tracemalloc.start()
    try:
        account_delete(user=buyer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert not IdempotencyKey.objects.filter(pk=naming.pk).exists()
    assert IdempotencyKey.objects.filter(vendor=vendor).count() == 1_000
    assert peak < 10_000_000, f"the erasure held {peak / 1e6:.0f} MB"  # 40 MB stored
