from django.contrib import admin

from offers.models import Offer


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = (
        "intent",
        "vendor",
        "price",
        "currency",
        "status",
        "delivery_date",
        "created_at",
    )
    list_filter = ("status", "currency")
    list_select_related = ("intent", "vendor")
    search_fields = ("intent__title", "vendor__name", "message")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "status", "decided_at", "created_at", "updated_at")
    raw_id_fields = ("intent", "vendor")
