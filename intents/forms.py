from __future__ import annotations

from django import forms

from intents.models import Intent
from marketplace.codes import country_choices, currency_choices
from marketplace.models import Category
from marketplace.selectors import categories_in_tree_order


class IntentForm(forms.Form):
    """The buyer's intent form. Types are parsed here; rules live in ``intent_validate``."""

    title = forms.CharField(max_length=200, help_text="What you mean to buy, in a few words.")
    description = forms.CharField(
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
    offers_close_at = forms.DateTimeField(
        label="Take offers until (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    visibility = forms.ChoiceField(choices=Intent.Visibility.choices, initial="public")
    max_vendors = forms.IntegerField(
        label="Notify at most this many vendors", min_value=1, max_value=200, initial=25
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices()
        self.fields["country"].choices = [("", "— none (remote) —"), *country_choices()]
        # The tree, indented, parents first.
        self.fields["category"].choices = [("", "Choose…")] + [  # type: ignore[attr-defined]
            (category.pk, ("— " * depth) + category.name)
            for category, depth in categories_in_tree_order()
        ]


def intent_initial(intent: Intent) -> dict[str, object]:
    return {field: getattr(intent, field) for field in IntentForm.base_fields}
