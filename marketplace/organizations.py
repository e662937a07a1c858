"""Organizations: members and roles, invitations, and members' skill profiles.

Writes and the reads that decide who may see what. Role changes and
removals lock the organization's memberships (``select_for_update``) so two
admins acting at once cannot leave an organization without an owner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from marketplace.accounts import HOUR, this_hour
from marketplace.counters import count_in_windows
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, DomainError
from marketplace.links import absolute_url
from marketplace.mail import send_mail_after_commit
from marketplace.models import (
    ExperienceEntry,
    Invitation,
    Membership,
    Organization,
    SkillProfile,
    User,
)
from marketplace.privacy import admin_log_forget
from marketplace.queue import enqueue_on_commit
from marketplace.search import lexemes

Role = Membership.Role
INVITATION_LIFETIME = timedelta(days=7)
# Invitation e-mails an hour (fixed windows), as for the account e-mails.
INVITATIONS_PER_ADDRESS_HOUR = 5
INVITATIONS_PER_PERSON_HOUR = 50
INVITATION_COUNTER_PREFIX = "invitation-mails:"
MAX_SKILLS = 50
MAX_SKILL_LENGTH = 60


# --- Reads -----------------------------------------------------------------------


def membership_of(*, user: User, organization: Organization) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(organization=organization, user=user).first()


def organization_for_member(*, user: User, slug: str) -> tuple[Organization, Membership]:
    """The organization and the person's membership; a non-member gets NOT_FOUND (a 404)."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(organization__slug=slug, user=user)
        .first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise DomainError("No such organization of yours.", kind=NOT_FOUND)
    return membership.organization, membership


