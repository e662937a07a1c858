from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset
from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, UserCreationForm
from django.db import models
from django.http import HttpRequest

from marketplace.accounts import USERNAME_ADDRESS, login_address, password_reset_request
from marketplace.codes import currency_choices
from marketplace.errors import DomainError
from marketplace.events import EVENT_TYPES
from marketplace.models import Category, Membership, User
from marketplace.services import MAX_DAILY_CAPACITY


def as_typed(text: str) -> str:
    """Text from a <textarea> as the person typed it: browsers send its line breaks as
    CR LF, but count each as one character against ``maxlength``."""
    return text.replace("\r\n", "\n")


class ParagraphsField(forms.CharField):
    """Text typed in a <textarea>, its line breaks kept as LF (``as_typed``): the text the
    browser let through is never refused as too long."""

    widget = forms.Textarea

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return as_typed(value) if isinstance(value, str) else value


# For the admin's forms: every text box as typed, as on the site.
TEXT_AS_TYPED = {models.TextField: {"form_class": ParagraphsField}}


class SignUpForm(forms.Form):
    """Signing up, first step: the address alone (:mod:`marketplace.accounts`)."""

    email = forms.EmailField(
        label="E-mail", max_length=254, help_text="Never shown to vendors unless you choose to."
    )


def _no_address(username: str) -> None:
    # signup_complete's rule, as a validator: it then comes before the uniqueness check.
    if "@" in username:
        raise forms.ValidationError(USERNAME_ADDRESS, code="address_as_username")


class SignUpFinishForm(UserCreationForm):
    """Signing up, through the e-mailed link: username and password, for ``instance.email``.

    A username is never an address: a vendor's staff log in with theirs, and
    "that username exists" would tell whether such an address has an account.
    """

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Checked before the username's uniqueness, which is then not asked.
        self.fields["username"].validators.append(_no_address)
        self.fields["username"].help_text = "Letters, digits and . + - _ only; 150 at most."


class PasswordResetRequestForm(PasswordResetForm):
    """Django's password reset form, its e-mail sent by a task (:mod:`marketplace.accounts`)."""

    def save(self, **kwargs: Any) -> None:  # type: ignore[override]
        password_reset_request(email=self.cleaned_data["email"])


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on a form: next to the fields it names, else on top."""
    for field, field_errors in error.errors.items():
        for message in field_errors:
            form.add_error(field if field in form.fields else None, message)
    if not error.errors:
        form.add_error(None, error.message)


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class ValuesAsShown:
    """A form (mixin) whose page sends, beside each field, its value as the page showed it
    (Django's ``show_hidden_initial``): ``changed_data``, and ``changes()``, then hold the
    fields the person changed alone, so saving writes those and keeps what another tab,
    the API or the vendor saved meanwhile. A page sent without those values (opened before
    they were sent) is compared with the form's ``initial``, the row as it is now."""

    fields: dict[str, forms.Field]
    data: Any
    is_bound: bool
    cleaned_data: dict[str, Any]
    changed_data: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound or any(key.startswith("initial-") for key in self.data):
            for field in self.fields.values():
                field.show_hidden_initial = True

    def changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.changed_data}


class VendorProfileForm(ValuesAsShown, forms.Form):
    """The vendor profile on the web; rules are checked by ``vendor_update`` (the capacity's
    bound too: one stored before it is kept while it is not changed)."""

    name = forms.CharField(max_length=200)
    description = ParagraphsField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    # The lengths of the columns (Vendor.website, Vendor.contact_email).
    website = forms.URLField(required=False, max_length=200, assume_scheme="https")
    contact_email = forms.EmailField(label="Contact e-mail", max_length=254)
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.all(), widget=forms.CheckboxSelectMultiple, required=False
    )
    regions = forms.CharField(
        required=False,
        help_text="ISO 3166 country codes separated by commas (DE, FR, DE-BY), or * for worldwide.",
    )
    keywords = forms.CharField(
        required=False,
        help_text="Words separated by commas. If set, you hear only of intents that mention one.",
    )
    deal_size_min = forms.DecimalField(
        label="Smallest deal", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    deal_size_max = forms.DecimalField(
        label="Largest deal", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    deal_size_currency = forms.ChoiceField(
        label="Deal size currency", required=False, choices=[("", "—")]
    )
    daily_capacity = forms.IntegerField(
        label="Notices per day at most",
        min_value=0,
        help_text=f"From 0 to {MAX_DAILY_CAPACITY:,}.",
    )
    is_paused = forms.BooleanField(label="Paused — send me no new notices", required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deal_size_currency"].choices = [("", "—"), *currency_choices()]

    def clean_regions(self) -> list[str]:
        return [region.upper() for region in _split_list(self.cleaned_data["regions"])]

    def clean_keywords(self) -> list[str]:
        return _split_list(self.cleaned_data["keywords"])


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="To tell your keys apart, e.g. “production”."
    )


class WebhookEndpointForm(ValuesAsShown, forms.Form):
    url = forms.URLField(label="Receiver URL", max_length=500, assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=[(event_type, event_type) for event_type in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked to receive every event.",
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        label="Address", max_length=80, required=False, help_text="Made from the name if empty."
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail of the person to invite", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class SkillsForm(forms.Form):
    skills = ParagraphsField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Separated by commas, e.g. “python, data analysis, negotiation”. "
        "You hear of your organizations' RFPs that mention one.",
    )

    def clean_skills(self) -> list[str]:
        return _split_list(self.cleaned_data["skills"])


class ExperienceForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = ParagraphsField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    started_on = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ended_on = forms.DateField(
        label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    outcome = ParagraphsField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


NOT_YOUR_PASSWORD = "This is not your password."


def _password_is_theirs(request: HttpRequest, user: User, password: str) -> bool:
    """Asked as a login asks: each wrong password counts towards the username's lockout
    (django-axes), so a session left open is no place to guess it without limit; and,
    as a login that succeeds, the right one clears the count from that address."""
    if authenticate(request, username=user.get_username(), password=password) != user:
        return False
    axes_reset(ip=login_address(request), username=user.get_username())
    return True


class OwnPasswordChangeForm(PasswordChangeForm):
    """Django's form, with the old password checked as :func:`_password_is_theirs` does."""

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        if not _password_is_theirs(self.request, self.user, old_password):
            raise forms.ValidationError(NOT_YOUR_PASSWORD, code="password_incorrect")
        return old_password


class AccountDeleteForm(forms.Form):
    """Erasing an account asks for its password: a session left open is not enough."""

    confirm = forms.BooleanField(label="I understand; delete my account")
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not _password_is_theirs(self.request, self.request.user, password):
            raise forms.ValidationError(NOT_YOUR_PASSWORD)
        return password
