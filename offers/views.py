"""The buyer's side of offers: the intent page, accept, decline, withdraw."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from intents.models import Intent
from intents.selectors import intent_of_buyer
from marketplace.errors import DomainError
from offers.forms import DeclineForm
from offers.models import Offer
from offers.selectors import live_offer_count, offer_of_buyer, offers_on_intent_for_buyer
from offers.services import intent_withdraw_and_decline_offers, offer_accept, offer_decline


def _own_intent(request: HttpRequest, intent_id: str) -> Intent:
    try:
        return intent_of_buyer(buyer=request.user, intent_id=intent_id)
    except Intent.DoesNotExist:
        raise Http404("No such intent of yours.") from None


def _own_offer(request: HttpRequest, offer_id: str) -> Offer:
    try:
        return offer_of_buyer(buyer=request.user, offer_id=offer_id)
    except Offer.DoesNotExist:
        raise Http404("No such offer on your intents.") from None


@login_required
def intent_page(request: HttpRequest, intent_id: str) -> HttpResponse:
    """One of the buyer's intents with the offers it received."""
    intent = _own_intent(request, intent_id)
    offers = list(offers_on_intent_for_buyer(intent_id=intent.pk, buyer=request.user))
    accepted = next((offer for offer in offers if offer.status == Offer.Status.ACCEPTED), None)
    return render(
        request,
        "offers/intent_page.html",
        {
            "intent": intent,
            "offers": offers,
            "accepted": accepted,
            "can_decide": intent.status in (Intent.Status.OPEN, Intent.Status.CLOSED),
        },
    )


@login_required
def offer_accept_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    """GET asks for confirmation; POST accepts."""
    offer = _own_offer(request, offer_id)
    if request.method == "POST":
        try:
            offer_accept(offer=offer, buyer=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"You accepted {offer.vendor.name}'s offer.")
        return redirect("offers:intent", intent_id=offer.intent_id)
    others = live_offer_count(intent_id=offer.intent_id) - 1
    return render(
        request, "offers/accept_confirm.html", {"offer": offer, "other_live_offers": others}
    )


@login_required
@require_POST
def offer_decline_view(request: HttpRequest, offer_id: str) -> HttpResponse:
    offer = _own_offer(request, offer_id)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is at most 300 characters.")
        return redirect("offers:intent", intent_id=offer.intent_id)
    try:
        offer_decline(offer=offer, buyer=request.user, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"You declined {offer.vendor.name}'s offer.")
    return redirect("offers:intent", intent_id=offer.intent_id)


@login_required
def intent_withdraw_view(request: HttpRequest, intent_id: str) -> HttpResponse:
    """GET asks for confirmation; POST withdraws the intent and declines its offers."""
    intent = _own_intent(request, intent_id)
    if request.method == "POST":
        try:
            intent_withdraw_and_decline_offers(intent=intent, buyer=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Intent withdrawn; every vendor with an offer is told.")
        return redirect("offers:intent", intent_id=intent.pk)
    return render(request, "offers/withdraw_confirm.html", {"intent": intent})