def memberships_of_user(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization")


def members_of_organization(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def pending_invitations(organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization,
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    )


# --- Organizations and members ---------------------------------------------------


def organization_create(*, owner: User, name: str, slug: str = "") -> Organization:
    """A new organization, with its creator as owner."""
    name = name.strip()
    slug = slugify(slug or name)[:80]
    if not name:
        raise DomainError("Give the organization a name.", errors={"name": ["Give a name."]})
    if not slug:  # a name with no letter a–z or digit makes no address by itself
        message = "Choose an address: letters a–z, digits and hyphens."
        raise DomainError(message, errors={"slug": [message]})
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name[:200], slug=slug)
            Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    except IntegrityError:
        raise DomainError(
            "This address is taken.", errors={"slug": [f"“{slug}” is taken; choose another."]}
        ) from None
    return organization


def _require_manager(*, actor: User, organization: Organization) -> Membership:
    membership = membership_of(user=actor, organization=organization)
    if membership is None or not membership.can_manage:
        raise DomainError("Only the organization's owners and admins can do that.", kind=FORBIDDEN)
    return membership


def _hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    raw_token: str


def invitation_create(
    *,
    actor: User,
    organization: Organization,
    email: str,
    role: str = Role.MEMBER,
) -> IssuedInvitation:
    """Invite an e-mail address; the link (at SITE_URL, with the token) goes out by e-mail.

    Only owners may invite owners. A pending invitation to the same address is
    revoked, so the newest link is the only one that works.
    """
    actor_membership = _require_manager(actor=actor, organization=organization)
    email = email.strip().lower()
    if "@" not in email:
        raise DomainError("Give an e-mail address.", errors={"email": ["Give an e-mail address."]})
    if role not in Role.values:
        raise DomainError("Choose a role.", errors={"role": ["Choose a role."]})
    if not actor_membership.may_invite_as(role):
        raise DomainError("Only an owner can invite an owner.", kind=FORBIDDEN)
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise DomainError(
            "This person is already a member.",
            kind=CONFLICT,
            errors={"email": ["Already a member."]},
        )
    if not actor_membership.may_invite_as(Role.OWNER) and (
        Invitation.objects.filter(
            organization=organization,
            email=email,
            status=Invitation.Status.PENDING,
            role=Role.OWNER,
            expires_at__gt=timezone.now(),
        ).exists()
    ):
        # A new invitation replaces the pending one: an owner's is an owner's to replace.
        raise DomainError(
            "An owner invited this address; only an owner can invite it again.",
            kind=FORBIDDEN,
            errors={"email": ["An owner invited this address already."]},
        )
    _count_invitation_mail(actor=actor, email=email)
    raw_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        Invitation.objects.filter(
            organization=organization, email=email, status=Invitation.Status.PENDING
        ).update(status=Invitation.Status.REVOKED, answered_at=timezone.now())
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            invited_by=actor,
            hashed_token=_hash_token(raw_token),
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        link = absolute_url("invitation", raw_token)
        send_mail_after_commit(
            subject=f"You are invited to {organization.name} on Intentcast",
            message=(
                f"{actor.get_username()} invites you to join {organization.name} "
                f"as {invitation.get_role_display().lower()}.\n\n"
                f"Accept or decline here, logged in with this e-mail address (sign up with it"
                f" first if you have no account, then open this link again):\n  {link}\n\n"
                f"The link works until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            ),
            recipient_list=[email],
        )
    return IssuedInvitation(invitation=invitation, raw_token=raw_token)


def invitation_revoke(*, actor: User, invitation: Invitation) -> bool:
    """An owner or admin calls off a pending invitation (sent to the wrong address, say):
    its link no longer works. An owner invitation is an owner's to call off, as to send.
    False when it was answered or called off meanwhile."""
    actor_membership = _require_manager(actor=actor, organization=invitation.organization)
    if not actor_membership.may_invite_as(invitation.role):
        raise DomainError("Only an owner can call off an owner's invitation.", kind=FORBIDDEN)
    return bool(
        Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
            status=Invitation.Status.REVOKED, answered_at=timezone.now()
        )
    )


def _count_invitation_mail(*, actor: User, email: str) -> None:
    """Refuse an invitation e-mail past the hour's share: to one address, and from one
    person (the organization's name is theirs to choose, so mail is not to be sent
    at will). Not counted, and let through, when Redis does not answer."""
    hour = this_hour()
    counts = count_in_windows(
        [
            (f"{INVITATION_COUNTER_PREFIX}to:{email}:{hour}", HOUR + 1),
            (f"{INVITATION_COUNTER_PREFIX}from:{actor.pk}:{hour}", HOUR + 1),
        ]
    )
    if counts is None:
        return
    to_address, from_person = counts
    if to_address > INVITATIONS_PER_ADDRESS_HOUR:
        message = "This address had its invitations for this hour; try again later."
        raise DomainError(message, kind=CONFLICT, errors={"email": [message]})
    if from_person > INVITATIONS_PER_PERSON_HOUR:
        raise DomainError(
            f"You sent {INVITATIONS_PER_PERSON_HOUR} invitations this hour; try again later.",
            kind=CONFLICT,
        )


def invitation_by_token(*, raw_token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(hashed_token=_hash_token(raw_token))
        .first()
    )
    if invitation is None:
        raise DomainError("This invitation link is not valid.", kind=NOT_FOUND)
    return invitation


def invitation_check(*, invitation: Invitation, user: User) -> None:
    """Why this person cannot answer this invitation, as a DomainError; nothing if they can."""
    if invitation.status != Invitation.Status.PENDING:
        raise DomainError(
            f"This invitation was already {invitation.status}; ask for a new one.", kind=CONFLICT
        )
    if invitation.expires_at <= timezone.now():
        raise DomainError("This invitation has expired; ask for a new one.", kind=CONFLICT)
    if user.email.lower() != invitation.email.lower():
        raise DomainError(
            "This invitation was sent to another e-mail address. "
            "Log in with the address it was sent to.",
            kind=FORBIDDEN,
        )


def _answer_invitation(*, invitation: Invitation, user: User, status: str) -> Invitation:
    invitation_check(invitation=invitation, user=user)
    with transaction.atomic():
        # Claimed by a guarded update: the link works once.
        claimed = Invitation.objects.filter(
            pk=invitation.pk, status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
        ).update(status=status, answered_at=timezone.now())
        if not claimed:
            raise DomainError("This invitation was already answered.", kind=CONFLICT)
        if status == Invitation.Status.ACCEPTED:
            # Whoever sent it must still be allowed to: an admin removed or demoted since
            # makes no member through a link sent before.
            memberships = _lock_memberships(invitation.organization)
            sender = next(
                (m for m in memberships.values() if m.user_id == invitation.invited_by_id), None
            )
            if (
                sender is None
                or not sender.can_manage
                or (invitation.role == Role.OWNER and sender.role != Role.OWNER)
            ):
                raise DomainError(
                    "This invitation no longer holds: whoever sent it may no longer invite."
                    " Ask the organization for a new one.",
                    kind=CONFLICT,
                )
            Membership.objects.get_or_create(
                organization=invitation.organization,
                user=user,
                defaults={"role": invitation.role},
            )
            # The organization's open RFPs that fit their skills are noticed after commit.
            member_request_catch_up(user_id=user.pk)
    invitation.refresh_from_db()
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Invitation:
    return _answer_invitation(invitation=invitation, user=user, status=Invitation.Status.ACCEPTED)


def invitation_decline(*, invitation: Invitation, user: User) -> Invitation:
    return _answer_invitation(invitation=invitation, user=user, status=Invitation.Status.DECLINED)


def _lock_memberships(organization: Organization) -> dict[Any, Membership]:
    return {
        membership.pk: membership
        for membership in Membership.objects.select_for_update()
        .filter(organization=organization)
        .order_by("pk")
    }


def organization_left_without_owner(
    organization_id: Any, *, removing: Collection[Any] = (), demoting: Collection[Any] = ()
) -> bool:
    """Would removing and demoting these memberships leave members but no owner?

    The services keep the rule under a row lock (``membership_set_role``,
    ``membership_remove``); the admin site asks this before its own edits.
    """
    left = Membership.objects.filter(organization_id=organization_id).exclude(pk__in=removing)
    return left.exists() and not left.filter(role=Role.OWNER).exclude(pk__in=demoting).exists()


def _owners_left(memberships: dict[Any, Membership], without: Membership) -> int:
    return sum(1 for m in memberships.values() if m.role == Role.OWNER and m.pk != without.pk)


def membership_set_role(*, actor: User, membership: Membership, role: str) -> Membership:
    """Change a member's role. Owners alone touch the owner role; the last owner stays one."""
    if role not in Role.values:
        raise DomainError("Choose a role.", errors={"role": ["Choose a role."]})
    with transaction.atomic():
        locked_all = _lock_memberships(membership.organization)
        actor_membership = next((m for m in locked_all.values() if m.user_id == actor.pk), None)
        if actor_membership is None or not actor_membership.can_manage:
            raise DomainError(
                "Only the organization's owners and admins can do that.", kind=FORBIDDEN
            )
        locked = locked_all.get(membership.pk)
        if locked is None:
            raise DomainError("This person is no longer a member.", kind=CONFLICT)
        if Role.OWNER in (role, locked.role) and actor_membership.role != Role.OWNER:
            raise DomainError(
                "Only an owner can grant or take away the owner role.", kind=FORBIDDEN
            )
        if (
            locked.role == Role.OWNER
            and role != Role.OWNER
            and not _owners_left(locked_all, locked)
        ):
            raise DomainError(
                "The last owner cannot be demoted; make someone else owner first.", kind=CONFLICT
            )
        Membership.objects.filter(pk=locked.pk).update(role=role)
        if role != locked.role:
            name = membership.organization.name
            _tell_member(
                locked,
                subject=f"Your role in {name} changed",
                said=f"{actor.get_username()} made you {Role(role).label.lower()} of {name}"
                f" (you were {Role(locked.role).label.lower()}).",
            )
    membership.refresh_from_db()
    return membership


def _tell_member(membership: Membership, *, subject: str, said: str) -> None:
    """E-mail the person what an owner or admin changed for them, once committed."""
    user = User.objects.get(pk=membership.user_id)
    if not user.is_active:
        return
    slug = Organization.objects.values_list("slug", flat=True).get(pk=membership.organization_id)
    send_mail_after_commit(
        subject=subject,
        message=f"{said}\n\nThe organization: {absolute_url('offers:organization', slug)}\n",
        recipient_list=[user.email],
    )


def membership_remove(*, actor: User, membership: Membership) -> None:
    """Remove a member (or leave, when ``actor`` is the member). The last owner cannot go."""
    with transaction.atomic():
        locked_all = _lock_memberships(membership.organization)
        locked = locked_all.get(membership.pk)
        if locked is None:
            return  # already gone: removing twice changes nothing
        actor_membership = next((m for m in locked_all.values() if m.user_id == actor.pk), None)
        is_self = locked.user_id == actor.pk
        if not is_self and (actor_membership is None or not actor_membership.can_manage):
            raise DomainError(
                "Only the organization's owners and admins can do that.", kind=FORBIDDEN
            )
        if (
            not is_self
            and locked.role == Role.OWNER
            and actor_membership is not None
            and actor_membership.role != Role.OWNER
        ):
            raise DomainError("Only an owner can remove an owner.", kind=FORBIDDEN)
        # The last owner stays while anyone else is in; alone, they may leave.
        if (
            locked.role == Role.OWNER
            and len(locked_all) > 1
            and not _owners_left(locked_all, locked)
        ):
            raise DomainError(
                "The last owner cannot be removed; make someone else owner first.", kind=CONFLICT
            )
        Membership.objects.filter(pk=locked.pk).delete()
        memberships_removed([locked])
        if not is_self:
            name = membership.organization.name
            _tell_member(
                locked,
                subject=f"You were removed from {name}",
                said=f"{actor.get_username()} removed you from {name}. Your live proposals"
                " there are withdrawn, and your RFPs there withdrawn, their proposals declined.",
            )


def memberships_removed(memberships: Iterable[Membership]) -> None:
    """After memberships were deleted (here, or in the admin): once committed, the people's
    RFPs, live proposals and co-authorships there are cleaned up (``offers.member_left``;
    the beat's ``offers.sweep_departed_members`` catches a clean-up the broker lost)."""
    for membership in memberships:
        enqueue_on_commit("offers.member_left", membership.organization_id, membership.user_id)


# --- Skill profiles (each person's own data) -------------------------------------------


def skill_profile_of(user: User) -> SkillProfile:
    profile, _ = SkillProfile.objects.get_or_create(user=user)
    return profile


def skill_profile_update(*, user: User, skills: list[str]) -> SkillProfile:
    """Replace the person's skills; their lexemes are what matching compares."""
    cleaned: list[str] = []
    for skill in skills:
        skill = " ".join(skill.split())
        if skill and skill.lower() not in {s.lower() for s in cleaned}:
            cleaned.append(skill)
    problems = []
    if len(cleaned) > MAX_SKILLS:
        problems.append(f"At most {MAX_SKILLS} skills.")
    if any(len(skill) > MAX_SKILL_LENGTH for skill in cleaned):
        problems.append(f"A skill is at most {MAX_SKILL_LENGTH} characters.")
    if problems:
        raise DomainError("The skills are not valid.", kind=INVALID, errors={"skills": problems})
    with transaction.atomic():
        profile = skill_profile_of(user)
        profile.skills = cleaned
        profile.save(update_fields=["skills", "updated_at"])
        return skill_profile_refresh(user=user)


def skill_profile_refresh(*, user: User) -> SkillProfile:
    """Derive what matching reads from the person's skills and their experience entries'
    titles (DESIGN §3: the profile, skills and experience, matches them to internal
    RFPs); the open RFPs of their organizations that now fit are noticed after commit.
    Call it after any change to either, inside the change's transaction."""
    profile = skill_profile_of(user)
    titles = list(ExperienceEntry.objects.filter(user=user).values_list("title", flat=True))
    profile.skill_lexemes = lexemes("\n".join([*profile.skills, *titles]))
    profile.save(update_fields=["skill_lexemes", "updated_at"])
    member_request_catch_up(user_id=user.pk)
    return profile


def member_request_catch_up(*, user_id: Any) -> None:
    """Match the person against their organizations' open RFPs, once the caller's
    transaction commits; recorded on their skill profile first, so the beat's sweep
    asks again should the task be lost. Without skills or experience nothing can match
    them."""
    requested = SkillProfile.objects.filter(user_id=user_id).exclude(skill_lexemes=[])
    if requested.update(catch_up_requested_at=timezone.now()):
        enqueue_on_commit("intents.match_member", user_id)


def _validate_experience(fields: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not str(fields.get("title") or "").strip():
        errors["title"] = ["Give it a title."]
    started_on: date | None = fields.get("started_on")
    ended_on: date | None = fields.get("ended_on")
    if started_on and ended_on and started_on > ended_on:
        errors["ended_on"] = ["The end cannot come before the start."]
    return errors


EXPERIENCE_FIELDS = ("title", "description", "started_on", "ended_on", "outcome")


def experience_entry_create(*, user: User, **fields: Any) -> ExperienceEntry:
    errors = _validate_experience(fields)
    if errors:
        raise DomainError("The entry is not valid.", errors=errors)
    with transaction.atomic():
        entry = ExperienceEntry.objects.create(
            user=user, **{k: v for k, v in fields.items() if k in EXPERIENCE_FIELDS}
        )
        skill_profile_refresh(user=user)
    return entry


def experience_entry_update(
    *, user: User, entry: ExperienceEntry, **fields: Any
) -> ExperienceEntry:
    """Only the person it belongs to edits an entry."""
    if entry.user_id != user.pk:
        raise DomainError("Only you can edit your experience.", kind=FORBIDDEN)
    merged = {field: fields.get(field, getattr(entry, field)) for field in EXPERIENCE_FIELDS}
    errors = _validate_experience(merged)
    if errors:
        raise DomainError("The entry is not valid.", errors=errors)
    for field, value in merged.items():
        setattr(entry, field, value)
    with transaction.atomic():
        entry.save()
        skill_profile_refresh(user=user)
    return entry


def experience_entry_delete(*, user: User, entry: ExperienceEntry) -> None:
    if entry.user_id != user.pk:
        raise DomainError("Only you can delete your experience.", kind=FORBIDDEN)
    with transaction.atomic():
        entry.delete()
        skill_profile_refresh(user=user)


# --- The person's export and erasure (registered in MarketplaceConfig.ready) ------------


def export_organizations(user: User, document: dict[str, Any]) -> None:
    """Memberships (schema.org ``memberOf``), skills (``knowsAbout``) and experience."""
    document["memberOf"] = [
        {
            "@type": "OrganizationRole",
            "roleName": membership.role,
            "startDate": membership.created_at.isoformat(),
            "memberOf": {
                "@type": "Organization",
                "name": membership.organization.name,
                "identifier": membership.organization.slug,
            },
        }
        for membership in memberships_of_user(user)
    ]
    profile = SkillProfile.objects.filter(user=user).first()
    document["knowsAbout"] = list(profile.skills) if profile else []
    document["experience"] = [
        {
            "@type": "Role",
            "name": entry.title,
            "description": entry.description,
            "startDate": entry.started_on.isoformat() if entry.started_on else None,
            "endDate": entry.ended_on.isoformat() if entry.ended_on else None,
            "outcome": entry.outcome,
        }
        for entry in ExperienceEntry.objects.filter(user=user)
    ]


def erase_organizations(user: User) -> None:
    """Skills, experience, memberships and invitations to the person's address go.

    An organization whose last owner leaves this way gets a new owner: the
    longest-standing admin, else the longest-standing member, who is told by
    e-mail. Nobody is left unable to manage it.
    """
    for model in (SkillProfile, ExperienceEntry):
        rows = model.objects.filter(user=user)
        admin_log_forget(model, rows.values_list("pk", flat=True))
        rows.delete()
    for membership in Membership.objects.filter(user=user, role=Role.OWNER).select_related(
        "organization"
    ):
        _hand_over_ownership(membership)
    Membership.objects.filter(user=user).delete()
    invitations = Invitation.objects.filter(email__iexact=user.email)
    admin_log_forget(Invitation, invitations.values_list("pk", flat=True))
    invitations.delete()


def _hand_over_ownership(leaving: Membership) -> None:
    """Make someone else owner if ``leaving`` is the organization's last (call in a transaction)."""
    memberships = _lock_memberships(leaving.organization)
    if _owners_left(memberships, leaving):
        return
    others = sorted(
        (m for m in memberships.values() if m.pk != leaving.pk),
        key=lambda m: (m.role != Role.ADMIN, m.created_at, m.pk),
    )
    if not others:
        return  # nobody else: the organization stays, with no one in it
    successor = others[0]
    Membership.objects.filter(pk=successor.pk).update(role=Role.OWNER)
    organization = leaving.organization
    recipient = successor.user.email
    send_mail_after_commit(
        subject=f"You are now an owner of {organization.name}",
        message=(
            f"The last owner of {organization.name} deleted their account, so you are "
            "now its owner: you manage its members and roles.\n\n"
            f"{absolute_url('organization-members', organization.slug)}\n"
        ),
        recipient_list=[recipient],
    )
