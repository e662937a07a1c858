from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from intents.models import Intent, Notice
from intents.services import intent_moderate_words, intent_set_hidden, title_problem
from marketplace.forms import TEXT_AS_TYPED


class IntentModerationForm(forms.ModelForm):
    def clean_title(self) -> str:
        title = self.cleaned_data["title"]
        problem = title_problem(title)
        if problem:
            raise forms.ValidationError(problem)
        return title


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
    actions = ["hide", "unhide"]
    # A moderator corrects the words and hides; every other field keeps the rules the
    # buyer's services keep (currency and seal once offers arrived, the deadline, the
    # audience), so it is shown, not edited here.
    MODERATED_FIELDS = ("title", "description", "is_hidden")
    form = IntentModerationForm
    formfield_overrides = TEXT_AS_TYPED

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            field.name
            for field in [*Intent._meta.concrete_fields, *Intent._meta.many_to_many]
            if field.name not in self.MODERATED_FIELDS
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # buyers post intents; the services give them a pseudonym and matching

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleted, it would vanish from its buyer with no word, and its vendors would
        # not be told: a moderator hides it; the buyer withdraws it.
        return False

    def save_model(self, request: HttpRequest, obj: Intent, form: Any, change: bool) -> None:
        # Through the services, which write only what the moderator changed (an offer
        # arriving meanwhile, the buyer's news mark, is kept) and tell the vendors.
        # Hidden in the same save, what the words told is passed over for them.
        if {"title", "description"} & set(form.changed_data):
            intent_moderate_words(intent=obj, title=obj.title, description=obj.description)
        if "is_hidden" in form.changed_data:
            intent_set_hidden(intent=obj, is_hidden=obj.is_hidden)

    @admin.action(description="Hide from vendors (abusive or spam)", permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        for intent in queryset:
            intent_set_hidden(intent=intent, is_hidden=True)
        self.message_user(request, f"{queryset.count()} intent(s) hidden.", messages.WARNING)

    @admin.action(description="Show to vendors again", permissions=["change"])
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # matching makes notices

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the vendor's notice and its access to the intent: the services' to end
