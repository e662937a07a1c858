from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone

from intents.models import DELETE_AFTER_AWARD, Criterion, Intent, Term
from marketplace.codes import country_choices, currency_choices
from marketplace.forms import ParagraphsField
from marketplace.models import Category
from marketplace.selectors import categories_in_tree_order


class DeadlineField(forms.DateTimeField):
    """A moment typed in the person's zone; the value the page showed, sent back as it was,
    is the moment it showed (``shown``), not read again."""

    shown: tuple[str, datetime] | None = None
    FORMAT = "%Y-%m-%dT%H:%M"

    @classmethod
    def as_shown(cls, moment: datetime) -> str:
        """The field's value as the page shows it now, then the moment, in UTC."""
        return f"{timezone.localtime(moment):{cls.FORMAT}}@{moment.astimezone(UTC).isoformat()}"

    @classmethod
    def read_as_shown(cls, sent: str) -> tuple[str, datetime] | None:
        typed, _, moment = sent.partition("@")
        try:
            when = datetime.fromisoformat(moment)
        except ValueError:
            return None
        return (typed, when) if when.tzinfo is not None else None

    def to_python(self, value: Any) -> datetime | None:
        if self.shown is not None and value == self.shown[0]:
            return self.shown[1]
        return super().to_python(value)


