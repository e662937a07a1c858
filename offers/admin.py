from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from offers.models import Offer, ProposalCoauthor, RewardEntry


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
        "decided_at", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = tuple(field for field in fields if field != "message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vendors make offers through the API, members on the web

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a decided offer is a record of both sides; a live one is withdrawn

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        # The message alone: what a service wrote meanwhile (a decision, a revision,
        # a worker's hold on the authors' e-mail) is kept.
        obj.save(update_fields=["message", "updated_at"])


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
