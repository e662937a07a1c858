"""Organizations on the web: create one, manage members, answer invitations, "My skills".

The organization's market itself (RFPs, proposals, dashboard) is on the
offers layer's pages, which may read intents and offers.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from marketplace.errors import DomainError
from marketplace.forms import (
    ExperienceForm,
    InvitationForm,
    OrganizationForm,
    SkillsForm,
    add_domain_error,
)
from marketplace.models import ExperienceEntry, Invitation, Membership, Organization
from marketplace.organizations import (
    experience_entry_create,
    experience_entry_delete,
    experience_entry_update,
    invitation_accept,
    invitation_by_token,
    invitation_check,
    invitation_create,
    invitation_decline,
    invitation_revoke,
    members_of_organization,
    membership_remove,
    membership_set_role,
    memberships_of_user,
    organization_create,
    organization_for_member,
    pending_invitations,
    skill_profile_of,
    skill_profile_update,
)


def member_organization(request: HttpRequest, slug: str) -> tuple[Organization, Membership]:
    """The organization if the user is a member; a 404 for anyone else."""
    try:
        return organization_for_member(user=request.user, slug=slug)
    except DomainError:
        raise Http404("No such organization of yours.") from None


@login_required
def organizations(request: HttpRequest) -> HttpResponse:
    """The person's organizations, and a form to start one."""
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organization_create(owner=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{organization.name} is ready; invite your colleagues.")
            return redirect("organization-members", slug=organization.slug)
    return render(
        request,
        "marketplace/organizations.html",
        {"memberships": memberships_of_user(request.user), "form": form},
    )


@login_required
def organization_members(request: HttpRequest, slug: str) -> HttpResponse:
    """Members and roles; owners and admins invite, change roles and remove."""
    organization, membership = member_organization(request, slug)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation_create(actor=request.user, organization=organization, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("organization-members", slug=slug)
    invitations = list(pending_invitations(organization)) if membership.can_manage else []
    for invitation in invitations:  # an owner's invitation, an owner alone may call off
        invitation.may_call_off = membership.may_invite_as(invitation.role)
    return render(
        request,
        "marketplace/organization_members.html",
        {
            "organization": organization,
            "membership": membership,
            "members": members_of_organization(organization),
            "invitations": invitations,
            "form": form,
            "roles": Membership.Role.choices,
        },
    )


def _other_membership(organization: Organization, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("organization", "user"),
        pk=membership_id,
        organization=organization,
    )


@login_required
@require_POST
def membership_role_view(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    organization, _ = member_organization(request, slug)
    target = _other_membership(organization, membership_id)
    try:
        membership_set_role(
            actor=request.user, membership=target, role=request.POST.get("role", "")
        )
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"{target.user.get_username()} is now {target.role}.")
    return redirect("organization-members", slug=slug)


@login_required
@require_POST
def membership_remove_view(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    organization, _ = member_organization(request, slug)
    target = _other_membership(organization, membership_id)
    try:
        membership_remove(actor=request.user, membership=target)
    except DomainError as error:
        messages.error(request, error.text)
        return redirect("organization-members", slug=slug)
    if target.user_id == request.user.pk:
        messages.success(request, f"You left {organization.name}.")
        return redirect("organizations")
    messages.success(request, f"{target.user.get_username()} was removed.")
    return redirect("organization-members", slug=slug)


@login_required
@require_POST
def invitation_revoke_view(request: HttpRequest, slug: str, invitation_id: str) -> HttpResponse:
    organization, _ = member_organization(request, slug)
    invitation = get_object_or_404(
        Invitation.objects.select_related("organization"),
        pk=invitation_id,
        organization=organization,
    )
    try:
        revoked = invitation_revoke(actor=request.user, invitation=invitation)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        if revoked:
            messages.success(request, f"The invitation to {invitation.email} is called off.")
        else:
            messages.info(
                request,
                f"The invitation to {invitation.email} was answered or called off meanwhile.",
            )
    return redirect("organization-members", slug=slug)


@login_required
def invitation_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the invitation (or why it cannot be answered); POST accepts or declines."""
    try:
        invitation = invitation_by_token(raw_token=token)
    except DomainError as error:
        return render(
            request, "marketplace/invitation.html", {"problem": error.message}, status=404
        )
    if request.method == "POST":
        answers = {"accept": invitation_accept, "decline": invitation_decline}
        answer = answers.get(request.POST.get("answer", ""))
        if answer is None:  # neither button: nothing is answered
            messages.error(request, "Choose to accept or to decline the invitation.")
            return redirect("invitation", token=token)
        try:
            answered = answer(invitation=invitation, user=request.user)
        except DomainError as error:
            messages.error(request, error.text)
            return redirect("invitation", token=token)
        if answered.status == answered.Status.ACCEPTED:
            messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("offers:organization", slug=invitation.organization.slug)
        messages.success(request, "Invitation declined.")
        return redirect("organizations")
    problem = ""
    try:
        invitation_check(invitation=invitation, user=request.user)
    except DomainError as error:
        problem = error.message
    return render(
        request,
        "marketplace/invitation.html",
        {"invitation": invitation, "problem": problem},
        status=409 if problem else 200,
    )


@login_required
def my_skills(request: HttpRequest) -> HttpResponse:
    """The person's own skills and experience: only they see and edit them here."""
    profile = skill_profile_of(request.user)
    skills_form = SkillsForm(
        request.POST if request.POST.get("form") == "skills" else None,
        initial={"skills": ", ".join(profile.skills)},
    )
    experience_form = ExperienceForm(
        request.POST if request.POST.get("form") == "experience" else None
    )
    if request.method == "POST":
        try:
            if skills_form.is_bound and skills_form.is_valid():
                skill_profile_update(user=request.user, skills=skills_form.cleaned_data["skills"])
                messages.success(request, "Skills saved.")
                return redirect("my-skills")
            if experience_form.is_bound and experience_form.is_valid():
                experience_entry_create(user=request.user, **experience_form.cleaned_data)
                messages.success(request, "Experience added.")
                return redirect("my-skills")
        except DomainError as error:
            add_domain_error(skills_form if skills_form.is_bound else experience_form, error)
    return render(
        request,
        "marketplace/my_skills.html",
        {
            "skills_form": skills_form,
            "experience_form": experience_form,
            "entries": ExperienceEntry.objects.filter(user=request.user),
        },
    )


def _own_entry(request: HttpRequest, entry_id: int) -> ExperienceEntry:
    # Another person's entry is a 404: it is not yours to see.
    return get_object_or_404(ExperienceEntry, pk=entry_id, user=request.user)


@login_required
def experience_edit(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = _own_entry(request, entry_id)
    initial = {
        field: getattr(entry, field)
        for field in ("title", "description", "started_on", "ended_on", "outcome")
    }
    form = ExperienceForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            experience_entry_delete(user=request.user, entry=entry)
            messages.success(request, "Entry deleted.")
            return redirect("my-skills")
        if form.is_valid():
            try:
                experience_entry_update(user=request.user, entry=entry, **form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, "Entry saved.")
                return redirect("my-skills")
    return render(request, "marketplace/experience_edit.html", {"form": form, "entry": entry})
