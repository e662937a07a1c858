"""An organization's private market on the web: its page, RFPs, proposals, award, dashboard.

Every view first resolves the organization through the person's membership:
for a non-member everything here is a 404, so nothing of the market leaks.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from intents.models import Intent
from intents.notices import member_notice_mark_read
from intents.selectors import internal_intents_visible_to_member, internal_notices_of_member
from intents.services import intent_create_internal, intent_mark_seen, internal_rfp_validate
from marketplace.errors import DomainError
from marketplace.forms import add_domain_error
from marketplace.models import Membership, Organization, User
from marketplace.organizations import organization_for_member
from offers.forms import (
    CoauthorAddForm,
    InternalIntentForm,
    ProposalDeclineForm,
    ProposalForm,
    ProposalReviseForm,
)
from offers.models import Offer, ProposalCoauthor
from offers.proposals import (
    coauthor_confirm,
    coauthor_decline,
    proposal_add_coauthor,
    proposal_decline,
    proposal_revise,
    proposal_submit,
    proposal_withdraw,
    proposals_award,
    proposals_award_preview,
)
from offers.selectors import (
    organization_dashboard,
    proposals_of_member,
    proposals_of_member_on_intent,
    proposals_on_intent,
)
from offers.services import intent_withdraw_and_decline_offers


def member_organization(request: HttpRequest, slug: str) -> tuple[Organization, Membership]:
    """The organization if the user is a member; a 404 for anyone else."""
    try:
        return organization_for_member(user=request.user, slug=slug)
    except DomainError:
        raise Http404("No such organization of yours.") from None


def _rfp(request: HttpRequest, slug: str, intent_id: Any) -> tuple[Organization, Intent]:
    organization, _ = member_organization(request, slug)
    try:
        intent = internal_intents_visible_to_member(
            user=request.user, organization=organization
        ).get(pk=intent_id)
    except Intent.DoesNotExist:
        raise Http404("No such RFP in this organization.") from None
    return organization, intent


def _proposal(request: HttpRequest, slug: str, proposal_id: Any) -> tuple[Organization, Offer]:
    organization, _ = member_organization(request, slug)
    proposal = (
        Offer.objects.select_related("intent")
        .filter(
            pk=proposal_id,
            member__isnull=False,
            intent__in=internal_intents_visible_to_member(
                user=request.user, organization=organization
            ),
        )
        .first()
    )
    if proposal is None:
        raise Http404("No such proposal in this organization.")
    return organization, proposal


def _back(slug: str, intent_id: Any) -> HttpResponse:
    return redirect("offers:rfp", slug=slug, intent_id=intent_id)


@login_required
def organization_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The member's view of the market: RFPs for them, every open RFP, their proposals."""
    organization, membership = member_organization(request, slug)
    visible = internal_intents_visible_to_member(user=request.user, organization=organization)
    return render(
        request,
        "offers/organization_page.html",
        {
            "organization": organization,
            "membership": membership,
            "notices": internal_notices_of_member(user=request.user, organization=organization),
            "open_rfps": visible.filter(status=Intent.Status.OPEN).order_by("offers_close_at"),
            "my_rfps": visible.filter(buyer=request.user).order_by("-created_at"),
            "my_proposals": proposals_of_member(member=request.user, organization=organization),
            "to_confirm": ProposalCoauthor.objects.filter(
                member=request.user,
                confirmed_at__isnull=True,
                offer__status=Offer.Status.SUBMITTED,
                offer__intent__organization=organization,
                offer__intent__is_hidden=False,
            ).select_related("offer__intent", "offer__member"),
        },
    )


@login_required
def organization_dashboard_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Open RFPs with their proposals, and the reward ledger's totals per member."""
    organization, membership = member_organization(request, slug)
    return render(
        request,
        "offers/organization_dashboard.html",
        {
            "organization": organization,
            "membership": membership,
            **organization_dashboard(organization=organization),
        },
    )


