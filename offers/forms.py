from django import forms


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        label="Reason (optional, the vendor sees it)",
    )
