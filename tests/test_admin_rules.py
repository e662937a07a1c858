"""The admin and the commands keep the rules the services keep; accounts a vendor can use."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from intents.models import Intent, Notice
from intents.services import intent_update
from marketplace.errors import DomainError
from marketplace.events import emit, events_dispatch
from marketplace.models import (
    Category,
    Event,
    Membership,
    SkillProfile,
    User,
    Vendor,
    WebhookDelivery,
    WebhookEndpoint,
)
from marketplace.organizations import experience_entry_create, skill_profile_update
from marketplace.search import lexemes
from marketplace.selectors import categories_in_tree_order
from marketplace.services import vendor_update
from marketplace.webhooks import (
    KEPT_BY_AN_OPERATOR,
    webhook_deliver,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
)
from offers.models import Offer, ProposalCoauthor, Question, Rating
from offers.proposals import proposal_submit
from offers.questions import MAX_ANSWER, question_answer, question_ask
from offers.ratings import rating_create
from tests.factories import (
    CategoryFactory,
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    noticed_intent,
    org_member,
)
from tests.marketplace.test_views import form_as_loaded
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


# admin_client: pytest-django's, a logged-in superuser.


# --- a vendor made with create_vendor can log in on the web ---------------------------


def test_a_vendor_made_by_create_vendor_can_set_its_staff_password(
    category: Category, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    call_command(
        "create_vendor", "--name", "Acme Plumbing", "--email", "ops@acme.test",
        "--categories", "plumbing", "--regions", "DE", stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):  # the e-mail's task
        response = client.post("/accounts/password_reset/", {"email": "ops@acme.test"})

    assert response.status_code == 302
    # vendor_create's docstring: "they set one through 'forgot password' on the web".
    assert [message.to for message in mail.outbox] == [["ops@acme.test"]]


# --- the intent admin cannot write what intent_update refuses ------------------------------


def _intent_admin_data(intent: Intent, **changes: Any) -> dict[str, Any]:
    close = timezone.localtime(intent.offers_close_at)
    data = {
        "buyer": intent.buyer_id, "title": intent.title, "description": intent.description,
        "category": intent.category_id, "quantity": "1", "unit": "",
        "budget_min": "100.00", "budget_max": "500.00", "currency": intent.currency,
        "country": intent.country, "postal_area": "", "needed_by": "",
        "offers_close_at_0": close.date().isoformat(),
        "offers_close_at_1": close.time().strftime("%H:%M:%S"),
        "visibility": intent.visibility, "max_vendors": "25", "organization": "",
        "reward_amount": "", "contact_details": "", "is_buyer_email_enabled": "on",
        "is_sealed": "on" if intent.is_sealed else "",
    }  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_the_intent_admin_cannot_reprice_or_unseal_an_intent_with_offers(
    admin_client: Client,
) -> None:
    vendor = VendorFactory()
    intent = noticed_intent(vendor, is_sealed=True)
    OfferFactory(intent=intent, vendor=vendor)  # 250.00 EUR, made on the sealed promise
    with pytest.raises(DomainError):  # the service keeps the rule …
        intent_update(intent=intent, currency="USD")

    admin_client.post(  # … and the moderator's form keeps it too
        f"/admin/intents/intent/{intent.pk}/change/",
        _intent_admin_data(intent, currency="USD", is_sealed=""),
    )

    intent.refresh_from_db()
    assert Offer.objects.get().currency == "EUR"
    assert (intent.currency, intent.is_sealed) == ("EUR", True)


# --- the vendor admin keeps the profile's rules; skills are the person's own -------------


@pytest.mark.parametrize(
    ("regions", "keywords"),
    [('"DE"', "[]"), ('["de"]', "[]"), ('["DE"]', "[1]"), ('["DE"]', '["tiles\\u0000"]')],
    ids=["string-not-list", "lowercase-code", "non-text-keyword", "nul-in-keyword"],
)
def test_the_vendor_admin_refuses_regions_and_keywords_the_services_refuse(
    admin_client: Client, category: Category, regions: str, keywords: str
) -> None:
    vendor = VendorFactory(categories=[category])
    response = admin_client.post(
        f"/admin/marketplace/vendor/{vendor.pk}/change/",
        {
            "name": vendor.name, "slug": vendor.slug, "contact_email": vendor.contact_email,
            "categories": [category.pk], "regions": regions, "keywords": keywords,
            "daily_capacity": "100",
            "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
        },
    )  # fmt: skip

    assert response.status_code == 200  # the form again, with an error
    vendor.refresh_from_db()
    assert (vendor.regions, vendor.keywords, vendor.coverage) == (["DE"], [], ["DE"])


def test_skills_are_the_persons_own_the_admin_reads_them(admin_client: Client) -> None:
    """Saved in the admin, skills would never reach matching (their lexemes are derived)."""
    response = admin_client.post(
        "/admin/marketplace/skillprofile/add/", {"user": UserFactory().pk, "skills": '["python"]'}
    )

    assert response.status_code == 403
    assert not SkillProfile.objects.exists()


# --- a webhook endpoint is added with its secret and checks, not in the admin --------


def test_a_webhook_endpoint_added_in_the_admin_can_be_delivered_to(admin_client: Client) -> None:
    vendor = VendorFactory()
    with webhook_receiver() as receiver:
        admin_client.post(
            "/admin/marketplace/webhookendpoint/add/",
            {"vendor": str(vendor.pk), "url": receiver.url, "event_types": "[]", "is_active": "on"},
        )
        if not WebhookEndpoint.objects.exists():
            return  # refusing to add one is fine too
        emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="admin-added")
        events_dispatch()
        webhook_deliver(delivery_id=WebhookDelivery.objects.get().pk)

        delivery = WebhookDelivery.objects.get()
        assert delivery.status == WebhookDelivery.Status.SUCCEEDED, delivery.last_error
        assert len(receiver.received) == 1


# --- no admin "add" page that can only end in a 500 ---------------------------------


def test_the_admin_adds_a_second_user(admin_client: Client) -> None:
    answers = [
        admin_client.post(
            "/admin/marketplace/user/add/",
            {
                "username": username, "usable_password": "true",
                "password1": "a-Good-passw0rd!", "password2": "a-Good-passw0rd!",
            },
        ).status_code
        for username in ("alice", "bob")
    ]  # fmt: skip

    assert 500 not in answers, answers


def test_admin_add_pages_never_answer_500(admin_client: Client) -> None:
    OfferFactory()
    organization = OrganizationFactory()
    invitation = {
        "organization": str(organization.pk), "role": "member", "status": "pending",
        "expires_at_0": "2030-01-01", "expires_at_1": "00:00:00",
    }  # fmt: skip
    answers = {
        "notice": admin_client.post("/admin/intents/notice/add/", {}).status_code,
        "reward entry": admin_client.post("/admin/offers/rewardentry/add/", {}).status_code,
        "invitation 1": admin_client.post(
            "/admin/marketplace/invitation/add/", invitation | {"email": "a@x.test"}
        ).status_code,
        "invitation 2": admin_client.post(
            "/admin/marketplace/invitation/add/", invitation | {"email": "b@x.test"}
        ).status_code,
    }

    assert 500 not in answers.values(), answers


# --- seed_demo (run by every `make run`) runs after a demo vendor edited its profile


def test_seed_demo_runs_again_after_a_demo_vendor_changed_its_contact_email(db: None) -> None:
    call_command("seed_demo", stdout=StringIO())
    vendor_update(vendor=Vendor.objects.get(slug="pixel-foundry"), contact_email="hi@pixel.test")

    call_command("seed_demo", stdout=StringIO())

    assert Vendor.objects.count() == 3


# --- create_vendor: a clear error, never a traceback or a bad row ---------------------


def test_create_vendor_says_clearly_that_the_login_is_taken(category: Category) -> None:
    UserFactory(username="ops@acme.test", email="someone.else@example.test")

    with pytest.raises(CommandError):  # not an IntegrityError on marketplace_user.username
        call_command(
            "create_vendor", "--name", "Acme", "--email", "ops@acme.test",
            "--categories", "plumbing", stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip


def test_create_vendor_refuses_an_invalid_email(category: Category) -> None:
    with pytest.raises(CommandError):
        call_command(
            "create_vendor", "--name", "Acme", "--email", "not an address",
            "--categories", "plumbing", stdout=StringIO(), stderr=StringIO(),
        )  # fmt: skip
    assert not User.objects.filter(email="not an address").exists()


@pytest.mark.parametrize("empty", ["", "null"])
@pytest.mark.parametrize("field", ["regions", "keywords"])
def test_a_regions_or_keywords_box_left_empty_in_the_vendor_admin_means_none(
    admin_client: Client, category: Category, field: str, empty: str
) -> None:
    vendor = VendorFactory(categories=[category], keywords=["tiles"])
    form = {
        "name": vendor.name, "slug": vendor.slug, "contact_email": vendor.contact_email,
        "categories": [category.pk], "regions": '["DE"]', "keywords": '["tiles"]',
        "daily_capacity": "100", "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    }  # fmt: skip

    response = admin_client.post(
        f"/admin/marketplace/vendor/{vendor.pk}/change/", form | {field: empty}
    )

    assert response.status_code == 302
    vendor.refresh_from_db()
    assert getattr(vendor, field) == []


def test_the_vendor_admin_holds_a_deal_size_written_to_its_currency_s_unit(
    admin_client: Client, category: Category
) -> None:
    """As the vendor's own page and the API do (one rule, in vendor_profile_errors): a
    fraction of a yen is refused when written, one stored before the rule is kept."""
    vendor = VendorFactory(categories=[category])
    Vendor.objects.filter(pk=vendor.pk).update(
        deal_size_min=Decimal("100.50"), deal_size_currency="JPY"
    )
    form = {
        "name": vendor.name, "slug": vendor.slug, "contact_email": vendor.contact_email,
        "categories": [category.pk], "regions": '["DE"]', "keywords": "[]",
        "deal_size_min": "100.50", "deal_size_currency": "JPY", "daily_capacity": "100",
        "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    }  # fmt: skip
    url = f"/admin/marketplace/vendor/{vendor.pk}/change/"

    kept = admin_client.post(url, form | {"name": "Renamed by an operator"})
    refused = admin_client.post(url, form | {"deal_size_min": "99.50"})

    assert kept.status_code == 302
    assert refused.status_code == 200
    assert "JPY has no minor unit" in refused.content.decode()
    vendor.refresh_from_db()
    assert (vendor.name, vendor.deal_size_min) == ("Renamed by an operator", Decimal("100.50"))


def test_a_vendor_suspended_in_its_change_form_hears_of_it_as_by_the_action(
    admin_client: Client, category: Category, django_capture_on_commit_callbacks: Any
) -> None:
    vendor = VendorFactory(name="Acme", contact_email="ops@acme.example", categories=[category])
    UserFactory(vendor=vendor, email="ann@acme.example")
    form = {
        "name": vendor.name, "slug": vendor.slug, "contact_email": vendor.contact_email,
        "categories": [category.pk], "regions": '["DE"]', "keywords": "[]",
        "daily_capacity": "100", "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    }  # fmt: skip
    url = f"/admin/marketplace/vendor/{vendor.pk}/change/"

    with django_capture_on_commit_callbacks(execute=True):
        suspended = admin_client.post(url, form | {"is_suspended": "on"})
    with django_capture_on_commit_callbacks(execute=True):
        reinstated = admin_client.post(url, form)

    assert (suspended.status_code, reinstated.status_code) == (302, 302)
    assert [(m.to, m.subject) for m in mail.outbox] == [  # a message each
        (["ann@acme.example"], "Intentcast: Acme is suspended"),
        (["ops@acme.example"], "Intentcast: Acme is suspended"),
        (["ann@acme.example"], "Intentcast: Acme is reinstated"),
        (["ops@acme.example"], "Intentcast: Acme is reinstated"),
    ]


def test_an_endpoint_turned_on_again_in_the_admin_loses_the_reason_it_was_off(
    admin_client: Client, vendor: Vendor
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.test/in")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason="the receiver answered 410 Gone"
    )
    rotated = webhook_endpoint_rotate_secret(endpoint=endpoint).secret  # after the form was read

    response = admin_client.post(
        f"/admin/marketplace/webhookendpoint/{endpoint.pk}/change/",
        {"description": "", "is_active": "on", "disabled_reason": "the receiver answered 410 Gone"},
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason, endpoint.secret) == (True, "", rotated)


# --- admin forms keep the structural invariants ---------------------------------------


def test_the_membership_admin_never_makes_an_organization_without_an_owner(
    admin_client: Client,
) -> None:
    organization = OrganizationFactory()

    admin_client.post(
        "/admin/marketplace/membership/add/",
        {"organization": str(organization.pk), "user": UserFactory().pk, "role": "member"},
    )

    roles = list(
        Membership.objects.filter(organization=organization).values_list("role", flat=True)
    )
    assert roles == [] or "owner" in roles, roles


def test_the_category_admin_refuses_a_cycle(admin_client: Client) -> None:
    category = CategoryFactory(slug="plumbing", name="Plumbing")

    admin_client.post(
        f"/admin/marketplace/category/{category.pk}/change/",
        {"name": "Plumbing", "slug": "plumbing", "parent": category.pk},
    )

    # Otherwise it vanishes from the tree the intent form offers buyers.
    assert [c.slug for c, _depth in categories_in_tree_order()] == ["plumbing"]


@pytest.mark.parametrize("change", ["unpause", "region"])
def test_a_vendor_changed_in_the_admin_is_matched_against_open_intents(
    admin_client: Client,
    category: Category,
    django_capture_on_commit_callbacks: Any,
    change: str,
) -> None:
    vendor = VendorFactory(categories=[category], is_paused=(change == "unpause"))
    if change == "region":
        vendor_update(vendor=vendor, regions=["FR"])
    intent = IntentFactory(category=category, country="DE")
    form = {
        "name": vendor.name, "slug": vendor.slug, "contact_email": vendor.contact_email,
        "categories": [category.pk], "regions": '["DE"]', "keywords": "[]",
        "daily_capacity": "100", "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
    }  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/marketplace/vendor/{vendor.pk}/change/", form)

    assert response.status_code == 302
    assert Notice.objects.filter(intent=intent, vendor=vendor).exists()


def test_the_intent_admin_keeps_a_title_to_one_line(admin_client: Client) -> None:
    intent = noticed_intent(VendorFactory())

    response = admin_client.post(
        f"/admin/intents/intent/{intent.pk}/change/",
        {"title": "Fix sink\r\nASAP", "description": intent.description},
    )

    assert response.status_code == 200
    assert "Keep the title to one line." in response.content.decode()
    assert Intent.objects.get(pk=intent.pk).title == intent.title


def test_the_organization_admin_does_not_move_a_membership_to_another_person(
    admin_client: Client,
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role="owner")
    member = org_member(organization)
    outsider = UserFactory()
    memberships = list(Membership.objects.filter(organization=organization).order_by("pk"))
    form = {"name": organization.name, "slug": organization.slug}
    form |= {"memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "2"}
    for number, membership in enumerate(memberships):
        moved = outsider if membership.user_id == member.pk else membership.user
        form |= {
            f"memberships-{number}-id": membership.pk,
            f"memberships-{number}-organization": organization.pk,
            f"memberships-{number}-user": moved.pk,
            f"memberships-{number}-role": membership.role,
        }

    response = admin_client.post(f"/admin/marketplace/organization/{organization.pk}/change/", form)

    assert response.status_code == 200  # the form again, with the error
    assert "A membership is not moved to another person" in response.content.decode()
    assert set(
        Membership.objects.filter(organization=organization).values_list("user_id", flat=True)
    ) == {owner.pk, member.pk}


def test_co_authors_are_read_not_written_in_the_admin(admin_client: Client) -> None:
    organization = OrganizationFactory()
    poster, proposer, named = (org_member(organization) for _ in range(3))
    proposal = proposal_submit(
        member=proposer,
        intent=internal_intent(organization, poster),
        message="Together",
        coauthors=[named],
    )
    row = ProposalCoauthor.objects.get(offer=proposal)
    change = f"/admin/offers/proposalcoauthor/{row.pk}/change/"

    assert admin_client.get("/admin/offers/proposalcoauthor/add/").status_code == 403
    assert admin_client.get(change).status_code == 200  # to read
    assert admin_client.post(change, {"offer": proposal.pk, "member": poster.pk}).status_code == 403
    deleted = admin_client.post(f"/admin/offers/proposalcoauthor/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    row.refresh_from_db()
    assert (row.member_id, row.confirmed_at) == (named.pk, None)


# --- moderating questions and ratings --------------------------------------------------


def test_a_moderator_corrects_an_answer_and_the_noticed_vendors_hear_it(
    admin_client: Client, category: Category
) -> None:
    asker, other = VendorFactory(categories=[category]), VendorFactory(categories=[category])
    intent = noticed_intent(asker, category=category)
    NoticeFactory(intent=intent, vendor=other)
    question = question_ask(vendor=asker, intent=intent, text="Which floor?")
    question_answer(buyer=intent.buyer, question=question, answer="Call me at 0151 2345678")
    change = f"/admin/offers/question/{question.pk}/change/"

    response = admin_client.post(change, {"text": "Which floor?", "answer": "The second floor."})

    assert response.status_code == 302
    question.refresh_from_db()
    assert question.answer == "The second floor."
    told = Event.objects.filter(type="question.answered").order_by("id")
    latest = {event.vendor_id: event.payload["question"]["answer"] for event in told}
    assert latest == {asker.pk: "The second floor.", other.pk: "The second floor."}


@pytest.mark.parametrize(
    ("answered", "text", "answer", "field"),
    [
        (False, "Which floor?", "The buyer's words put in their mouth", "answer"),
        (True, "", "Second.", "text"),
        (True, "Which floor?", "", "answer"),
    ],
)
def test_a_moderators_correction_that_breaks_the_rules_is_a_form_error(
    admin_client: Client,
    category: Category,
    answered: bool,
    text: str,
    answer: str,
    field: str,
) -> None:
    vendor = VendorFactory(categories=[category])
    intent = noticed_intent(vendor, category=category)
    question = question_ask(vendor=vendor, intent=intent, text="Which floor?")
    if answered:
        question_answer(buyer=intent.buyer, question=question, answer="Second.")
    before = Question.objects.filter(pk=question.pk).values().get()
    events = Event.objects.count()

    response = admin_client.post(
        f"/admin/offers/question/{question.pk}/change/", {"text": text, "answer": answer}
    )

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Question.objects.filter(pk=question.pk).values().get() == before
    assert Event.objects.count() == events


def test_an_operator_removes_a_rating_and_the_reputation_follows(
    admin_client: Client, category: Category
) -> None:
    vendor = VendorFactory(categories=[category])
    ratings = []
    for stars in (5, 1):
        intent = IntentFactory(category=category)
        offer = OfferFactory(intent=intent, vendor=vendor, status=Offer.Status.ACCEPTED)
        ratings.append(rating_create(buyer=intent.buyer, offer=offer, stars=stars))
    vendor.refresh_from_db()
    assert (vendor.rating_count, vendor.rating_mean) == (2, Decimal("3.00"))

    assert admin_client.get("/admin/offers/rating/add/").status_code == 403
    admin_client.post(f"/admin/offers/rating/{ratings[1].pk}/delete/", {"post": "yes"})
    vendor.refresh_from_db()
    assert (vendor.rating_count, vendor.rating_mean) == (1, Decimal("5.00"))

    admin_client.post(
        "/admin/offers/rating/",
        {"action": "delete_selected", "_selected_action": [ratings[0].pk], "post": "yes"},
    )
    vendor.refresh_from_db()
    assert (vendor.rating_count, vendor.rating_mean) == (0, None)
    assert not Rating.objects.exists()


def test_an_experience_entry_changed_or_deleted_in_the_admin_is_what_matching_reads(
    admin_client: Client,
) -> None:
    person = UserFactory()
    entry = experience_entry_create(user=person, title="Payroll lead")
    url = f"/admin/marketplace/experienceentry/{entry.pk}/"

    admin_client.post(url + "change/", {"user": person.pk, "title": "Tax adviser"})
    assert SkillProfile.objects.get(user=person).skill_lexemes == lexemes("Tax adviser")
    admin_client.post(url + "delete/", {"post": "yes"})
    assert SkillProfile.objects.get(user=person).skill_lexemes == []


# --- what an operator may and may not do -----------------------------------------------


def test_staff_who_may_only_view_run_no_action(client: Client) -> None:
    """Django offers an action to whoever can open the list, unless it says what it needs."""
    staff = UserFactory(is_staff=True)
    for codename in ("view_vendor", "view_intent", "view_apikey", "view_webhookdelivery"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(staff)
    vendor = VendorFactory()
    intent = IntentFactory()

    listed = client.get("/admin/marketplace/vendor/").content.decode()
    for url, action, pk in (
        ("/admin/marketplace/vendor/", "suspend", vendor.pk),
        ("/admin/marketplace/vendor/", "verify", vendor.pk),
        ("/admin/intents/intent/", "hide", intent.pk),
    ):
        client.post(url, {"action": action, "_selected_action": [pk]})

    assert 'name="action"' not in listed
    vendor.refresh_from_db()
    intent.refresh_from_db()
    assert (vendor.is_suspended, vendor.is_verified, intent.is_hidden) == (False, False, False)


def test_an_endpoint_s_events_are_the_vendor_s_to_choose_not_the_admin_s(
    admin_client: Client,
) -> None:
    """One endpoint's odd events (a number) stopped the dispatch of every vendor's events."""
    endpoint = WebhookEndpoint.objects.create(
        vendor=VendorFactory(), url="https://hooks.example/x", event_types=["offer.accepted"]
    )

    admin_client.post(
        f"/admin/marketplace/webhookendpoint/{endpoint.pk}/change/",
        {"event_types": "42", "description": "checked", "is_active": "on", "disabled_reason": ""},
    )

    endpoint.refresh_from_db()
    assert (endpoint.event_types, endpoint.description) == (["offer.accepted"], "checked")


def test_what_vendors_were_told_is_not_deleted_in_the_admin(admin_client: Client) -> None:
    vendor = VendorFactory()
    intent = noticed_intent(vendor)
    notice = Notice.objects.get(intent=intent)
    emit(vendor_id=vendor.pk, type="intent.matched", payload={"x": 1}, dedupe_key="k")
    event = Event.objects.get()
    endpoint = WebhookEndpoint.objects.create(vendor=vendor, url="https://hooks.example/y")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event)

    pages = {
        f"/admin/intents/intent/{intent.pk}/delete/": Intent,
        f"/admin/intents/notice/{notice.pk}/delete/": Notice,
        f"/admin/marketplace/event/{event.pk}/delete/": Event,
        f"/admin/marketplace/webhookdelivery/{delivery.pk}/delete/": WebhookDelivery,
    }
    answers = {url: admin_client.post(url, {"post": "yes"}).status_code for url in pages}

    assert set(answers.values()) == {403}, answers
    assert all(model.objects.exists() for model in pages.values())


def test_an_answered_question_is_corrected_not_deleted(admin_client: Client) -> None:
    vendor = VendorFactory()
    intent = noticed_intent(vendor)
    answered = question_ask(vendor=vendor, intent=intent, text="Abusive words?")
    question_answer(buyer=intent.buyer, question=answered, answer="No.")
    other = VendorFactory()
    NoticeFactory(intent=intent, vendor=other)
    unanswered = question_ask(vendor=other, intent=intent, text="Spam?")

    refused = admin_client.post(f"/admin/offers/question/{answered.pk}/delete/", {"post": "yes"})

    def delete_selected(*questions: Question) -> None:
        selected = [question.pk for question in questions]
        admin_client.post(
            "/admin/offers/question/",
            {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
        )

    delete_selected(answered, unanswered)  # refused whole: one of them was answered
    both_kept = Question.objects.count()
    delete_selected(unanswered)

    assert (refused.status_code, both_kept) == (403, 2)
    assert list(Question.objects.values_list("pk", flat=True)) == [answered.pk]


def test_a_member_added_in_the_admin_is_matched_to_the_open_rfps(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization, role=Membership.Role.OWNER)
    rfp = internal_intent(organization, poster, title="Automate the weekly sales report")
    newcomer = UserFactory()
    skill_profile_update(user=newcomer, skills=["sales report"])

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/marketplace/membership/add/",
            {"organization": str(organization.pk), "user": newcomer.pk, "role": "member"},
        )

    assert Notice.objects.filter(intent=rfp, member=newcomer).exists()


def test_a_buyer_hears_that_a_moderator_hid_their_intent_and_showed_it_again(
    admin_client: Client, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    intent = IntentFactory(title="Cheap watches")
    buyer = Client()
    buyer.force_login(intent.buyer)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/intents/intent/", {"action": "hide", "_selected_action": [intent.pk]}
        )
        admin_client.post(
            "/admin/intents/intent/", {"action": "hide", "_selected_action": [intent.pk]}
        )  # hidden already: not told twice
    page = buyer.get(f"/intents/{intent.pk}/").content.decode()
    mine = buyer.get("/intents/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/intents/intent/", {"action": "unhide", "_selected_action": [intent.pk]}
        )

    assert [(m.to, m.subject) for m in mailoutbox] == [
        ([intent.buyer.email], "Intentcast: “Cheap watches” was hidden"),
        ([intent.buyer.email], "Intentcast: “Cheap watches” was shown again"),
    ]
    assert f"/intents/{intent.pk}/" in mailoutbox[0].body
    assert "A moderator hid this intent" in page
    assert "hidden by a moderator" in mine
    assert "A moderator hid this intent" not in buyer.get(f"/intents/{intent.pk}/").content.decode()


def test_a_vendor_s_staff_hear_that_it_was_suspended_and_reinstated(
    admin_client: Client, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    vendor = VendorFactory(name="Acme", contact_email="ops@acme.example")
    UserFactory(vendor=vendor, email="ann@acme.example")
    UserFactory(vendor=vendor, email="gone@acme.example", is_active=False)

    for action in ("suspend", "suspend", "reinstate"):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                "/admin/marketplace/vendor/", {"action": action, "_selected_action": [vendor.pk]}
            )

    assert [(m.to, m.subject) for m in mailoutbox] == [  # a message each
        (["ann@acme.example"], "Intentcast: Acme is suspended"),
        (["ops@acme.example"], "Intentcast: Acme is suspended"),
        (["ann@acme.example"], "Intentcast: Acme is reinstated"),
        (["ops@acme.example"], "Intentcast: Acme is reinstated"),
    ]


def test_a_moderator_s_correction_of_an_offer_s_message_keeps_the_api_s_length(
    admin_client: Client,
) -> None:
    offer = OfferFactory(message="Buy now!!! http://spam.example")
    url = f"/admin/offers/offer/{offer.pk}/change/"

    refused = admin_client.post(url, {"message": "x" * 5001})
    kept = Offer.objects.get(pk=offer.pk).message
    admin_client.post(url, {"message": "(removed by a moderator)"})

    assert refused.status_code == 200 and "at most 5000 characters" in refused.content.decode()
    assert kept == "Buy now!!! http://spam.example"
    assert Offer.objects.get(pk=offer.pk).message == "(removed by a moderator)"


def test_the_moderation_e_mails_say_where_to_write_only_when_someone_reads_it(
    settings: Any, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    from intents.services import intent_set_hidden

    first, second = IntentFactory(), IntentFactory()
    settings.SUPPORT_EMAIL = ""
    with django_capture_on_commit_callbacks(execute=True):
        intent_set_hidden(intent=first, is_hidden=True)
    settings.SUPPORT_EMAIL = "help@intentcast.example"
    with django_capture_on_commit_callbacks(execute=True):
        intent_set_hidden(intent=second, is_hidden=True)

    unread, read = (message.body for message in mailoutbox)
    assert "Write to" not in unread and "Reply" not in unread
    assert "Write to help@intentcast.example to learn why" in read


def test_a_moderator_can_save_an_answer_the_buyer_wrote_as_it_is(admin_client: Client) -> None:
    buyer = UserFactory()
    question = Question.objects.create(
        intent=IntentFactory(buyer=buyer), vendor=VendorFactory(), text="Allergies?"
    )
    # As the buyer's box keeps it now: 5,000 characters, line breaks as LF.
    answer = "\n".join(["a" * 99] * 50)
    assert len(answer) == MAX_ANSWER - 1
    question_answer(buyer=buyer, question=question, answer=answer)

    # The moderator fixes the question's typo; the browser sends the answer's breaks as CR LF.
    response = admin_client.post(
        f"/admin/offers/question/{question.pk}/change/",
        {"text": "Any allergies?", "answer": answer.replace("\n", "\r\n")},
    )

    errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
    assert response.status_code == 302, errors  # today: 200, "1 to 5000 characters."
    question.refresh_from_db()
    assert (question.text, question.answer) == ("Any allergies?", answer)


def test_a_moderator_can_save_an_offer_message_the_api_took(admin_client: Client) -> None:
    message = "\n".join(["m" * 99] * 50)  # 4,999 characters: the API took it
    offer = OfferFactory(message=message)

    response = admin_client.post(
        f"/admin/offers/offer/{offer.pk}/change/", {"message": message.replace("\n", "\r\n")}
    )

    errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
    assert response.status_code == 302, errors  # today: 200, "at most 5000 characters"
    offer.refresh_from_db()
    assert offer.message == message


def test_an_endpoint_an_operator_turned_off_is_not_deleted_to_be_made_again_at_its_url(
    admin_client: Client, vendor: Vendor, vendor_client: Any
) -> None:
    url = "https://hooks.example.test/in"
    endpoint = webhook_endpoint_create(vendor=vendor, url=url)
    change = f"/admin/marketplace/webhookendpoint/{endpoint.pk}/change/"
    admin_client.post(change, {"description": "", "disabled_reason": "aimed at a stranger"})
    staff = Client()
    staff.force_login(UserFactory(vendor=vendor))
    api = vendor_client(vendor)

    by_api = api.delete(f"/api/v1/webhooks/{endpoint.pk}/")
    by_page = staff.post(
        f"/vendor/webhooks/{endpoint.pk}/", {"action": "delete", "confirm": "delete"}, follow=True
    )
    made_again = api.post("/api/v1/webhooks/", {"url": url}, format="json")

    assert by_api.status_code == 403 and by_api.json()["detail"] == KEPT_BY_AN_OPERATOR
    assert escape(KEPT_BY_AN_OPERATOR) in by_page.content.decode()
    assert made_again.status_code == 409  # the endpoint at that URL is still there, off
    moved = api.patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"url": url + "/elsewhere"}, format="json"
    )
    assert moved.status_code == 403  # moved, its URL would be free to make again
    page = staff.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode()
    assert 'value="delete"' not in page and 'value="enable"' not in page
    assert list(
        WebhookEndpoint.objects.filter(vendor=vendor).values_list("is_active", flat=True)
    ) == [False]
    admin_client.post(change, {"description": "", "is_active": "on", "disabled_reason": ""})
    assert api.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204  # on again: its own


def test_an_operator_s_save_keeps_a_pause_the_vendor_saved_meanwhile(
    admin_client: Client, category: Category, vendor_client: Any
) -> None:
    vendor = VendorFactory(categories=[category])
    url = f"/admin/marketplace/vendor/{vendor.pk}/change/"
    form = form_as_loaded(admin_client.get(url).content.decode())
    assert "initial-is_paused" in form  # the page sends its values as shown

    paused = vendor_client(vendor).patch("/api/v1/vendor/", {"is_paused": True}, format="json")
    saved = admin_client.post(url, form | {"name": ["Renamed by an operator"]})

    assert (paused.status_code, saved.status_code) == (200, 302)
    vendor.refresh_from_db()
    assert (vendor.name, vendor.is_paused) == ("Renamed by an operator", True)


def test_an_endpoint_an_operator_turned_off_is_turned_on_again_by_an_operator_only(
    admin_client: Client, vendor: Vendor, vendor_client: Any
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.test/in")
    change = f"/admin/marketplace/webhookendpoint/{endpoint.pk}/change/"
    admin_client.post(change, {"description": "", "disabled_reason": "aimed at a stranger"})
    staff = Client()
    staff.force_login(UserFactory(vendor=vendor))

    by_api = vendor_client(vendor).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": True}, format="json"
    )
    by_page = staff.post(f"/vendor/webhooks/{endpoint.pk}/", {"action": "enable"}, follow=True)
    still_off = WebhookEndpoint.objects.get(pk=endpoint.pk)
    admin_client.post(change, {"description": "", "is_active": "on", "disabled_reason": ""})

    assert by_api.status_code == 403
    assert "only an operator turns it on again" in by_page.content.decode()
    assert (still_off.is_active, still_off.disabled_reason) == (False, "aimed at a stranger")
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_by_operator) == (True, False)
    off_by_vendor = vendor_client(vendor).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": False}, format="json"
    )
    on_by_vendor = vendor_client(vendor).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": True}, format="json"
    )
    assert (off_by_vendor.status_code, on_by_vendor.status_code) == (200, 200)  # its own
