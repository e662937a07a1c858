from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from intents.models import Intent, Notice
from intents.services import intent_set_hidden, notices_relist


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "status",
        "category",
        "pseudonym",
        "buyer",
        "currency",
        "budget_max",
        "offers_close_at",
        "is_hidden",
        "created_at",
    )
    list_filter = ("status", "visibility", "is_hidden", "category", "currency", "organization")
    list_select_related = ("category", "buyer")
    search_fields = ("title", "description", "pseudonym", "buyer__username", "buyer__email")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "pseudonym",
        "status",
        "created_at",
        "updated_at",
        "published_at",
        "closed_at",
        "awarded_at",
        "withdrawn_at",
        "expired_at",
    )
    raw_id_fields = ("buyer", "organization")
    filter_horizontal = ("invited_vendors",)
    actions = ["hide", "unhide"]

    def save_model(self, request: HttpRequest, obj: Intent, form: Any, change: bool) -> None:
        if change:
            # Only what the moderator changed: an offer arriving meanwhile (the
            # buyer's news mark) or any service's write to the row is kept.
            columns = {field.name for field in Intent._meta.concrete_fields}
            obj.save(update_fields=[*(set(form.changed_data) & columns), "updated_at"])
        else:
            super().save_model(request, obj, form, change)
        if "is_hidden" in form.changed_data:
            intent_set_hidden(intent=obj, is_hidden=obj.is_hidden)  # shown again: matched again
        else:
            # The form may change visibility: keep the notices' list flag true.
            notices_relist(intent=obj)

    @admin.action(description="Hide from vendors (abusive or spam)")
    def hide(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        for intent in queryset:
            intent_set_hidden(intent=intent, is_hidden=True)
        self.message_user(request, f"{queryset.count()} intent(s) hidden.", messages.WARNING)

    @admin.action(description="Show to vendors again")
    def unhide(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        for intent in queryset:
            intent_set_hidden(intent=intent, is_hidden=False)
        self.message_user(request, f"{queryset.count()} intent(s) shown again.", messages.SUCCESS)


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = (
        "intent",
        "vendor",
        "member",
        "reasons_text",
        "state",
        "attempts",
        "read_at",
        "created_at",
        "listed",
    )
    list_filter = ("state", ("read_at", admin.EmptyFieldListFilter))
    list_select_related = ("intent", "vendor", "member")
    search_fields = ("intent__title", "vendor__name", "member__username")
    date_hierarchy = "created_at"
    readonly_fields = (
        "intent",
        "vendor",
        "member",
        "reasons",
        "score",
        "state",
        "attempts",
        "read_at",
        "created_at",
        "listed",
    )
