"""The buyer's side of offers: the intent page (comparison, questions), and the decisions."""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from intents.models import Intent
from intents.payloads import intent_for_vendor
from intents.selectors import intent_of_buyer, open_intents_told_to
from intents.services import (
    buyer_block_vendor,
    buyer_identity,
    intent_mark_seen,
    intent_reveal_identity,
)
from marketplace.errors import INVALID, DomainError
from marketplace.forms import as_typed
from offers.comparison import (
    SCORE_EXPLANATION,
    criterion_sort,
    display_cells,
    offer_move,
    offer_set_shortlisted,
    price_delivery_chart,
    revision_summary,
    score_offers,
    sort_rows,
)
from offers.forms import AnswerForm, DeclineForm, RatingForm
from offers.models import Offer, Question
from offers.questions import MAX_ANSWER, question_answer, questions_for_buyer
from offers.ratings import rating_create
from offers.selectors import live_offer_count, offer_of_buyer, offers_on_intent_for_buyer
from offers.services import intent_withdraw_and_decline_offers, offer_accept, offer_decline


def _own_intent(request: HttpRequest, intent_id: object) -> Intent:
    try:
        return intent_of_buyer(buyer=request.user, intent_id=intent_id)
    except Intent.DoesNotExist:
        raise Http404("No such intent of yours.") from None


def _own_offer(request: HttpRequest, offer_id: object) -> Offer:
    try:
        offer = offer_of_buyer(buyer=request.user, offer_id=offer_id)
    except Offer.DoesNotExist:
        raise Http404("No such offer on your intents.") from None
    if offer.intent.offers_are_sealed:
        raise Http404("The offers on this intent are sealed until its deadline.")
    return offer


# What a sort may look like (a column or a criterion's sort, "-" for descending);
# the intent page itself checks it is one of its own.
SORT_SHAPE = re.compile(r"-?[a-z0-9_-]{1,70}")


def _sort(request: HttpRequest) -> str:
    """The intent page's sort the request came from (posted, or in a confirmation's link)."""
    sort = request.POST.get("sort") or request.GET.get("sort", "")
    return sort if SORT_SHAPE.fullmatch(sort) else ""


def _back_to_intent(
    request: HttpRequest, intent_id: object, *, at_offer: object = None
) -> HttpResponse:
    """The intent page in the order it was sorted; scrolled to ``at_offer``'s row, when
    given (a row's own action that succeeded: no message above to read)."""
    response = redirect("offers:intent", intent_id=intent_id)
    if sort := _sort(request):
        response["Location"] += "?" + urlencode({"sort": sort})
    if at_offer is not None:
        response["Location"] += f"#offer-{at_offer}"
    return response


@login_required
def intent_page(request: HttpRequest, intent_id: str) -> HttpResponse:
    """One of the buyer's intents: its questions and the offers in a comparison table."""
    intent = _own_intent(request, intent_id)
    if intent.organization_id is not None:
        # An internal RFP has its own page inside the organization.
        return redirect("offers:rfp", slug=intent.organization.slug, intent_id=intent.pk)
    return _intent_page(request, intent)


class Answering(NamedTuple):
    """An answer refused: shown again in its question's box, with why."""

    question_id: Any
    text: str
    error: str


def _intent_page(
    request: HttpRequest, intent: Intent, *, answering: Answering | None = None
) -> HttpResponse:
    criteria = list(intent.criteria.all())
    for criterion in criteria:
        criterion.sort = criterion_sort(criterion.key)
    sealed = intent.offers_are_sealed
    offers = (
        [] if sealed else list(offers_on_intent_for_buyer(intent_id=intent.pk, buyer=request.user))
    )
    sort = request.GET.get("sort", "-score")
    sort_label = {"score": "score", "rank": "my rank", "vendor": "vendor", "status": "status"}
    sort_label |= {criterion.sort: criterion.name for criterion in criteria}
    if sort.lstrip("-") not in sort_label:
        sort = "-score"
    sort_key = sort.lstrip("-")
    rows = sort_rows(score_offers(offers, criteria), sort)
    for row in rows:
        row.revised = revision_summary(row.offer)
        row.cells = display_cells(row, criteria)
    accepted = next((offer for offer in offers if offer.status == Offer.Status.ACCEPTED), None)
    revealed_to = {reveal.vendor_id for reveal in intent.reveals.all()}
    terms = intent.terms_for_vendors  # as vendors read and agree to them
    questions = list(questions_for_buyer(intent=intent))
    intent_mark_seen(intent=intent)
    return render(
        request,
        "offers/intent_page.html",
        {
            "intent": intent,
            "criteria": criteria,
            "rows": rows,
            "sort": sort,
            # How the table is sorted, for aria-sort, the arrow and the caption.
            "sort_key": sort_key,
            "sort_direction": "descending" if sort.startswith("-") else "ascending",
            "sort_label": sort_label[sort_key],
            "sealed": sealed,
            "score_explanation": SCORE_EXPLANATION,
            "chart": price_delivery_chart(rows),
            "accepted": accepted,
            "can_rate": accepted is not None and not hasattr(accepted, "rating"),
            "rating_form": RatingForm(),
            "questions": questions,
            "unanswered": [q for q in questions if q.answered_at is None],
            "can_decide": intent.status in Intent.UNDECIDED_STATUSES,
            "revealed_to": revealed_to,
            "terms": terms,
            # The exact payload vendors get (API, webhooks, events), shown as a preview.
            "as_vendors_see_it": intent_for_vendor(intent),
            "answering": answering,
        },
        status=400 if answering else 200,
    )


