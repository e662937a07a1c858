from __future__ import annotations

import logging
import uuid
from typing import Any, NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from intents.forms import (
    CustomCriteriaFormSet,
    IntentForm,
    criteria_initial,
    custom_criteria,
    intent_initial,
)
from intents.models import Intent
from intents.selectors import intent_of_buyer, intents_of_buyer
from intents.services import (
    EDITED_SINCE,
    ONLY_DRAFTS_DELETED,
    intent_create,
    intent_delete_draft,
    intent_publish,
    intent_update,
    intent_validate,
)
from marketplace.errors import CONFLICT, DomainError, with_article
from marketplace.forms import add_domain_error

logger = logging.getLogger(__name__)


@login_required
def my_intents(request: HttpRequest) -> HttpResponse:
    return render(request, "intents/mine.html", {"intents": intents_of_buyer(request.user)})


@login_required
def intent_new(request: HttpRequest) -> HttpResponse:
    form = IntentForm(request.POST or None)
    criteria_formset = CustomCriteriaFormSet(request.POST or None, prefix="criteria")
    # Each form shown carries its own token: sent again (Back, then Publish), it leads to
    # the intent it made rather than publish a copy, told to the same vendors again.
    token = _form_token(request.POST.get("form_token")) if request.POST else uuid.uuid4()
    if request.method == "POST" and form.is_valid() and criteria_formset.is_valid():
        publish = "save_draft" not in request.POST
        made = _made_before(request.user, token)
        if made == SENDING:
            form.add_error(
                None, "This form is being sent already: wait a moment, then look in My intents."
            )
        elif isinstance(made, Made) and made.intent.status != Intent.Status.DRAFT:
            messages.info(request, "This form was sent already: here is the intent it made.")
            return redirect("offers:intent", intent_id=made.intent.pk)
        else:
            # A draft this form saved before is saved again with what it says now (and
            # published, when asked): Back, mend, Publish does not make a second one.
            fields = {
                "criteria": form.standard_criteria() + custom_criteria(criteria_formset),
                "terms": form.chosen_terms(),
                "invited": form.invited_slugs(),
                "blocked": form.blocked_slugs(),
                **form.intent_fields(),
            }
            try:
                with transaction.atomic():
                    if isinstance(made, Made):
                        # As it was when this form saved it: an edit saved since (in
                        # another tab) refuses this send rather than be undone by it.
                        intent = intent_update(
                            intent=made.intent, seen_edit_count=made.edit_count, **fields
                        )
                        if intent.status != Intent.Status.DRAFT:  # published meanwhile
                            raise DomainError(PUBLISHED_SINCE, kind=CONFLICT)
                        if publish:
                            intent_publish(intent=intent)
                    else:
                        intent = intent_create(buyer=request.user, publish=publish, **fields)
            except DomainError as error:
                if made is None:
                    _sent_as(request.user.pk, token, None)  # refused: the mended form may go
                elif error.message == EDITED_SINCE:  # sent again, it replaces that edit
                    _sent_as(request.user.pk, token, Intent.objects.get(pk=made.intent.pk))
                add_domain_error(form, error)
            else:
                _sent_as(request.user.pk, token, intent)
                messages.success(
                    request,
                    "Your intent is published; matching vendors can now answer."
                    if publish
                    else "Draft saved. Publish it when you are ready.",
                )
                return redirect("offers:intent", intent_id=intent.pk)
    _add_service_errors(request, form)
    return render(
        request,
        "intents/form.html",
        {"form": form, "criteria_formset": criteria_formset, "intent": None, "form_token": token},
    )


PUBLISHED_SINCE = "The draft this form saved was published since: change it from its own page."
SENDING = "sending"
SENDING_SECONDS = 60  # a send that died lets the form go again after this
FORM_TOKEN_SECONDS = 24 * 60 * 60


def _form_token(posted: str | None) -> uuid.UUID:
    """The new-intent form's token as posted; a new one if missing or odd (not guarded)."""
    try:
        return uuid.UUID(posted or "")
    except ValueError:
        return uuid.uuid4()


class Made(NamedTuple):
    """The intent a new-intent form made, and its edit count when the form last saved it."""

    intent: Intent
    edit_count: int


def _made_before(user: Any, token: uuid.UUID) -> Made | str | None:
    """None for a form's first send (it is claimed now); else the intent it made, or
    SENDING while that first send runs. A form whose intent is gone since (a draft
    deleted) goes as a first send again. The cache's ``add`` is atomic: of two sends
    at once, one goes. A cache that does not answer guards nothing."""
    key = f"intent-form:{user.pk}:{token}"
    try:
        if cache.add(key, SENDING, SENDING_SECONDS):
            return None
        made = cache.get(key)
    except Exception:
        logger.exception("The new-intent form's guard could not reach the cache")
        return None
    if made in (None, SENDING):
        return made
    intent_id, _, edit_count = str(made).partition(":")
    intent = Intent.objects.filter(pk=intent_id, buyer=user).first()
    if intent is None:
        _sent_as(user.pk, token, None)
        return _made_before(user, token)
    return Made(intent, int(edit_count) if edit_count.isdigit() else -1)


