from django.contrib import admin

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
    readonly_fields = ("id", "status", "decided_at", "created_at", "updated_at")
    raw_id_fields = ("intent", "vendor", "member")


@admin.register(ProposalCoauthor)
class ProposalCoauthorAdmin(admin.ModelAdmin):
    list_display = ("offer", "member", "confirmed_at", "created_at")
    list_select_related = ("offer", "offer__intent", "member")
    search_fields = ("member__username", "offer__intent__title")
    raw_id_fields = ("offer", "member")


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