@login_required
def rfp_new(request: HttpRequest, slug: str) -> HttpResponse:
    organization, _ = member_organization(request, slug)
    form = InternalIntentForm(request.POST or None)
    if request.method == "POST" and not form.is_valid():
        # The RFP's own rules too, all at once: a past deadline shows beside a missing title.
        for field, problems in internal_rfp_validate(
            organization=organization, **form.cleaned_data
        ).items():
            if field in form.fields and field not in form.errors:
                for problem in problems:
                    form.add_error(field, problem)
    elif request.method == "POST":
        data = dict(form.cleaned_data)
        try:
            intent = intent_create_internal(
                poster=request.user,
                organization=organization,
                max_members=data.pop("max_members"),
                **data,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Your RFP is posted; matching colleagues are told.")
            return _back(slug, intent.pk)
    return render(request, "offers/rfp_form.html", {"organization": organization, "form": form})


@login_required
def rfp_page(request: HttpRequest, slug: str, intent_id: str) -> HttpResponse:
    """One internal RFP: the poster decides on proposals; a member proposes."""
    organization, intent = _rfp(request, slug, intent_id)
    return _render_rfp_page(request, organization, intent, ProposalForm())


def _render_rfp_page(
    request: HttpRequest,
    organization: Organization,
    intent: Intent,
    form: ProposalForm,
    *,
    shares: dict[str, str] | None = None,
    award_refusal: str = "",
    revise_form: ProposalReviseForm | None = None,
) -> HttpResponse:
    """The RFP's page, with ``form`` as the proposal form (bound, with its errors, after one);
    after a refused award, the shares as typed and why (``award_refusal``)."""
    is_poster = intent.buyer_id == request.user.pk
    proposals = list(proposals_on_intent(intent=intent)) if is_poster else []
    for proposal in proposals:
        proposal.typed_share = (shares or {}).get(str(proposal.pk), "")
    if is_poster:
        intent_mark_seen(intent=intent)  # the poster read the proposals: no news to e-mail
    for proposal in proposals:
        proposal.waiting_for = [
            row.member.get_username() for row in proposal.coauthors.all() if not row.confirmed_at
        ]
    own, coauthored = None, []
    if not is_poster:
        own, coauthored = proposals_of_member_on_intent(intent=intent, member=request.user)
        member_notice_mark_read(intent=intent, member=request.user)
    for proposal in coauthored:
        proposal.my_coauthorship = next(
            row for row in proposal.coauthors.all() if row.member_id == request.user.pk
        )
    can_propose = not is_poster and intent.takes_offers and (own is None or not own.is_live)
    # The proposer changes their own live proposal while the RFP takes proposals.
    can_revise = own is not None and own.status == Offer.Status.SUBMITTED and intent.takes_offers
    unsent = None
    for sent, shown in ((form, can_propose), (revise_form, can_revise)):
        if sent is not None and sent.is_bound and sent.errors and not shown:
            # Refused, and no form to show it beside (a proposal sent meanwhile from another
            # tab, one declined meanwhile, the RFP closed): why, above, and all they typed.
            messages.error(request, " ".join(e for errors in sent.errors.values() for e in errors))
            unsent = [
                (field.label, field.html_name, str(field.value() or ""))
                for field in sent
                if str(field.value() or "").strip()
            ]
    return render(
        request,
        "offers/rfp_page.html",
        {
            "organization": organization,
            "intent": intent,
            "is_poster": is_poster,
            "proposals": proposals,
            "can_decide": intent.status in Intent.UNDECIDED_STATUSES,
            "own": own,
            "coauthored": coauthored,
            "can_propose": can_propose,
            "can_revise": can_revise,
            "form": form,
            "unsent": unsent,
            "revise_form": revise_form
            or (ProposalReviseForm(initial=ProposalReviseForm.initial_of(own)) if own else None),
            "decline_form": ProposalDeclineForm(),
            "award_refusal": award_refusal,
        },
        status=400 if award_refusal else 200,
    )


def _members_by_username(organization: Organization, usernames: list[str]) -> list[User]:
    found = {
        membership.user.get_username(): membership.user
        for membership in Membership.objects.filter(
            organization=organization, user__username__in=usernames
        ).select_related("user")
    }
    missing = [name for name in usernames if name not in found]
    if missing:
        raise DomainError(
            "Co-authors must be members of the organization.",
            errors={"coauthors": [f"Not a member: {', '.join(missing)}."]},
        )
    return [found[name] for name in usernames]


@login_required
@require_POST
def rfp_propose(request: HttpRequest, slug: str, intent_id: str) -> HttpResponse:
    organization, intent = _rfp(request, slug, intent_id)
    form = ProposalForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            coauthors = _members_by_username(organization, data.pop("coauthors"))
            proposal_submit(member=request.user, intent=intent, coauthors=coauthors, **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Proposal sent.")
            return _back(slug, intent.pk)
    # The page again, with what they wrote and the errors beside it.
    return _render_rfp_page(request, organization, intent, form)


@login_required
@require_POST
def proposal_coauthor_add_view(request: HttpRequest, slug: str, proposal_id: str) -> HttpResponse:
    organization, proposal = _proposal(request, slug, proposal_id)
    form = CoauthorAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return _back(slug, proposal.intent_id)
    try:
        (coauthor,) = _members_by_username(organization, [form.cleaned_data["username"]])
        proposal_add_coauthor(member=request.user, proposal=proposal, coauthor=coauthor)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"{coauthor.get_username()} is asked to confirm.")
    return _back(slug, proposal.intent_id)


@login_required
@require_POST
def proposal_coauthor_answer_view(
    request: HttpRequest, slug: str, proposal_id: str
) -> HttpResponse:
    _, proposal = _proposal(request, slug, proposal_id)
    answer = request.POST.get("answer")
    try:
        if answer == "confirm":
            coauthor_confirm(member=request.user, proposal=proposal)
            messages.success(request, "You confirmed your co-authorship.")
        elif answer == "decline":
            coauthor_decline(member=request.user, proposal=proposal)
            messages.success(request, "You are no longer a co-author of this proposal.")
        else:  # nothing chosen: nothing changes
            messages.error(request, "Choose to confirm or to decline the co-authorship.")
    except DomainError as error:
        messages.error(request, error.text)
    return _back(slug, proposal.intent_id)


@login_required
@require_POST
def proposal_withdraw_view(request: HttpRequest, slug: str, proposal_id: str) -> HttpResponse:
    _, proposal = _proposal(request, slug, proposal_id)
    try:
        proposal_withdraw(member=request.user, proposal=proposal)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, "Proposal withdrawn.")
    return _back(slug, proposal.intent_id)


