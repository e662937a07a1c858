"""Organizations: members and roles, invitations by e-mailed link, skill profiles."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from marketplace.errors import DomainError
from marketplace.models import ExperienceEntry, Invitation, Membership, SkillProfile
from marketplace.organizations import (
    INVITATIONS_PER_ADDRESS_HOUR,
    INVITATIONS_PER_PERSON_HOUR,
    invitation_accept,
    invitation_create,
    membership_remove,
    membership_set_role,
    organization_create,
)
from marketplace.privacy import account_delete, export_user_data
from tests.factories import OrganizationFactory, UserFactory, org_member

pytestmark = pytest.mark.django_db
Role = Membership.Role


def login(client: Client, user: object) -> Client:
    client.force_login(user)
    return client


def test_creating_an_organization_makes_its_creator_owner() -> None:
    user = UserFactory()

    organization = organization_create(owner=user, name="Acme Research")

    assert organization.slug == "acme-research"
    assert list(organization.memberships.values_list("user_id", "role")) == [(user.pk, "owner")]


def test_the_organizations_page_creates_one(client: Client) -> None:
    user = UserFactory()
    login(client, user)

    response = client.post("/orgs/", {"name": "Blue Team", "slug": ""})

    assert response.status_code == 302
    assert response["Location"] == "/orgs/blue-team/members/"
    assert Membership.objects.get(user=user).role == Role.OWNER
    assert "Blue Team" in client.get("/orgs/").content.decode()


# --- Invitations -------------------------------------------------------------------


def _invite_link(email: str) -> str:
    (message,) = [m for m in mail.outbox if email in m.to]
    # At the site's public address (SITE_URL), whatever host the request came to.
    match = re.search(r"https://intentcast\.test(/invitations/[^/\s]+/)", message.body)
    assert match is not None, message.body
    return match.group(1)


def test_an_invitation_is_mailed_and_accepted_by_the_invitee(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    invitee = UserFactory()
    login(client, owner)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/orgs/{organization.slug}/members/", {"email": invitee.email, "role": "admin"}
        )
    link = _invite_link(invitee.email)
    client.logout()
    login(client, invitee)
    page = client.get(link)
    accepted = client.post(link, {"answer": "accept"})

    assert page.status_code == 200
    assert organization.name in page.content.decode()
    assert accepted["Location"] == f"/orgs/{organization.slug}/"
    assert Membership.objects.get(organization=organization, user=invitee).role == Role.ADMIN
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED
    # A used link says so and changes nothing.
    again = client.get(link)
    assert again.status_code == 409
    assert "already accepted" in again.content.decode()


def test_an_invitation_declined_makes_no_member(client: Client) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    invitee = UserFactory()
    issued = invitation_create(actor=owner, organization=organization, email=invitee.email)
    login(client, invitee)

    client.post(f"/invitations/{issued.raw_token}/", {"answer": "decline"})

    assert not Membership.objects.filter(user=invitee).exists()
    assert Invitation.objects.get().status == Invitation.Status.DECLINED


@pytest.mark.parametrize("posted", [{}, {"answer": ""}, {"answer": "maybe"}])
def test_a_post_with_neither_answer_leaves_the_invitation_pending(
    client: Client, posted: dict[str, str]
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    invitee = UserFactory()
    issued = invitation_create(actor=owner, organization=organization, email=invitee.email)
    login(client, invitee)

    response = client.post(f"/invitations/{issued.raw_token}/", posted, follow=True)

    assert "Choose to accept or to decline the invitation." in response.content.decode()
    assert Invitation.objects.get().status == Invitation.Status.PENDING
    assert not Membership.objects.filter(user=invitee).exists()


def test_the_wrong_person_cannot_accept_an_invitation(client: Client) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    issued = invitation_create(
        actor=owner, organization=organization, email="someone.else@example.test"
    )
    intruder = UserFactory()
    login(client, intruder)

    page = client.get(f"/invitations/{issued.raw_token}/")
    client.post(f"/invitations/{issued.raw_token}/", {"answer": "accept"})

    assert page.status_code == 409
    assert "sent to another e-mail address" in page.content.decode()
    assert organization.name not in page.content.decode()  # the link tells them nothing
    assert not Membership.objects.filter(user=intruder).exists()
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_an_expired_or_unknown_invitation_says_so(client: Client) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    invitee = UserFactory()
    issued = invitation_create(actor=owner, organization=organization, email=invitee.email)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    login(client, invitee)

    expired = client.get(f"/invitations/{issued.raw_token}/")
    client.post(f"/invitations/{issued.raw_token}/", {"answer": "accept"})
    unknown = client.get("/invitations/not-a-token/")

    assert "expired" in expired.content.decode()
    assert not Membership.objects.filter(user=invitee).exists()
    assert unknown.status_code == 404
    assert "not valid" in unknown.content.decode()


def test_the_invitation_link_needs_a_login(client: Client) -> None:
    response = client.get("/invitations/anything/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_member_cannot_invite() -> None:
    organization = OrganizationFactory()
    member = org_member(organization)

    with pytest.raises(DomainError) as refused:
        invitation_create(actor=member, organization=organization, email="x@example.test")

    assert refused.value.kind == "forbidden"
    assert Invitation.objects.count() == 0
    assert len(mail.outbox) == 0


def test_a_new_invitation_revokes_the_pending_one() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)

    first = invitation_create(actor=owner, organization=organization, email="a@example.test")
    invitation_create(actor=owner, organization=organization, email="A@example.test")

    first.invitation.refresh_from_db()
    assert first.invitation.status == Invitation.Status.REVOKED
    assert Invitation.objects.filter(status="pending").count() == 1


def test_a_manager_calls_off_a_pending_invitation_and_its_link_no_longer_works(
    client: Client,
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    admin = org_member(organization, role=Role.ADMIN)
    member = org_member(organization)
    invitee = UserFactory(email="wrong@example.test")
    issued = invitation_create(actor=owner, organization=organization, email=invitee.email)
    for_owner = invitation_create(
        actor=owner, organization=organization, email="o@example.test", role=Role.OWNER
    )
    revoke = f"/orgs/{organization.slug}/invitations/{{}}/revoke/"

    page = login(client, admin).get(f"/orgs/{organization.slug}/members/").content.decode()
    by_member = login(Client(), member).post(revoke.format(issued.invitation.pk))
    by_admin_of_owner = login(Client(), admin).post(
        revoke.format(for_owner.invitation.pk), follow=True
    )
    by_admin = client.post(revoke.format(issued.invitation.pk), follow=True)
    again = client.post(revoke.format(issued.invitation.pk), follow=True)

    assert revoke.format(issued.invitation.pk) in page
    assert by_member.status_code == 302  # refused, with the reason as a message
    assert "Only an owner can call off" in by_admin_of_owner.content.decode()
    assert "is called off" in by_admin.content.decode()
    assert "was answered or called off meanwhile" in again.content.decode()
    statuses = dict(Invitation.objects.values_list("email", "status"))
    assert statuses == {invitee.email: "revoked", "o@example.test": "pending"}
    link = login(Client(), invitee)
    assert (
        "This invitation was already revoked"
        in link.get(f"/invitations/{issued.raw_token}/").content.decode()
    )
    link.post(f"/invitations/{issued.raw_token}/", {"answer": "accept"})
    assert not Membership.objects.filter(user=invitee).exists()  # its link no longer works


def test_an_admin_neither_sees_nor_gets_round_calling_off_an_owner_s_invitation(
    client: Client,
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    admin = org_member(organization, role=Role.ADMIN)
    for_owner = invitation_create(
        actor=owner, organization=organization, email="o@example.test", role=Role.OWNER
    )

    page = login(client, admin).get(f"/orgs/{organization.slug}/members/").content.decode()
    with pytest.raises(DomainError) as again:
        invitation_create(actor=admin, organization=organization, email="O@example.test")

    assert f"/invitations/{for_owner.invitation.pk}/revoke/" not in page
    assert again.value.kind == "forbidden"
    assert Invitation.objects.get().status == "pending"  # the owner's, still


def test_an_outsider_cannot_call_off_an_invitation(client: Client) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    issued = invitation_create(actor=owner, organization=organization, email="a@example.test")
    other = OrganizationFactory()
    outsider = org_member(other, role=Role.OWNER)

    mine = login(client, outsider).post(
        f"/orgs/{other.slug}/invitations/{issued.invitation.pk}/revoke/"
    )
    theirs = client.post(f"/orgs/{organization.slug}/invitations/{issued.invitation.pk}/revoke/")

    assert (mine.status_code, theirs.status_code) == (404, 404)
    assert Invitation.objects.get().status == "pending"


def test_one_address_gets_a_few_invitations_an_hour_and_the_refusal_says_so(
    client: Client, mailoutbox: list, django_capture_on_commit_callbacks: Any
) -> None:
    """An organization's name is its creator's to choose: invitations are not a way
    to mail an address at will (DESIGN §1.2)."""
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    client.force_login(owner)
    url = f"/orgs/{organization.slug}/members/"

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(INVITATIONS_PER_ADDRESS_HOUR):
            client.post(url, {"email": "target@example.test", "role": "member"})
        refused = client.post(url, {"email": "target@example.test", "role": "member"})

    assert refused.status_code == 200
    assert "This address had its invitations for this hour" in refused.content.decode()
    assert len(mailoutbox) == INVITATIONS_PER_ADDRESS_HOUR
    assert Invitation.objects.filter(email="target@example.test").count() == (
        INVITATIONS_PER_ADDRESS_HOUR
    )
    # Another address is still invited.
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(actor=owner, organization=organization, email="other@example.test")
    assert len(mailoutbox) == INVITATIONS_PER_ADDRESS_HOUR + 1


def test_one_person_sends_a_bounded_number_of_invitations_an_hour(
    mailoutbox: list, django_capture_on_commit_callbacks: Any
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(INVITATIONS_PER_PERSON_HOUR):
            invitation_create(
                actor=owner, organization=organization, email=f"p{number}@example.test"
            )
        with pytest.raises(DomainError, match="invitations this hour"):
            invitation_create(actor=owner, organization=organization, email="one-more@example.test")

    assert len(mailoutbox) == INVITATIONS_PER_PERSON_HOUR
    assert not Invitation.objects.filter(email="one-more@example.test").exists()


# --- Roles --------------------------------------------------------------------------


def test_the_last_owner_can_be_neither_demoted_nor_removed() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    org_member(organization, role=Role.ADMIN)  # alone, they may leave (tests/offers)
    membership = Membership.objects.get(user=owner)

    with pytest.raises(DomainError) as demoted:
        membership_set_role(actor=owner, membership=membership, role=Role.ADMIN)
    with pytest.raises(DomainError) as removed:
        membership_remove(actor=owner, membership=membership)

    assert "last owner" in demoted.value.message
    assert "last owner" in removed.value.message
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_an_owner_hands_over_then_steps_down() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    successor = org_member(organization, role=Role.ADMIN)

    membership_set_role(
        actor=owner, membership=Membership.objects.get(user=successor), role=Role.OWNER
    )
    membership_set_role(actor=owner, membership=Membership.objects.get(user=owner), role="member")

    assert dict(Membership.objects.values_list("user_id", "role")) == {
        owner.pk: "member",
        successor.pk: "owner",
    }


def test_an_admin_cannot_touch_an_owner_or_make_one() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    admin = org_member(organization, role=Role.ADMIN)
    member = org_member(organization)

    for membership, role in (
        (Membership.objects.get(user=owner), Role.MEMBER),
        (Membership.objects.get(user=member), Role.OWNER),
    ):
        with pytest.raises(DomainError) as refused:
            membership_set_role(actor=admin, membership=membership, role=role)
        assert refused.value.kind == "forbidden"
    with pytest.raises(DomainError):
        membership_remove(actor=admin, membership=Membership.objects.get(user=owner))

    assert dict(Membership.objects.values_list("user_id", "role")) == {
        owner.pk: "owner",
        admin.pk: "admin",
        member.pk: "member",
    }


def test_the_members_page_manages_roles_and_removes(client: Client) -> None:
    organization = OrganizationFactory()
    admin = org_member(organization, role=Role.ADMIN)
    org_member(organization, role=Role.OWNER)
    member = org_member(organization)
    target = Membership.objects.get(user=member)
    login(client, admin)

    page = client.get(f"/orgs/{organization.slug}/members/")
    client.post(f"/orgs/{organization.slug}/members/{target.pk}/role/", {"role": "admin"})
    promoted = Membership.objects.get(pk=target.pk).role
    client.post(f"/orgs/{organization.slug}/members/{target.pk}/remove/")

    assert page.status_code == 200
    assert f'for="role-{target.pk}"' in page.content.decode()
    assert promoted == Role.ADMIN
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_a_member_hears_when_their_role_changes_or_they_are_removed_not_when_they_leave(
    django_capture_on_commit_callbacks: Any,
) -> None:
    organization = OrganizationFactory(name="Acme")
    owner = org_member(organization, role=Role.OWNER)
    member, leaver = org_member(organization), org_member(organization)
    target = Membership.objects.select_related("organization").get(user=member)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        membership_set_role(actor=owner, membership=target, role=Role.ADMIN)
        membership_set_role(actor=owner, membership=target, role=Role.ADMIN)  # no change
        membership_remove(actor=owner, membership=target)
        membership_remove(
            actor=leaver,
            membership=Membership.objects.select_related("organization").get(user=leaver),
        )

    assert [(m.to, m.subject) for m in mail.outbox if "Acme" in m.subject] == [
        ([member.email], "Your role in Acme changed"),
        ([member.email], "You were removed from Acme"),
    ]
    assert "made you admin of Acme (you were member)" in mail.outbox[0].body
    assert owner.username in mail.outbox[1].body


def test_a_plain_member_cannot_manage_and_outsiders_get_404(client: Client) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    member = org_member(organization)
    owner_membership = Membership.objects.get(user=owner)
    login(client, member)

    client.post(f"/orgs/{organization.slug}/members/{owner_membership.pk}/remove/")
    client.post(
        f"/orgs/{organization.slug}/members/", {"email": "x@example.test", "role": "member"}
    )
    client.logout()
    login(client, UserFactory())
    outsider = client.get(f"/orgs/{organization.slug}/members/")

    assert Membership.objects.filter(pk=owner_membership.pk).exists()
    assert Invitation.objects.count() == 0
    assert outsider.status_code == 404


# --- Skills: the person's own data --------------------------------------------------


def test_my_skills_page_saves_skills_and_experience(client: Client) -> None:
    user = UserFactory()
    login(client, user)

    client.post("/me/skills/", {"form": "skills", "skills": "Python, data analysis, python"})
    client.post(
        "/me/skills/",
        {
            "form": "experience",
            "title": "Billing migration",
            "started_on": "2024-01-01",
            "ended_on": "2024-06-30",
            "outcome": "Shipped on time",
        },
    )
    bad = client.post(
        "/me/skills/",
        {
            "form": "experience",
            "title": "Backwards",
            "started_on": "2024-06-01",
            "ended_on": "2024-01-01",
        },
    )

    profile = SkillProfile.objects.get(user=user)
    assert profile.skills == ["Python", "data analysis"]
    assert "python" in profile.skill_lexemes
    assert list(ExperienceEntry.objects.values_list("title", flat=True)) == ["Billing migration"]
    assert "The end cannot come before the start." in bad.content.decode()


def test_only_the_owner_edits_an_experience_entry(client: Client) -> None:
    owner = UserFactory()
    entry = ExperienceEntry.objects.create(user=owner, title="Mine")
    login(client, UserFactory())

    edit = client.post(f"/me/skills/{entry.pk}/", {"title": "Hijacked"})
    delete = client.post(f"/me/skills/{entry.pk}/", {"action": "delete"})

    assert edit.status_code == delete.status_code == 404
    assert ExperienceEntry.objects.get(pk=entry.pk).title == "Mine"


def test_skills_and_memberships_are_exported_and_erased() -> None:
    organization = OrganizationFactory(name="Acme")
    user = org_member(organization, skills=["negotiation"])
    ExperienceEntry.objects.create(user=user, title="Supplier deal", outcome="Saved 10%")

    document = export_user_data(user)
    account_delete(user=user)

    assert document["knowsAbout"] == ["negotiation"]
    assert document["experience"][0]["name"] == "Supplier deal"
    assert document["experience"][0]["outcome"] == "Saved 10%"
    assert document["memberOf"][0]["memberOf"]["name"] == "Acme"
    assert not SkillProfile.objects.filter(user=user).exists()
    assert not ExperienceEntry.objects.filter(user=user).exists()
    assert not Membership.objects.filter(user=user).exists()


def test_pages_need_a_login(client: Client) -> None:
    for path in ("/orgs/", "/me/skills/"):
        response = client.get(path)
        assert response.status_code == 302, path


def test_when_the_last_owner_deletes_their_account_the_senior_admin_becomes_owner(
    django_capture_on_commit_callbacks: Any,
) -> None:
    organization = OrganizationFactory(name="Acme")
    owner = org_member(organization, role=Membership.Role.OWNER)
    early_member = org_member(organization)
    senior_admin = org_member(organization, role=Membership.Role.ADMIN)
    org_member(organization, role=Membership.Role.ADMIN)  # a later admin
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=owner)

    roles = dict(Membership.objects.values_list("user_id", "role"))
    assert roles[senior_admin.pk] == Membership.Role.OWNER
    assert roles[early_member.pk] == Membership.Role.MEMBER
    assert owner.pk not in roles
    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([senior_admin.email], "You are now an owner of Acme")
    ]
    assert f"https://intentcast.test/orgs/{organization.slug}/members/" in mail.outbox[0].body


def test_a_member_becomes_owner_when_no_admin_is_left_and_co_owners_change_nothing() -> None:
    alone = OrganizationFactory()
    owner = org_member(alone, role=Membership.Role.OWNER)
    first, later = org_member(alone), org_member(alone)
    shared = OrganizationFactory()
    co_owner = org_member(shared, role=Membership.Role.OWNER)
    Membership.objects.create(organization=shared, user=owner, role=Membership.Role.OWNER)
    member = org_member(shared)
    solo = OrganizationFactory()
    Membership.objects.create(organization=solo, user=owner, role=Membership.Role.OWNER)

    account_delete(user=owner)

    roles = dict(Membership.objects.values_list("user_id", "role"))
    assert (roles[first.pk], roles[later.pk]) == (Membership.Role.OWNER, Membership.Role.MEMBER)
    assert (roles[co_owner.pk], roles[member.pk]) == (Membership.Role.OWNER, Membership.Role.MEMBER)
    assert not Membership.objects.filter(organization=solo).exists()


def test_an_invitation_from_someone_who_may_no_longer_invite_makes_no_member() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Role.OWNER)
    admin = org_member(organization, role=Role.ADMIN)
    friend = UserFactory(email="friend@example.test")
    sent = invitation_create(
        actor=admin, organization=organization, email=friend.email, role=Role.ADMIN
    ).invitation
    membership_remove(actor=owner, membership=Membership.objects.get(user=admin))

    with pytest.raises(DomainError, match="no longer holds"):
        invitation_accept(invitation=sent, user=friend)

    assert not Membership.objects.filter(organization=organization, user=friend).exists()
    sent.refresh_from_db()
    assert sent.status == Invitation.Status.PENDING  # nothing changed; it runs out in 7 days
    # One from a manager still in place works.
    again = invitation_create(actor=owner, organization=organization, email=friend.email)
    invitation_accept(invitation=again.invitation, user=friend)
    assert Membership.objects.get(organization=organization, user=friend).role == Role.MEMBER


def test_an_owner_invitation_needs_its_sender_still_an_owner() -> None:
    organization = OrganizationFactory()
    first = org_member(organization, role=Role.OWNER)
    second = org_member(organization, role=Role.OWNER)
    invitee = UserFactory(email="next-owner@example.test")
    sent = invitation_create(
        actor=second, organization=organization, email=invitee.email, role=Role.OWNER
    ).invitation
    membership_set_role(actor=first, membership=Membership.objects.get(user=second), role="admin")

    with pytest.raises(DomainError, match="no longer holds"):
        invitation_accept(invitation=sent, user=invitee)
    assert not Membership.objects.filter(user=invitee).exists()


def test_a_name_with_no_latin_letter_asks_for_an_address_by_that_field(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.post("/orgs/", {"name": "日本チーム", "slug": ""})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Choose an address: letters a–z, digits and hyphens." in html
    assert "Give a name." not in html
    created = client.post("/orgs/", {"name": "日本チーム", "slug": "nihon-team"})
    assert created.status_code == 302
