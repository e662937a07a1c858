from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.errors import DomainError
from marketplace.forms import TEXT_AS_TYPED, ValuesAsShown
from marketplace.models import (
    ApiKey,
    Category,
    Event,
    ExperienceEntry,
    Invitation,
    Membership,
    Organization,
    SkillProfile,
    User,
    Vendor,
    VendorBlock,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from marketplace.organizations import (
    member_request_catch_up,
    memberships_removed,
    organization_left_without_owner,
    skill_profile_refresh,
)
from marketplace.privacy import ERASED_EMAIL_DOMAIN, account_delete
from marketplace.services import (
    PROFILE_FIELDS,
    api_key_revoke,
    vendor_profile_errors,
    vendor_refresh_matching_fields,
    vendor_request_catch_up,
    vendor_set_suspended,
    vendor_set_verified,
    vendor_unblock,
)
from marketplace.webhooks import webhook_endpoint_update, webhook_redeliver


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "vendor", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_active", ("vendor", admin.EmptyFieldListFilter))
    list_select_related = ("vendor",)
    fieldsets = (*BaseUserAdmin.fieldsets, ("Vendor", {"fields": ("vendor",)}))
    # The e-mail is unique (and how people log in): asked for when adding, too.
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )  # fmt: skip
    autocomplete_fields = ("vendor",)
    actions = ["erase"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A row deleted would take the person's intents and what vendors were told with it:
        # an account is erased as its owner erases it (the action below).
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("marketplace.delete_user")

    @admin.action(
        description="Erase the selected accounts (as each person would)", permissions=["erase"]
    )
    def erase(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        erased, refused = 0, []
        for user in queryset:
            if user.pk == request.user.pk:
                refused.append(f"{user.get_username()}: not your own account, from here.")
            elif user.email.endswith(ERASED_EMAIL_DOMAIN):
                refused.append(f"{user.get_username()}: erased already.")
            else:  # deactivated by an operator or not, the person's data goes
                try:
                    account_delete(user=user)
                    erased += 1
                except DomainError as error:
                    refused.append(f"{user.get_username()}: {error.message}")
        self.message_user(request, f"{erased} account(s) erased.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if "email" in form.base_fields:
            form.base_fields["email"].required = True
        return form


class CategoryForm(forms.ModelForm):
    def clean_parent(self) -> Category | None:
        parent = self.cleaned_data.get("parent")
        ancestor, seen = parent, set()
        while ancestor is not None and ancestor.pk not in seen:
            if self.instance.pk is not None and ancestor.pk == self.instance.pk:
                raise forms.ValidationError(
                    "A category cannot sit under itself or one of its own subcategories."
                )
            seen.add(ancestor.pk)
            ancestor = ancestor.parent
        return parent


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("name", "slug", "parent")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("parent",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # keys are made with `create_api_key` or on the vendor's page


class VendorForm(ValuesAsShown, forms.ModelForm):
    """What the operator changed is told from the values the page showed, so a pause or a
    capacity the vendor saved meanwhile is kept (save_model writes the changed columns)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in ("regions", "keywords"):
            if field in cleaned and cleaned[field] is None:
                cleaned[field] = []  # a box left empty (or null): none
        errors = vendor_profile_errors(
            **{
                field: cleaned.get(field)
                for field in ("regions", "keywords", "deal_size_min", "deal_size_max")
            },
            deal_size_currency=cleaned.get("deal_size_currency") or "",
            daily_capacity=cleaned.get("daily_capacity"),
            changed=None if self.instance.pk is None else self.changed_data,
        )
        for field, messages_ in errors.items():
            self.add_error(field if field in self.fields else None, messages_)
        return cleaned


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    form = VendorForm
    # A website typed without its scheme is https, as on the vendor's own page.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}, **TEXT_AS_TYPED}
    list_display = (
        "name",
        "slug",
        "contact_email",
        "is_verified",
        "is_suspended",
        "is_paused",
        "daily_capacity",
        "created_at",
    )
    list_filter = ("is_verified", "is_suspended", "is_paused", "categories")
    search_fields = ("name", "slug", "contact_email", "description")
    filter_horizontal = ("categories",)
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [ApiKeyInline]
    actions = ["verify", "unverify", "suspend", "reinstate"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # its offers, notices and feed stay records: a vendor is suspended

    def save_model(self, request: HttpRequest, obj: Vendor, form: Any, change: bool) -> None:
        if change:
            # Only what the operator changed: the capacity counters, the reputation or
            # a suspension written meanwhile are kept.
            # A suspension is written by vendor_set_suspended (save_related), which
            # tells the staff only when it changes the row.
            columns = {field.name for field in Vendor._meta.concrete_fields} - {"is_suspended"}
            obj.save(update_fields=[*(set(form.changed_data) & columns), "updated_at"])
        else:
            super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Categories are saved only now: what matching reads must follow them.
        vendor_refresh_matching_fields(vendor=form.instance)
        if "is_suspended" in form.changed_data:  # reinstated: matched against the intents since
            vendor_set_suspended(vendor=form.instance, is_suspended=form.instance.is_suspended)
        elif set(form.changed_data) & {*PROFILE_FIELDS, "categories"}:
            # As when the vendor changes its profile itself: open intents that now fit it.
            vendor_request_catch_up(vendor_id=form.instance.pk)

    @admin.action(description="Verify the selected vendors", permissions=["change"])
    def verify(self, request: HttpRequest, queryset: QuerySet[Vendor]) -> None:
        for vendor in queryset:
            vendor_set_verified(vendor=vendor, is_verified=True)
        self.message_user(request, f"{queryset.count()} vendor(s) verified.", messages.SUCCESS)

    @admin.action(description="Remove verification", permissions=["change"])
    def unverify(self, request: HttpRequest, queryset: QuerySet[Vendor]) -> None:
        for vendor in queryset:
            vendor_set_verified(vendor=vendor, is_verified=False)
        self.message_user(request, f"{queryset.count()} vendor(s) unverified.", messages.SUCCESS)

    @admin.action(description="Suspend (their API keys stop working)", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Vendor]) -> None:
        for vendor in queryset:
            vendor_set_suspended(vendor=vendor, is_suspended=True)
        self.message_user(request, f"{queryset.count()} vendor(s) suspended.", messages.WARNING)

    @admin.action(description="Reinstate suspended vendors", permissions=["change"])
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Vendor]) -> None:
        for vendor in queryset:
            vendor_set_suspended(vendor=vendor, is_suspended=False)
        self.message_user(request, f"{queryset.count()} vendor(s) reinstated.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "vendor", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("vendor",)
    search_fields = ("prefix", "name", "vendor__name", "vendor__slug")
    fields = ("vendor", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


@admin.register(VendorBlock)
class VendorBlockAdmin(admin.ModelAdmin):
    """A buyer's blocks, to read. Blocking is the buyer's own act (it also takes the
    vendor's notices away); a block removed here is lifted as the buyer lifts it."""

    list_display = ("buyer", "vendor", "created_at")
    list_select_related = ("buyer", "vendor")
    search_fields = ("buyer__username", "vendor__name")
    raw_id_fields = ("buyer", "vendor")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: VendorBlock) -> None:
        vendor_unblock(buyer=obj.buyer, vendor=obj.vendor)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[VendorBlock]) -> None:
        for block in queryset.select_related("buyer", "vendor"):
            vendor_unblock(buyer=block.buyer, vendor=block.vendor)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "vendor", "position", "created_at")
    list_filter = ("type", ("position", admin.EmptyFieldListFilter))
    list_select_related = ("vendor",)
    search_fields = ("vendor__name", "dedupe_key")
    readonly_fields = ("vendor", "type", "payload", "dedupe_key", "position", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the vendor's feed: what it was told stays, in order


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "vendor", "is_active", "disabled_reason", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("vendor",)
    search_fields = ("url", "vendor__name", "description")
    # The URL and events are checked, and the secret made and shown once, by the vendor's
    # own pages and the API: here an operator reads, and turns an endpoint off or on.
    readonly_fields = ("id", "vendor", "url", "event_types", "created_at", "updated_at")
    exclude = ("secret",)

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        # As the vendor's own change: the changed columns alone (a rotation or a 410
        # meanwhile is kept), and one turned on again loses the reason it was off.
        webhook_endpoint_update(
            endpoint=obj,
            by_operator=True,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the vendor deletes its own endpoints; an operator turns one off


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "latency_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every attempt, its status and latency, and the next retry."""

    list_display = (
        "message_id",
        "event_type",
        "vendor",
        "status",
        "attempts",
        "last_status_code",
        "last_latency_ms",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event__type")
    list_select_related = ("event", "endpoint__vendor")
    search_fields = ("message_id", "endpoint__url", "endpoint__vendor__name")
    readonly_fields = (
        "event",
        "endpoint",
        "message_id",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "last_status_code",
        "last_latency_ms",
        "last_error",
        "created_at",
        "delivered_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the vendor's delivery log

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="vendor")
    def vendor(self, delivery: WebhookDelivery) -> Vendor:
        return delivery.endpoint.vendor

    @admin.action(description="Redeliver now (same webhook-id)", permissions=["change"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        sent = refused = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_redeliver(delivery=delivery, by_vendor=False)
                sent += 1
            except DomainError:
                refused += 1
        self.message_user(
            request,
            f"{sent} delivery(ies) sent again; {refused} refused (endpoint disabled,"
            " vendor suspended, or an attempt under way).",
            messages.SUCCESS if not refused else messages.WARNING,
        )


OWNER = Membership.Role.OWNER
LAST_OWNER = "An organization with members keeps at least one owner; make someone else owner first."


MOVED = "A membership is not moved to another person: remove it and add one for them."


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    """The organization's members as edited together: one of those kept stays owner."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if form.instance.pk and "user" in form.changed_data:
                # As MembershipAdmin: the person leaving would keep their proposals.
                form.add_error("user", MOVED)
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if kept and not any(data.get("role") == OWNER for data in kept):
            raise forms.ValidationError(LAST_OWNER)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user",)
    extra = 0


class MembershipForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        old = self.instance  # as stored: the form's values are put in after clean()
        demoted = old.pk and old.role == OWNER and cleaned.get("role") != OWNER
        if demoted and organization_left_without_owner(old.organization_id, demoting=[old.pk]):
            raise forms.ValidationError(LAST_OWNER)
        organization = cleaned.get("organization")
        if (
            not old.pk
            and organization is not None
            and cleaned.get("role") != OWNER
            and not Membership.objects.filter(organization=organization, role=OWNER).exists()
        ):
            raise forms.ValidationError(f"This organization has no owner: {LAST_OWNER}")
        return cleaned


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if isinstance(formset, MembershipInlineFormSet):
            memberships_removed(formset.deleted_objects)
            for membership in formset.new_objects:  # matched to the open RFPs, as on joining
                member_request_catch_up(user_id=membership.user_id)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Roles as the organizations' own pages keep them: never an organization without an owner."""

    form = MembershipForm
    list_display = ("organization", "user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("organization", "user")
    search_fields = ("organization__name", "user__username", "user__email")
    raw_id_fields = ("organization", "user")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A membership is not moved to another person or organization: make a new one.
        return ("organization", "user") if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # matched to the organization's open RFPs, as on joining
            member_request_catch_up(user_id=obj.user_id)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and organization_left_without_owner(
            obj.organization_id, removing=[obj.pk]
        ):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        removing = set(queryset.values_list("pk", flat=True))
        for organization_id in set(queryset.values_list("organization_id", flat=True)):
            if organization_left_without_owner(organization_id, removing=removing):
                self.message_user(request, f"Nothing deleted: {LAST_OWNER}", messages.ERROR)
                return
        removed = list(queryset)
        super().delete_queryset(request, queryset)
        memberships_removed(removed)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        super().delete_model(request, obj)
        memberships_removed([obj])


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "status", "expires_at", "created_at")
    list_filter = ("status", "role")
    list_select_related = ("organization",)
    search_fields = ("email", "organization__name")
    readonly_fields = ("hashed_token", "invited_by", "created_at", "answered_at")
    raw_id_fields = ("organization",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # owners invite on the site: the token is made and e-mailed there


@admin.register(SkillProfile)
class SkillProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    # Each person writes their own (marketplace.organizations.skill_profile_update
    # derives what matching reads): operators read them.
    readonly_fields = ("user", "skills", "skill_lexemes", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ExperienceEntry)
class ExperienceEntryAdmin(admin.ModelAdmin):
    formfield_overrides = TEXT_AS_TYPED
    list_display = ("title", "user", "started_on", "ended_on")
    list_select_related = ("user",)
    search_fields = ("title", "user__username")
    raw_id_fields = ("user",)

    # An entry's title is matched against internal RFPs: what matching reads follows an
    # operator's edit too (the person's, and a former owner's when moved to another).
    def save_model(
        self, request: HttpRequest, obj: ExperienceEntry, form: Any, change: bool
    ) -> None:
        before = form.initial.get("user") if change else None
        super().save_model(request, obj, form, change)
        for user_id in {obj.user_id, before} - {None}:
            skill_profile_refresh(user=User.objects.get(pk=user_id))

    def delete_model(self, request: HttpRequest, obj: ExperienceEntry) -> None:
        super().delete_model(request, obj)
        skill_profile_refresh(user=obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ExperienceEntry]) -> None:
        users = list(User.objects.filter(pk__in=queryset.values("user_id")))
        super().delete_queryset(request, queryset)
        for user in users:
            skill_profile_refresh(user=user)
