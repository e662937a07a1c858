"""Privacy at the edges: sealed bidders, erasure of keys, notices, logs and log-ins; the export."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from intents.models import DELETE_AFTER_AWARD, Intent, IntentTerm, Notice, Term
from intents.notices import intent_match
from intents.services import intent_update
from marketplace.models import Category, ExperienceEntry, User, Vendor
from marketplace.organizations import invitation_create, skill_profile_update
from marketplace.privacy import account_delete, export_user_data
from marketplace.selectors import vendor_mail_recipients
from marketplace.services import vendor_create
from offers.privacy import intents_due_for_deletion_terms
from offers.services import offer_revise, offer_submit
from tests.factories import (
    IntentFactory,
    NoticeFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
)
from tests.test_buyer_control import all_text_values, publish, terms_of

pytestmark = pytest.mark.django_db


# A sealed intent's bidders are not named to the buyer before the deadline, by the audit log either.
def test_a_sealed_intents_bidders_are_not_named_to_the_buyer_before_the_deadline(
    category: Category, buyer: User
) -> None:
    bidder = VendorFactory(name="Quuxbidder GmbH", categories=[category])
    intent = publish(buyer, category, is_sealed=True, terms=terms_of("no-sharing"))
    NoticeFactory(intent=intent, vendor=bidder)
    offer_submit(
        vendor=bidder, intent=intent, price=Decimal("900"), currency="EUR", accept_terms=True
    )
    client = Client()
    client.force_login(buyer)

    page = client.get(f"/intents/{intent.pk}/")
    assert page.status_code == 200
    assert "Quuxbidder" not in page.content.decode()  # the intent page keeps it sealed
    assert "Quuxbidder" not in client.get("/me/").content.decode()
    assert "Quuxbidder" not in json.dumps(export_user_data(buyer))


# Criterion keys (slugs of the buyer's own criterion names) do not survive account deletion.
def test_deletion_leaves_no_criterion_name_in_revisions_or_answers_to_renamed_criteria(
    category: Category, buyer: User, vendor: Vendor
) -> None:
    criteria = [
        {"name": "Price", "kind": "price", "weight": 5},
        {"name": "Zorblax warranty", "kind": "yes_no", "weight": 2},
    ]
    revised = publish(buyer, category, criteria=criteria)
    Notice.objects.get_or_create(intent=revised, vendor=vendor)
    offer = OfferFactory(intent=revised, vendor=vendor, criteria_answers={"zorblax_warranty": True})
    offer_revise(offer=offer, vendor=vendor, criteria_answers={"zorblax_warranty": False})
    renamed = publish(buyer, category, criteria=criteria)
    OfferFactory(intent=renamed, vendor=vendor, criteria_answers={"zorblax_warranty": True})
    intent_update(
        intent=renamed,
        criteria=[criteria[0], {"name": "Warranty", "kind": "yes_no", "weight": 2}],
    )

    account_delete(user=buyer)

    survivors = [
        (table, column, value)
        for table, column, value in all_text_values()
        if "zorblax" in value.lower()
    ]
    assert survivors == []


# A deleted member's notices do not keep the skills they listed.
def test_a_deleted_members_notices_do_not_keep_their_skills() -> None:
    organization = OrganizationFactory()
    member = org_member(organization, skills=["zorblaxing"])
    rfp = internal_intent(organization, org_member(organization), description="Zorblaxing wanted")
    intent_match(intent_id=rfp.pk)
    assert Notice.objects.filter(member=member).exists()

    account_delete(user=member)

    reasons = list(Notice.objects.filter(member=member).values_list("reasons", flat=True))
    assert not any("zorblaxing" in reason for reasons_ in reasons for reason in reasons_), reasons


# The admin's log forgets the titles of a deleted buyer's intents.
def test_deletion_removes_the_buyers_intent_titles_from_the_admin_log(
    category: Category, buyer: User
) -> None:
    intent = publish(buyer, category, title="Zorblax kitchen at Rosenweg 7")
    operator = User.objects.create_superuser(
        username="operator", email="operator@ops.invalid", password="a-long-passphrase"
    )
    client = Client()
    client.force_login(operator)
    form = client.get(f"/admin/intents/intent/{intent.pk}/change/").context["adminform"].form
    data: dict[str, object] = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        else:
            data[name] = [str(v) for v in value] if isinstance(value, list) else str(value)
    data.pop("offers_close_at", None)
    data["offers_close_at_0"] = f"{intent.offers_close_at:%Y-%m-%d}"
    data["offers_close_at_1"] = f"{intent.offers_close_at:%H:%M:%S}"
    data["is_hidden"] = "on"  # a moderator hides it
    assert client.post(f"/admin/intents/intent/{intent.pk}/change/", data).status_code == 302
    assert LogEntry.objects.filter(object_repr__contains="Zorblax").exists()

    account_delete(user=buyer)

    assert not LogEntry.objects.filter(object_repr__contains="Zorblax").exists()


# The poster's export has the reward and organization of their internal RFP.
def test_the_export_has_the_reward_of_an_internal_rfp() -> None:
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization)
    internal_intent(organization, poster, reward_amount=Decimal("1234.00"))

    (demand,) = export_user_data(poster)["seeks"]

    assert "1234.00" in json.dumps(demand), demand
    assert "Acme" in json.dumps(demand), demand


# Failed log-ins recorded under the person's e-mail address go with the deletion.
def test_deletion_removes_login_failures_under_the_persons_email_address() -> None:
    person = User.objects.create_user(
        username="zorblax_user", email="zorblax@priv.invalid", password="a-long-passphrase-1"
    )
    for typed in ("zorblax@priv.invalid", "Zorblax_User"):
        Client().post("/accounts/login/", {"username": typed, "password": "wrong"})

    account_delete(user=person)

    survivors = [
        (table, column, value)
        for table, column, value in all_text_values()
        if "zorblax" in value.lower()
    ]
    assert survivors == []


# The deletion-terms sweep reads only the intents that are due, not every one with the term.
def test_deletion_terms_sweep_reads_only_the_intents_that_are_due(monkeypatch: Any) -> None:
    term = Term.objects.get(code=DELETE_AFTER_AWARD, is_current=True)
    now = timezone.now()
    due = IntentFactory(status=Intent.Status.AWARDED, awarded_at=now - timedelta(days=11))
    IntentTerm.objects.create(intent=due, term=term, days=10)
    for _ in range(30):  # awarded yesterday, to be deleted in ten years: not due
        intent = IntentFactory(status=Intent.Status.AWARDED, awarded_at=now - timedelta(days=1))
        IntentTerm.objects.create(intent=intent, term=term, days=3650)
    loaded: list[int] = []
    original = IntentTerm.from_db.__func__

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        loaded.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(IntentTerm, "from_db", classmethod(counting))

    assert intents_due_for_deletion_terms() == [due]
    assert len(loaded) == 1


# What an operator deleted in the admin stays in its log: not the person's words.
def test_the_admin_log_keeps_no_address_skill_or_experience_of_a_deleted_person(
    admin_client: Client,
) -> None:
    person = UserFactory(email="zq-person@example.test")
    organization = OrganizationFactory()
    owner = org_member(organization, role="owner")
    deleted_invitation = invitation_create(
        actor=owner, organization=organization, email=person.email
    ).invitation
    entry = ExperienceEntry.objects.create(user=person, title="Quuxwright at Zorbcorp")
    profile = skill_profile_update(user=person, skills=["Zorbwelding"])
    for path in (
        f"/admin/marketplace/invitation/{deleted_invitation.pk}/delete/",
        f"/admin/marketplace/experienceentry/{entry.pk}/delete/",
    ):
        assert admin_client.post(path, {"post": "yes"}).status_code == 302
    pending = invitation_create(actor=owner, organization=organization, email=person.email)
    admin_client.post(
        f"/admin/marketplace/invitation/{pending.invitation.pk}/change/",
        {
            "organization": organization.pk,
            "email": person.email,
            "role": "member",
            "status": "pending",
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00:00",
        },
    )
    admin_client.get(f"/admin/marketplace/skillprofile/{profile.pk}/change/")
    assert LogEntry.objects.count() >= 2

    account_delete(user=person)

    logged = " ".join(f"{log.object_repr} {log.change_message}" for log in LogEntry.objects.all())
    for secret in ("zq-person", "Quuxwright", "Zorbwelding"):
        assert secret not in logged


def test_erasing_a_vendor_s_only_staff_member_stops_mailing_them_and_pauses_the_vendor(
    category: Category, django_capture_on_commit_callbacks: Any, mailoutbox: list[Any]
) -> None:
    created = vendor_create(
        name="Solo Trader", email="jane@solo.example", categories=[category], regions=["DE"]
    )

    account_delete(user=created.staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        intent = IntentFactory(category=category, country="DE", status=Intent.Status.OPEN)
        intent_match(intent_id=intent.pk)

    vendor = Vendor.objects.get(pk=created.vendor.pk)
    assert vendor.contact_email != "jane@solo.example"
    assert vendor.is_paused  # nobody left to answer, nor to pause it
    assert not any("jane@solo.example" in message.to for message in mailoutbox)
    assert not Notice.objects.filter(vendor=vendor).exists()


def test_erasing_a_vendor_s_contact_hands_the_mail_to_the_staff_member_left(
    category: Category,
) -> None:
    created = vendor_create(
        name="Duo Trader", email="jane@duo.example", categories=[category], regions=["DE"]
    )
    colleague = UserFactory(vendor=created.vendor, email="sam@duo.example")

    Vendor.objects.filter(pk=created.vendor.pk).update(is_verified=True)

    account_delete(user=created.staff_user)

    vendor = Vendor.objects.get(pk=created.vendor.pk)
    assert (vendor.contact_email, vendor.is_paused) == ("sam@duo.example", False)
    assert vendor.is_verified is False  # an operator checked the address that went
    assert vendor_mail_recipients(vendor) == [colleague.email]
