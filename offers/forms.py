from django import forms

from offers.questions import MAX_ANSWER
from offers.ratings import MAX_TEXT


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        label="Reason (optional, the vendor sees it)",
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        max_length=MAX_ANSWER,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Your answer (every matched vendor sees it)",
    )


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        choices=[(n, f"{n} ★") for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
        label="Stars",
    )
    text = forms.CharField(
        max_length=MAX_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Review",
    )