@login_required
@require_POST
def proposal_revise_view(request: HttpRequest, slug: str, proposal_id: str) -> HttpResponse:
    organization, proposal = _proposal(request, slug, proposal_id)
    form = ProposalReviseForm(request.POST)
    if form.is_valid():
        before = proposal.revision_count
        try:
            revised = proposal_revise(member=request.user, proposal=proposal, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            if revised.revision_count == before:
                messages.info(request, "Nothing changed: the proposal stays as it was.")
            else:
                messages.success(request, "Proposal revised.")
            return _back(slug, proposal.intent_id)
    # The page again, with what they wrote and the errors beside it.
    return _render_rfp_page(
        request, organization, proposal.intent, ProposalForm(), revise_form=form
    )


@login_required
@require_POST
def proposal_decline_view(request: HttpRequest, slug: str, proposal_id: str) -> HttpResponse:
    _, proposal = _proposal(request, slug, proposal_id)
    form = ProposalDeclineForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return _back(slug, proposal.intent_id)
    try:
        proposal_decline(poster=request.user, proposal=proposal, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, "Proposal declined; the proposer is told why.")
    return _back(slug, proposal.intent_id)


def _first_error(form: forms.Form) -> str:
    """A one-line form's error, for the message at the top of the page it came from."""
    field, errors = next(iter(form.errors.items()))
    label = form.fields[field].label if field in form.fields else ""
    return f"{label}: {errors[0]}" if label else errors[0]


SHARE_PREFIX = "share-"
REVISION_PREFIX = "revision-"


def _award_refused(
    request: HttpRequest,
    organization: Organization,
    intent: Intent,
    shares: dict[str, str],
    error: DomainError,
) -> HttpResponse:
    """The poster's page again, each share as typed, and why the split was refused."""
    if intent.buyer_id != request.user.pk:  # not the poster's to award: nothing to show
        messages.error(request, error.text)
        return _back(organization.slug, intent.pk)
    return _render_rfp_page(
        request, organization, intent, ProposalForm(), shares=shares, award_refusal=error.text
    )


@login_required
@require_POST
def rfp_award(request: HttpRequest, slug: str, intent_id: str) -> HttpResponse:
    """Accept the proposals given a share (in percent) and decline the rest.

    The first POST shows what will happen (who gets how much, who is declined);
    only the confirming POST awards. A confirmation that no longer fits (a
    proposal made or withdrawn since) shows the award again, as it is now.
    """
    organization, intent = _rfp(request, slug, intent_id)
    shares = {
        key.removeprefix(SHARE_PREFIX): value.strip()
        for key, value in request.POST.items()
        if key.startswith(SHARE_PREFIX) and value.strip()
    }
    # Each proposal's revision as the poster read it on the RFP's page.
    seen_revisions = {
        key.removeprefix(REVISION_PREFIX): value
        for key, value in request.POST.items()
        if key.startswith(REVISION_PREFIX)
    }
    if request.POST.get("confirm") == "1":
        # The proposals the poster was shown as declined: none other may be.
        seen_declined = [pk for pk in request.POST.get("declined", "").split(",") if pk]
        try:
            entries = proposals_award(
                intent=intent,
                poster=request.user,
                shares=shares,
                seen_declined=seen_declined,
                seen_revisions=seen_revisions,
            )
        except DomainError as error:
            if "declined" not in error.errors:  # a revision since among them: read it again
                return _award_refused(request, organization, intent, shares, error)
            messages.error(request, error.message)  # and the award as it is now
        else:
            messages.success(
                request, f"Awarded: the reward is split among {len(entries)} member(s)."
            )
            return _back(slug, intent.pk)
    try:
        rows, declined = proposals_award_preview(
            intent=intent, poster=request.user, shares=shares, seen_revisions=seen_revisions
        )
    except DomainError as error:
        return _award_refused(request, organization, intent, shares, error)
    return render(
        request,
        "offers/award_confirm.html",
        {
            "organization": organization,
            "intent": intent,
            "rows": rows,
            "declined": declined,
            "declined_ids": ",".join(str(proposal.pk) for proposal in declined),
            "shares": shares,
            "seen_revisions": seen_revisions,
        },
    )


@login_required
def rfp_withdraw(request: HttpRequest, slug: str, intent_id: str) -> HttpResponse:
    """GET asks for confirmation; POST withdraws the RFP, and every live proposal is
    declined with the reason."""
    organization, intent = _rfp(request, slug, intent_id)
    if request.method == "POST":
        try:
            intent_withdraw_and_decline_offers(intent=intent, buyer=request.user)
        except DomainError as error:
            messages.error(request, error.text)
        else:
            messages.success(request, "RFP withdrawn; every proposer is told.")
        return _back(slug, intent.pk)
    if intent.buyer_id != request.user.pk or intent.status not in Intent.UNDECIDED_STATUSES:
        # Nothing to confirm: say why rather than offer a button that can only fail.
        messages.error(request, "Only the poster can withdraw this RFP, while it is undecided.")
        return _back(slug, intent.pk)
    return render(
        request,
        "offers/rfp_withdraw_confirm.html",
        {"organization": organization, "intent": intent},
    )