def _sent_as(user_id: object, token: uuid.UUID, intent: Intent | None) -> None:
    """What the form's send made (the intent, and its edit count then), or nothing (None):
    sent again, it goes."""
    key = f"intent-form:{user_id}:{token}"
    try:
        if intent is None:
            cache.delete(key)
        else:
            cache.set(key, f"{intent.pk}:{intent.edit_count}", FORM_TOKEN_SECONDS)
    except Exception:
        logger.exception("The new-intent form's guard could not reach the cache")


def _add_service_errors(request: HttpRequest, form: IntentForm) -> None:
    """A form refused for one field also shows the intent's own rules it breaks (all at once).

    The service checks only what the form let through; without this, a budget
    whose minimum exceeds its maximum would show only after the title was given.
    """
    if request.method != "POST" or not form.errors:
        return
    fields = {**form.cleaned_data, "organization": None}
    for field, problems in intent_validate(fields).items():
        if field in form.fields and field not in form.errors:
            for problem in problems:
                form.add_error(field, problem)


def _own_intent(request: HttpRequest, intent_id: str) -> Intent:
    try:
        return intent_of_buyer(buyer=request.user, intent_id=intent_id)
    except Intent.DoesNotExist:
        raise Http404("No such intent of yours.") from None


@login_required
def intent_edit(request: HttpRequest, intent_id: str) -> HttpResponse:
    intent = _own_intent(request, intent_id)
    if intent.organization_id is not None:
        # An internal RFP is managed inside its organization, not with the public form.
        return redirect("offers:rfp", slug=intent.organization.slug, intent_id=intent.pk)
    if intent.status not in (Intent.Status.DRAFT, Intent.Status.OPEN):
        # Say why rather than show a form that can only fail.
        messages.error(request, f"{with_article(intent.status)} intent cannot be edited.")
        return redirect("offers:intent", intent_id=intent.pk)
    form = IntentForm(request.POST or None, initial=intent_initial(intent))
    if intent.status == Intent.Status.OPEN:
        # Offers already made are priced in it: shown, not offered to change.
        form.fields["currency"].disabled = True
        form.fields["currency"].help_text = "It cannot change once the intent is published."
    criteria_formset = CustomCriteriaFormSet(
        request.POST or None, prefix="criteria", initial=criteria_initial(intent)
    )
    # Kept as posted while the form is mended: the edit is still the one opened then.
    edit_count = request.POST.get("edit_count", str(intent.edit_count))
    if request.method == "POST" and form.is_valid() and criteria_formset.is_valid():
        fields = form.intent_fields()
        if fields.get("offers_close_at") in (
            intent.offers_close_at,  # sent back as the page showed it (DeadlineField)
            intent.offers_close_at.replace(second=0, microsecond=0),  # typed as it was
        ):
            del fields["offers_close_at"]  # unchanged: not checked again, nor told
        try:
            # "Save and publish" is one step: if publishing is refused, nothing is saved.
            with transaction.atomic():
                intent = intent_update(
                    intent=intent,
                    criteria=form.standard_criteria() + custom_criteria(criteria_formset),
                    terms=form.chosen_terms(),
                    invited=form.invited_slugs(),
                    blocked=form.blocked_slugs(),
                    seen_edit_count=_edit_count(request.POST.get("edit_count")),
                    **fields,
                )
                if intent.status == Intent.Status.DRAFT and "publish" in request.POST:
                    intent_publish(intent=intent)
        except DomainError as error:
            add_domain_error(form, error)
            if error.message == EDITED_SINCE:  # saved again, this version replaces that one
                edit_count = str(_own_intent(request, intent_id).edit_count)
        else:
            messages.success(request, "Intent saved.")
            return redirect("offers:intent", intent_id=intent.pk)
    _add_service_errors(request, form)
    return render(
        request,
        "intents/form.html",
        {
            "form": form,
            "criteria_formset": criteria_formset,
            "intent": intent,
            "edit_count": edit_count,
        },
    )


def _edit_count(posted: str | None) -> int | None:
    """The intent's edit count the form was opened at. Missing (a form from before it
    carried one), nothing is checked; an odd one matches no count."""
    if posted is None:
        return None
    return int(posted) if posted.isascii() and posted.isdigit() and len(posted) < 10 else -1


@login_required
def intent_publish_view(request: HttpRequest, intent_id: str) -> HttpResponse:
    intent = _own_intent(request, intent_id)
    if request.method == "POST":
        try:
            intent_publish(intent=intent)
        except DomainError as error:
            messages.error(request, error.text)
        else:
            messages.success(request, "Published.")
    return redirect("offers:intent", intent_id=intent.pk)


@login_required
def intent_delete_draft_view(request: HttpRequest, intent_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes the draft."""
    intent = _own_intent(request, intent_id)
    if intent.status != Intent.Status.DRAFT:
        messages.error(request, ONLY_DRAFTS_DELETED)
        return redirect("offers:intent", intent_id=intent.pk)
    if request.method == "POST":
        try:
            intent_delete_draft(intent=intent, buyer=request.user)
        except DomainError as error:  # published meanwhile (another tab)
            messages.error(request, error.text)
            return redirect("offers:intent", intent_id=intent.pk)
        messages.success(request, f"Draft “{intent.title}” deleted.")
        return redirect("intents:mine")
    return render(request, "intents/delete_draft_confirm.html", {"intent": intent})
