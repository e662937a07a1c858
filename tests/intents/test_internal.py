"""Internal intents: posted in an organization, matched to its members by their skills."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from intents.models import Intent, Notice
from intents.notices import CATCH_UP_LIMIT, intent_match, member_catch_up, notice_send_email
from intents.services import intent_create, intent_create_internal, intent_set_hidden
from marketplace.errors import DomainError
from marketplace.models import Category, Event, Membership, SkillProfile
from marketplace.organizations import (
    experience_entry_create,
    experience_entry_delete,
    experience_entry_update,
    invitation_accept,
    invitation_create,
    skill_profile_update,
)
from marketplace.search import lexemes
from tests.factories import (
    CategoryFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(db: None) -> Category:
    return CategoryFactory(slug="finance", name="Finance")


def _post(organization: Any, poster: Any, category: Category, **fields: Any) -> Intent:
    values: dict[str, Any] = {
        "title": "Automate the month-end reconciliation",
        "description": "Python scripts against the ledger; some SQL.",
        "category": category,
        "reward_amount": Decimal("500.00"),
        "reward_currency": "EUR",
        "offers_close_at": timezone.now() + timedelta(days=5),
    }
    return intent_create_internal(poster=poster, organization=organization, **(values | fields))


def test_members_with_matching_skills_are_noticed_and_emailed(
    finance: Category, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization, skills=["python"])
    pythonista = org_member(organization, skills=["Python", "Excel"])
    sql_person = org_member(organization, skills=["SQL", "reconciliations"])
    org_member(organization, skills=["gardening"])
    org_member(organization)  # no skills
    outsider = UserFactory()
    skill_profile_update(user=outsider, skills=["python"])
    VendorFactory(categories=[finance], regions=["*"])

    with django_capture_on_commit_callbacks(execute=True):
        intent = _post(organization, poster, finance)

    notices = {notice.member_id: notice for notice in Notice.objects.filter(intent=intent)}
    assert set(notices) == {pythonista.pk, sql_person.pk}
    assert all(notice.vendor_id is None for notice in notices.values())
    # The reasons name the member's own skills (as they wrote them) that occur in the text.
    assert notices[pythonista.pk].reasons == ["member of the organization", "skills: Python"]
    assert notices[sql_person.pk].reasons == [
        "member of the organization",
        "skills: SQL, reconciliations",
    ]
    assert Event.objects.count() == 0  # no vendor ever hears of it
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [pythonista.email, sql_person.email]
    )
    assert all(message.subject.startswith("An RFP for you in Acme") for message in mail.outbox)
    body = next(m.body for m in mail.outbox if m.to == [pythonista.email])
    assert "Why you: member of the organization · skills: Python" in body
    assert f"https://intentcast.test/orgs/{organization.slug}/rfps/{intent.pk}/" in body
    assert Notice.objects.filter(state=Notice.State.DELIVERED).count() == 2


def test_matching_twice_makes_no_second_notice(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    org_member(organization, skills=["python"])
    intent = internal_intent(organization, poster, category=finance, needs_matching=True)

    first = intent_match(intent_id=intent.pk)
    second = intent_match(intent_id=intent.pk)

    assert (len(first), len(second)) == (1, 0)
    assert Notice.objects.filter(intent=intent).count() == 1


def test_the_cap_limits_members_noticed(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    for _ in range(3):
        org_member(organization, skills=["python"])
    intent = internal_intent(organization, poster, category=finance, max_vendors=2)

    intent_match(intent_id=intent.pk)

    assert Notice.objects.filter(intent=intent).count() == 2


def test_only_members_post_internal_intents(finance: Category) -> None:
    organization = OrganizationFactory()

    with pytest.raises(DomainError) as refused:
        _post(organization, UserFactory(), finance)

    assert refused.value.kind == "forbidden"
    assert Intent.objects.count() == 0


def test_points_reward_has_no_currency(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)

    intent = _post(
        organization, poster, finance, reward_amount=Decimal("300"), reward_is_points=True
    )

    assert (intent.currency, intent.reward_text) == ("XXX", "300 points")
    assert intent.visibility == Intent.Visibility.INTERNAL
    assert intent.status == Intent.Status.OPEN


def test_a_reward_is_required_and_not_negative(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)

    for amount in (None, Decimal("-1")):
        with pytest.raises(DomainError) as refused:
            _post(organization, poster, finance, reward_amount=amount)
        assert "reward_amount" in refused.value.errors
    assert Intent.objects.count() == 0


def test_a_reward_in_a_currency_without_cents_is_whole(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)

    with pytest.raises(DomainError) as refused:
        _post(
            organization, poster, finance, reward_amount=Decimal("1000.50"), reward_currency="JPY"
        )

    assert refused.value.errors["reward_amount"] == ["JPY has no minor unit: give a whole amount."]
    assert Intent.objects.count() == 0
    intent = _post(
        organization, poster, finance, reward_amount=Decimal(1000), reward_currency="JPY"
    )
    assert intent.reward_text == "1000 JPY"


def test_a_public_intent_cannot_be_internal_or_carry_a_reward(finance: Category) -> None:
    buyer = UserFactory()
    base = {
        "title": "Boiler",
        "description": "Fix it",
        "category": finance,
        "currency": "EUR",
        "country": "DE",
        "offers_close_at": timezone.now() + timedelta(days=3),
    }

    with pytest.raises(DomainError) as internal:
        intent_create(buyer=buyer, visibility="internal", **base)
    with pytest.raises(DomainError) as rewarded:
        intent_create(buyer=buyer, reward_amount=Decimal(5), **base)

    assert "visibility" in internal.value.errors
    assert "reward_amount" in rewarded.value.errors
    assert Intent.objects.count() == 0


def test_a_notice_is_for_a_vendor_or_a_member_never_both_or_neither(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    member = org_member(organization)
    intent = internal_intent(organization, poster, category=finance)
    vendor = VendorFactory()

    for fields in ({}, {"vendor": vendor, "member": member}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Notice.objects.create(intent=intent, **fields)
    Notice.objects.create(intent=intent, member=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notice.objects.create(intent=intent, member=member)

    assert Notice.objects.count() == 1


def test_an_internal_intent_needs_its_organization_in_the_database(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    intent = internal_intent(organization, poster, category=finance)

    with pytest.raises(IntegrityError), transaction.atomic():
        Intent.objects.filter(pk=intent.pk).update(organization=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Intent.objects.filter(pk=intent.pk).update(reward_amount=None)

    assert Membership.objects.count() == 1


def test_posting_an_rfp_on_the_web(
    client: Any, finance: Category, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(slug="acme")
    poster = org_member(organization)
    matched = org_member(organization, skills=["reconciliation"])
    client.force_login(poster)

    form = client.get("/orgs/acme/rfps/new/")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/orgs/acme/rfps/new/",
            {
                "title": "Faster reconciliation",
                "description": "Our reconciliation takes days.",
                "category": finance.pk,
                "reward_amount": "250",
                "reward_currency": "EUR",
                "offers_close_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
                "max_members": "10",
            },
        )
    missing_currency = client.post(
        "/orgs/acme/rfps/new/",
        {
            "title": "No currency",
            "description": "x",
            "category": finance.pk,
            "reward_amount": "5",
            "offers_close_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "max_members": "10",
        },
    )
    intent = Intent.objects.get()
    client.force_login(matched)
    page = client.get("/orgs/acme/")

    assert '<label for="id_reward_amount">' in form.content.decode()
    assert response["Location"] == f"/orgs/acme/rfps/{intent.pk}/"
    assert (intent.reward_text, intent.organization_id) == ("250.00 EUR", organization.pk)
    assert "Give the reward&#x27;s currency" in missing_currency.content.decode()
    body = page.content.decode()
    assert "RFPs for you" in body and "Faster reconciliation" in body
    assert "Why you: member of the organization · skills: reconciliation" in body


def test_opening_the_rfp_reads_the_members_notice(client: Any, finance: Category) -> None:
    organization = OrganizationFactory(slug="acme")
    poster = org_member(organization)
    member = org_member(organization, skills=["python"])
    intent = internal_intent(organization, poster, category=finance)
    intent_match(intent_id=intent.pk)
    client.force_login(member)

    before = client.get("/orgs/acme/").content.decode()
    client.get(f"/orgs/acme/rfps/{intent.pk}/")
    after = client.get("/orgs/acme/").content.decode()

    assert 'aria-label="unread"' in before
    assert 'aria-label="unread"' not in after
    assert Notice.objects.get(intent=intent).read_at is not None


def test_a_member_who_adds_skills_hears_of_open_rfps(
    finance: Category, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization)
    member = org_member(organization, skills=["gardening"])
    fitting = internal_intent(organization, poster, category=finance)
    internal_intent(organization, poster, category=finance, status=Intent.Status.CLOSED)
    internal_intent(organization, poster, category=finance, is_hidden=True)
    internal_intent(organization, member, category=finance)  # their own RFP
    other_organization = OrganizationFactory()
    internal_intent(other_organization, org_member(other_organization), category=finance)
    assert intent_match(intent_id=fitting.pk) == []  # nobody's skills fit yet

    with django_capture_on_commit_callbacks(execute=True):
        skill_profile_update(user=member, skills=["Python", "gardening"])

    notice = Notice.objects.get(member=member)
    assert notice.intent_id == fitting.pk
    assert notice.reasons == ["member of the organization", "skills: Python"]
    assert [message.to for message in mail.outbox] == [[member.email]]
    assert member_catch_up(user_id=member.pk) == 0  # again: nothing new


def test_a_person_who_joins_hears_of_open_rfps_that_fit(
    finance: Category, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(name="Acme")
    owner = org_member(organization, role=Membership.Role.OWNER)
    intent = internal_intent(organization, owner, category=finance)
    newcomer = UserFactory()
    skill_profile_update(user=newcomer, skills=["SQL"])
    assert not Notice.objects.filter(member=newcomer).exists()  # an outsider hears nothing
    issued = invitation_create(actor=owner, organization=organization, email=newcomer.email)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        invitation_accept(invitation=issued.invitation, user=newcomer)

    assert Notice.objects.get(member=newcomer).intent_id == intent.pk
    assert [message.to for message in mail.outbox] == [[newcomer.email]]


def test_catch_up_keeps_the_cap(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    first = org_member(organization, skills=["python"])
    intent = internal_intent(organization, poster, category=finance, max_vendors=1)
    intent_match(intent_id=intent.pk)
    late = org_member(organization, skills=["python"])

    assert member_catch_up(user_id=late.pk) == 0  # the one place is taken
    assert list(Notice.objects.filter(intent=intent).values_list("member_id", flat=True)) == [
        first.pk
    ]


def test_the_catch_up_reaches_rfps_with_a_members_skills_behind_many_without(
    finance: Category,
) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    soon = timezone.now() + timedelta(days=1)
    for _ in range(CATCH_UP_LIMIT):
        internal_intent(
            organization,
            poster,
            category=finance,
            offers_close_at=soon,
            description="Negotiate the office lease.",
        )
    fitting = internal_intent(
        organization, poster, category=finance, offers_close_at=soon + timedelta(days=4)
    )  # mentions python
    member = org_member(organization, skills=["python"])

    assert member_catch_up(user_id=member.pk) == 1
    assert list(Notice.objects.filter(member=member).values_list("intent_id", flat=True)) == [
        fitting.pk
    ]


def test_a_deactivated_person_is_not_caught_up(finance: Category) -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    intent = internal_intent(organization, poster, category=finance)
    gone = org_member(organization, skills=["python"], is_active=False)

    assert member_catch_up(user_id=gone.pk) == 0
    assert not Notice.objects.filter(intent=intent).exists()


def test_a_waiting_notice_email_is_not_sent_once_it_no_longer_applies() -> None:
    """An e-mail that waited (broker down, sending failed) tells only who may still see it."""
    organization = OrganizationFactory()
    poster = org_member(organization)
    leaver, stayer, later = (org_member(organization) for _ in range(3))
    intent = internal_intent(organization, poster)
    hidden = internal_intent(organization, poster)
    Intent.objects.filter(pk=hidden.pk).update(is_hidden=True)
    to_leaver, to_stayer, on_hidden = (
        Notice.objects.create(intent=intent, member=leaver, reasons=["skills: sql"]),
        Notice.objects.create(intent=intent, member=stayer, reasons=["skills: sql"]),
        Notice.objects.create(intent=hidden, member=later, reasons=["skills: sql"]),
    )
    Membership.objects.filter(user=leaver).delete()

    for notice in (to_leaver, to_stayer, on_hidden):
        notice_send_email(notice_id=notice.pk)

    assert [message.to for message in mail.outbox] == [[stayer.email]]
    assert not Notice.objects.filter(
        pk__in=[to_leaver.pk, on_hidden.pk], state=Notice.State.DELIVERED
    ).exists()


def test_a_member_s_experience_matches_them_too(finance: Category) -> None:
    """DESIGN §3: the skill profile — skills and experience entries — matches members."""
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization)
    expert = org_member(organization)  # no skills: an experience entry alone
    experience_entry_create(user=expert, title="Reconciliation automation")
    rfp = internal_intent(
        organization,
        poster,
        category=finance,
        title="Reconciliation",
        description="Automate our month-end reconciliation.",
    )

    intent_match(intent_id=rfp.pk)

    notice = Notice.objects.get(intent=rfp, member=expert)
    assert notice.reasons == ["member of the organization", "experience: Reconciliation automation"]


def test_an_experience_entry_added_edited_or_deleted_is_what_matching_reads(
    finance: Category, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization)
    member = org_member(organization, skills=["gardening"])
    fitting = internal_intent(
        organization, poster, category=finance, title="Payroll", description="Payroll audit."
    )
    assert intent_match(intent_id=fitting.pk) == []

    with django_capture_on_commit_callbacks(execute=True):  # the catch-up after commit
        entry = experience_entry_create(user=member, title="Payroll lead")

    assert Notice.objects.filter(intent=fitting, member=member).exists()
    experience_entry_update(user=member, entry=entry, title="Tax adviser")
    assert SkillProfile.objects.get(user=member).skill_lexemes == lexemes("gardening Tax adviser")
    experience_entry_delete(user=member, entry=entry)
    assert SkillProfile.objects.get(user=member).skill_lexemes == lexemes("gardening")


def test_the_poster_of_a_hidden_rfp_hears_of_its_members_and_gets_a_link_that_opens(
    finance: Category, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory(name="Acme", slug="acme")
    poster = org_member(organization)
    intent = internal_intent(organization, poster)
    client.force_login(poster)

    for is_hidden in (True, False):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            intent_set_hidden(intent=intent, is_hidden=is_hidden)
        [told] = mail.outbox
        link = re.search(r"https?://\S+", told.body)[0]

        assert "vendor" not in told.body.lower() and "members" in told.body
        assert "in Acme" in told.body
        assert client.get(urlsplit(link).path, follow=True).status_code == 200, link