def _revision(posted: str | None) -> int | None:
    """The offer's revision the confirmation showed. Missing (a page from before the
    confirmation carried it), nothing is checked; an odd one matches no revision."""
    if posted is None:
        return None
    return int(posted) if posted.isascii() and posted.isdigit() and len(posted) < 10 else -1


@login_required
def offer_accept_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    """GET asks for confirmation; POST accepts. Refused, the confirmation is shown again
    with the reason, the contact details as typed and the offer as it is now."""
    offer = _own_offer(request, offer_id)
    contact_details = None
    error = None
    if request.method == "POST":
        contact_details = request.POST.get("contact_details")
        if contact_details is not None:  # its box's line breaks, as the browser counted them
            contact_details = as_typed(contact_details)
        try:
            offer_accept(
                offer=offer,
                buyer=request.user,
                contact_details=contact_details,
                seen_revision=_revision(request.POST.get("revision")),
            )
        except DomainError as refused:
            error = refused
            offer = _own_offer(request, offer_id)  # as it is now: revised, or decided
        else:
            messages.success(request, f"You accepted {offer.vendor.name}'s offer.")
            return redirect("offers:intent", intent_id=offer.intent_id)
    if (
        offer.status != Offer.Status.SUBMITTED
        or offer.intent.status not in Intent.UNDECIDED_STATUSES
    ):
        # Nothing to confirm: say why rather than offer a button that can only fail.
        messages.error(request, error.text if error else _no_longer(offer, "accepted"))
        return redirect("offers:intent", intent_id=offer.intent_id)
    if offer.has_lapsed:
        messages.error(request, offer.lapsed_text)
        return redirect("offers:intent", intent_id=offer.intent_id)
    others = live_offer_count(intent_id=offer.intent_id) - 1
    return render(
        request,
        "offers/accept_confirm.html",
        {
            "offer": offer,
            "other_live_offers": others,
            "contact_details": contact_details
            if contact_details is not None
            else offer.intent.contact_details or request.user.email,
            "error": error,
        },
        status=400 if error else 200,
    )


def _no_longer(offer: Offer, done: str) -> str:
    return f"This {offer.status} offer can no longer be {done}."