class IntentForm(forms.Form):
    """The buyer's intent form. Types are parsed here; rules live in ``intent_validate``."""

    title = forms.CharField(max_length=200, help_text="What you mean to buy, in a few words.")
    description = ParagraphsField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What matters to you: specifics, quality, constraints.",
    )
    category = forms.ModelChoiceField(queryset=Category.objects.all(), empty_label="Choose…")
    quantity = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2, initial=1)
    unit = forms.CharField(max_length=40, required=False, help_text="e.g. pieces, hours, m²")
    budget_min = forms.DecimalField(
        label="Budget from", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    budget_max = forms.DecimalField(
        label="Budget up to", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.ChoiceField(initial="EUR")
    is_budget_hidden = forms.BooleanField(label="Hide my budget from vendors", required=False)
    country = forms.ChoiceField(required=False)
    postal_area = forms.CharField(
        max_length=20, required=False, label="Postal area", help_text="Optional, e.g. 10115."
    )
    is_remote = forms.BooleanField(label="Can be done remotely", required=False)
    needed_by = forms.DateField(
        required=False, label="Needed by", widget=forms.DateInput(attrs={"type": "date"})
    )
    offers_close_at = DeadlineField(
        label="Take offers until",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # The deadline as the page showed it, and the moment it was: sent back untouched, it
    # is that moment, whatever the zone the page is read in now (the browser's may have
    # changed) and even in an hour a clock change repeats.
    offers_close_at_as_shown = forms.CharField(required=False, widget=forms.HiddenInput)
    # Internal intents are posted from an organization's page, never here.
    visibility = forms.ChoiceField(
        choices=[
            choice
            for choice in Intent.Visibility.choices
            if choice[0] != Intent.Visibility.INTERNAL
        ],
        initial="public",
    )
    max_vendors = forms.IntegerField(
        label="Notify at most this many vendors", min_value=1, max_value=200, initial=25
    )
    is_sealed = forms.BooleanField(
        label="Sealed until close — show me the offers only after the deadline", required=False
    )
    contact_details = ParagraphsField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="How the vendor you choose can reach you",
        help_text="Shown only to the vendor whose offer you accept.",
    )
    is_buyer_email_enabled = forms.BooleanField(
        label="E-mail me about new offers and questions (at most once an hour)",
        required=False,
        initial=True,
    )
    terms = forms.MultipleChoiceField(
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Your terms — vendors must accept them to make an offer",
    )
    delete_after_days = forms.IntegerField(
        label="Days after the award for “delete my data”",
        min_value=1,
        max_value=3650,
        initial=30,
        required=False,
    )
    invited = forms.CharField(
        required=False,
        label="Invited vendors",
        help_text="For “invited” intents: the vendors' short names (slugs), separated by commas.",
    )
    blocked = forms.CharField(
        required=False,
        label="Vendors to keep off",
        help_text="Never told of this intent, whatever it matches: their short names (slugs),"
        " separated by commas.",
    )
    price_weight = forms.IntegerField(label="Price", min_value=0, max_value=100, initial=50)
    delivery_weight = forms.IntegerField(
        label="Delivery date", min_value=0, max_value=100, initial=25
    )
    rating_weight = forms.IntegerField(
        label="Vendor rating", min_value=0, max_value=100, initial=25
    )

    STANDARD_WEIGHTS = (
        ("price_weight", "Price", Criterion.Kind.PRICE),
        ("delivery_weight", "Delivery date", Criterion.Kind.DELIVERY),
        ("rating_weight", "Vendor rating", Criterion.Kind.RATING),
    )

    NOT_INTENT_FIELDS = frozenset(
        {
            "price_weight",
            "delivery_weight",
            "rating_weight",
            "terms",
            "delete_after_days",
            "invited",
            "blocked",
            "offers_close_at_as_shown",
        }
    )

    def intent_fields(self) -> dict[str, object]:
        """The cleaned data that belongs to the intent itself."""
        return {k: v for k, v in self.cleaned_data.items() if k not in self.NOT_INTENT_FIELDS}

    def chosen_terms(self) -> list[dict[str, object]]:
        days = self.cleaned_data.get("delete_after_days")
        return [
            {"code": code, **({"days": days} if code == DELETE_AFTER_AWARD else {})}
            for code in self.cleaned_data.get("terms", [])
        ]

    def invited_slugs(self) -> list[str]:
        return self._slugs("invited")

    def blocked_slugs(self) -> list[str]:
        return self._slugs("blocked")

    def _slugs(self, field: str) -> list[str]:
        return [
            slug.strip().lower()
            for slug in self.cleaned_data.get(field, "").split(",")
            if slug.strip()
        ]

    def standard_criteria(self) -> list[dict[str, object]]:
        return [
            {"name": label, "kind": kind, "weight": self.cleaned_data[name]}
            for name, label, kind in self.STANDARD_WEIGHTS
            if self.cleaned_data.get(name)
        ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["offers_close_at"].help_text = f"{your_clock()} At most a year ahead."
        shown = self.initial.get("offers_close_at")
        if shown is not None:
            self.initial["offers_close_at_as_shown"] = DeadlineField.as_shown(shown)
        if self.is_bound:
            self.fields["offers_close_at"].shown = DeadlineField.read_as_shown(
                self.data.get(self.add_prefix("offers_close_at_as_shown"), "")
            )
        self.fields["currency"].choices = currency_choices()
        current = self.initial.get("currency")
        if current and current not in dict(self.fields["currency"].choices):
            # An intent made in a code no longer offered keeps it (it cannot change once open).
            self.fields["currency"].choices = [(current, current), *currency_choices()]
        self.fields["terms"].choices = [
            (term.code, term.wording(days="N")) for term in Term.objects.filter(is_current=True)
        ]
        self.fields["country"].choices = [("", "— none (remote) —"), *country_choices()]
        # The tree, indented, parents first.
        self.fields["category"].choices = [("", "Choose…")] + [  # type: ignore[attr-defined]
            (category.pk, ("— " * depth) + category.name)
            for category, depth in categories_in_tree_order()
        ]


def your_clock() -> str:
    """The clock a time is typed in, read off the page: the person's zone, and its time now."""
    now, name = timezone.localtime(), timezone.get_current_timezone_name()
    zone = name if f"{now:%Z}" in name else f"{name}, {now:%Z}"
    return f"In your time ({zone}): it is now {now:%Y-%m-%d %H:%M}."


class CustomCriterionForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="Criterion")
    kind = forms.ChoiceField(
        choices=[
            (Criterion.Kind.YES_NO, "Yes / no"),
            (Criterion.Kind.NUMBER, "Number (higher is better)"),
            (Criterion.Kind.TEXT, "Text (not scored)"),
        ],
        label="Kind",
        initial=Criterion.Kind.YES_NO,  # as a browser sends a blank row: no change
    )
    weight = forms.IntegerField(min_value=0, max_value=100, initial=10, label="Weight")
    is_required = forms.BooleanField(required=False, label="Answer required")


class BaseCustomCriteriaFormSet(forms.BaseFormSet):
    """Every row a buyer may fill in (the criteria they have, then blank ones up to the
    most allowed). The page shows the criteria and two blank rows; the other blank rows
    wait under "More criteria" (a plain disclosure: no script needed)."""

    BLANK_SHOWN = 2

    @property
    def rows_shown(self) -> int:
        return self.initial_form_count() + self.BLANK_SHOWN

    @property
    def more_open(self) -> bool:
        """Open when a row under it was filled in (a criterion named there), or has an error."""
        return self.is_bound and any(
            str(form["name"].value() or "").strip() or form.errors
            for form in self.forms[self.rows_shown :]
        )


# Three standard criteria and nine of the buyer's own: MAX_CRITERIA in all.
CustomCriteriaFormSet = forms.formset_factory(
    CustomCriterionForm, formset=BaseCustomCriteriaFormSet, extra=9, max_num=9
)


def custom_criteria(formset: forms.BaseFormSet) -> list[dict[str, object]]:
    return [
        {
            "name": form.cleaned_data["name"],
            "kind": form.cleaned_data["kind"],
            "weight": form.cleaned_data["weight"],
            "is_required": form.cleaned_data["is_required"],
        }
        for form in formset.forms
        if form.cleaned_data.get("name")
    ]


def intent_initial(intent: Intent) -> dict[str, object]:
    initial: dict[str, object] = {
        field: getattr(intent, field)
        for field in IntentForm.base_fields
        if field not in IntentForm.NOT_INTENT_FIELDS
    }
    intent_terms = list(intent.intent_terms.select_related("term"))
    initial["terms"] = [intent_term.term.code for intent_term in intent_terms]
    initial["delete_after_days"] = next(
        (t.days for t in intent_terms if t.term.code == DELETE_AFTER_AWARD), 30
    )
    initial["invited"] = ", ".join(intent.invited_vendors.values_list("slug", flat=True))
    initial["blocked"] = ", ".join(intent.blocked_vendors.values_list("slug", flat=True))
    weights = {criterion.kind: criterion.weight for criterion in intent.criteria.all()}
    for name, _label, kind in IntentForm.STANDARD_WEIGHTS:
        initial[name] = weights.get(kind, 0)
    return initial


def criteria_initial(intent: Intent) -> list[dict[str, object]]:
    return [
        {
            "name": criterion.name,
            "kind": criterion.kind,
            "weight": criterion.weight,
            "is_required": criterion.is_required,
        }
        for criterion in intent.criteria.all()
        if criterion.is_custom
    ]
