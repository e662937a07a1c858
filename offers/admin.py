from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from marketplace.forms import TEXT_AS_TYPED, ParagraphsField
from offers.models import Offer, OfferRevision, ProposalCoauthor, Question, Rating, RewardEntry
from offers.questions import question_moderate, question_moderation_errors
from offers.ratings import rating_delete
from offers.services import MAX_MESSAGE, offer_moderate_message


class OfferModerationForm(forms.ModelForm):
    """A moderator's correction of an offer's message keeps the API's length rule."""

    message = ParagraphsField(max_length=MAX_MESSAGE, required=False, strip=False)

    class Meta:
        model = Offer
        fields = ["message"]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = (
        "intent",
        "vendor",
        "member",
        "price",
        "currency",
        "status",
        "delivery_date",
        "created_at",
    )
    list_filter = ("status", "currency")
    list_select_related = ("intent", "vendor", "member")
    search_fields = ("intent__title", "vendor__name", "member__username", "message")
    date_hierarchy = "created_at"
    # Offers are made, revised and decided by their services alone (revisions kept, the
    # reward ledger, the buyer's events); a moderator may edit the message, nothing else.
    fields = (
        "id", "intent", "vendor", "member", "status", "price", "currency", "reward_percent",
        "delivery_date", "valid_until", "message", "approach", "estimate", "line_items",
        "criteria_answers", "decline_reason", "revision_count", "buyer_rank", "is_shortlisted",
        "decided_at", "created_at", "updated_at", "revisions_made",
    )  # fmt: skip
    readonly_fields = tuple(field for field in fields if field != "message")
    form = OfferModerationForm  # each correction is a revision, listed below

    @admin.display(description="Revisions (when, who, what changed)")
    def revisions_made(self, offer: Offer) -> str:
        revisions = OfferRevision.objects.filter(offer=offer).select_related("api_key", "moderator")
        return (
            format_html_join(
                mark_safe("<br>"),
                "{} — {} — {}",
                (
                    (
                        f"{timezone.localtime(revision.created_at):%Y-%m-%d %H:%M %Z}",
                        f"a moderator ({revision.moderator})"
                        if revision.moderator_id
                        else f"API key “{revision.api_key.name}”"
                        if revision.api_key_id
                        else "the vendor",
                        ", ".join(revision.changes),
                    )
                    for revision in revisions
                ),
            )
            or "—"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vendors make offers through the API, members on the web

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a decided offer is a record of both sides; a live one is withdrawn

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        # The message alone: what a service wrote meanwhile (a decision, a revision,
        # a worker's hold on the authors' e-mail) is kept.
        offer_moderate_message(offer=obj, message=obj.message, moderator=request.user)


@admin.register(ProposalCoauthor)
class ProposalCoauthorAdmin(admin.ModelAdmin):
    """Co-authors are named by the proposer and confirm themselves (``offers.proposals``,
    which keeps out outsiders, the poster and the proposer); operators read them."""

    list_display = ("offer", "member", "confirmed_at", "created_at")
    list_select_related = ("offer", "offer__intent", "member")
    search_fields = ("member__username", "offer__intent__title")
    raw_id_fields = ("offer", "member")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a co-author not yet confirmed holds the award back, by design


@admin.register(RewardEntry)
class RewardEntryAdmin(admin.ModelAdmin):
    """The ledger is written by the award; operators read it."""

    list_display = ("member", "intent", "percent", "amount", "currency", "is_points", "created_at")
    list_filter = ("is_points", "currency")
    list_select_related = ("member", "intent")
    search_fields = ("member__username", "intent__title")
    readonly_fields = (
        "intent",
        "offer",
        "member",
        "percent",
        "amount",
        "currency",
        "is_points",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the award alone


class QuestionModerationForm(forms.ModelForm):
    """The service's own rules, as form errors."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        errors = question_moderation_errors(
            question=self.instance,  # as stored: the form's values are put in after clean()
            text=cleaned.get("text") or "",
            answer=cleaned.get("answer") or "",
        )
        for field, messages_ in errors.items():
            self.add_error(field, messages_)
        return cleaned


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    """A vendor's question and the buyer's answer: a moderator corrects their words
    (told again to the vendors if answered) or deletes an abusive question not yet
    answered. An answered one was told to every matched vendor: its words are corrected
    (which rewrites what they were told), not deleted (which would leave it told)."""

    list_display = ("intent", "vendor", "created_at", "answered_at")
    list_select_related = ("intent", "vendor")
    search_fields = ("text", "answer", "intent__title", "vendor__name")
    date_hierarchy = "created_at"
    form = QuestionModerationForm
    formfield_overrides = TEXT_AS_TYPED
    fields = ("id", "intent", "vendor", "text", "answer", "created_at", "answered_at")
    readonly_fields = ("id", "intent", "vendor", "created_at", "answered_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vendors ask through the API

    def has_delete_permission(self, request: HttpRequest, obj: Question | None = None) -> bool:
        if obj is not None and obj.answered_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Question, form: Any, change: bool) -> None:
        question_moderate(question=obj, text=obj.text, answer=obj.answer)


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    """Buyers rate the vendor they chose; an operator reads ratings and removes an
    abusive one, and the vendor's reputation follows."""

    list_display = ("vendor", "stars", "offer", "created_at")
    list_filter = ("stars",)
    list_select_related = ("vendor", "offer__vendor", "offer__intent")
    search_fields = ("vendor__name", "text")
    readonly_fields = ("offer", "vendor", "stars", "text", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Rating) -> None:
        rating_delete(rating=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rating]) -> None:
        for rating in queryset:
            rating_delete(rating=rating)