@login_required
def offer_decline_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    """GET asks for confirmation (and a reason); POST declines, and tells the vendor."""
    offer = _own_offer(request, offer_id)
    form = DeclineForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            offer_decline(offer=offer, buyer=request.user, reason=form.cleaned_data["reason"])
        except DomainError as error:
            messages.error(request, error.text)
        else:
            messages.success(request, f"You declined {offer.vendor.name}'s offer.")
        return _back_to_intent(request, offer.intent_id)
    if (
        offer.status != Offer.Status.SUBMITTED
        or offer.intent.status not in Intent.UNDECIDED_STATUSES
    ):
        messages.error(request, _no_longer(offer, "declined"))
        return _back_to_intent(request, offer.intent_id)
    return render(
        request,
        "offers/decline_confirm.html",
        {"offer": offer, "form": form, "sort": _sort(request)},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def offer_move_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    offer = _own_offer(request, offer_id)
    try:
        offer_move(buyer=request.user, offer=offer, direction=request.POST.get("direction", ""))
    except DomainError as error:
        messages.error(request, error.text)  # shown on top: the page opens there
        return _back_to_intent(request, offer.intent_id)
    return _back_to_intent(request, offer.intent_id, at_offer=offer.pk)


@login_required
@require_POST
def offer_shortlist_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    offer = _own_offer(request, offer_id)
    offer_set_shortlisted(
        buyer=request.user, offer=offer, is_shortlisted=request.POST.get("shortlisted") == "1"
    )
    return _back_to_intent(request, offer.intent_id, at_offer=offer.pk)


@login_required
@require_POST
def offer_rate_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    offer = _own_offer(request, offer_id)
    form = RatingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose 1 to 5 stars.")
        return _back_to_intent(request, offer.intent_id)
    try:
        rating_create(buyer=request.user, offer=offer, **form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"Thank you: your rating of {offer.vendor.name} is saved.")
    return _back_to_intent(request, offer.intent_id)


@login_required
@require_POST
def question_answer_view(request: HttpRequest, question_id: str) -> HttpResponse:
    try:
        question = Question.objects.select_related("intent").get(
            pk=question_id, intent__buyer=request.user
        )
    except Question.DoesNotExist:
        raise Http404("No such question on your intents.") from None
    form = AnswerForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError(f"Write an answer (at most {MAX_ANSWER:,} characters).")
        question_answer(buyer=request.user, question=question, answer=form.cleaned_data["answer"])
    except DomainError as error:
        if error.kind != INVALID:  # answered meanwhile, or the intent closed: no box to show
            messages.error(request, error.text)
            return _back_to_intent(request, question.intent_id)
        # The page again, the answer as typed in its box, and why it was refused.
        answering = Answering(question.pk, request.POST.get("answer", ""), error.text)
        return _intent_page(request, _own_intent(request, question.intent_id), answering=answering)
    messages.success(request, "Answered; every matched vendor can read it now.")
    return _back_to_intent(request, question.intent_id)


@login_required
def intent_withdraw_view(request: HttpRequest, intent_id: str) -> HttpResponse:
    """GET asks for confirmation; POST withdraws the intent and declines its offers."""
    intent = _own_intent(request, intent_id)
    if request.method == "POST":
        try:
            intent_withdraw_and_decline_offers(intent=intent, buyer=request.user)
        except DomainError as error:
            messages.error(request, error.text)
        else:
            messages.success(request, "Intent withdrawn; every vendor with an offer is told.")
        return redirect("offers:intent", intent_id=intent.pk)
    if intent.status == Intent.Status.DRAFT:
        messages.error(request, "A draft is not withdrawn: nobody saw it. Delete it instead.")
        return redirect("offers:intent", intent_id=intent.pk)
    if intent.status not in Intent.UNDECIDED_STATUSES:
        messages.error(request, f"This intent is {intent.status}; it cannot be withdrawn.")
        return redirect("offers:intent", intent_id=intent.pk)
    return render(request, "offers/withdraw_confirm.html", {"intent": intent})


@login_required
def offer_reveal_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    """GET asks for confirmation; POST shows this offer's vendor who the buyer is (name
    and e-mail), for good. Logged on "My data"."""
    offer = _own_offer(request, offer_id)
    if request.method == "POST":
        try:
            intent_reveal_identity(buyer=request.user, intent=offer.intent, vendor=offer.vendor)
        except DomainError as error:
            messages.error(request, error.text)
        else:
            messages.success(request, f"{offer.vendor.name} can now see your name and e-mail.")
        return _back_to_intent(request, offer.intent_id)
    return render(
        request,
        "offers/reveal_confirm.html",
        {"offer": offer, "identity": buyer_identity(request.user), "sort": _sort(request)},
    )


@login_required
def offer_block_vendor_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    """GET says what a block does, and asks; POST blocks this offer's vendor from all the
    buyer's intents."""
    offer = _own_offer(request, offer_id)
    if request.method != "POST":
        return render(
            request,
            "offers/block_confirm.html",
            {
                "offer": offer,
                "open_told": open_intents_told_to(vendor=offer.vendor, buyer=request.user),
                "sort": _sort(request),
            },
        )
    buyer_block_vendor(buyer=request.user, vendor=offer.vendor)
    messages.success(
        request,
        f"{offer.vendor.name} will not be told about your intents, nor answer your open ones, "
        "any more. Undo it on “My data”.",
    )
    return _back_to_intent(request, offer.intent_id)
