from django import forms

from intents.forms import your_clock
from marketplace.codes import currency_choices
from marketplace.forms import ParagraphsField
from marketplace.models import Category
from offers.models import Offer
from offers.questions import MAX_ANSWER
from offers.ratings import MAX_TEXT


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        label="Reason (the vendor sees it)",
    )


class AnswerForm(forms.Form):
    answer = ParagraphsField(
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
    text = ParagraphsField(
        max_length=MAX_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Review",
    )


class InternalIntentForm(forms.Form):
    """An organization's internal RFP; rules live in ``intent_create_internal``."""

    title = forms.CharField(max_length=200, help_text="The problem to solve, in a few words.")
    description = ParagraphsField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Colleagues whose skills are mentioned here are told about it.",
    )
    category = forms.ModelChoiceField(queryset=Category.objects.all(), empty_label="Choose…")
    reward_amount = forms.DecimalField(label="Reward", min_value=0, max_digits=14, decimal_places=2)
    reward_is_points = forms.BooleanField(label="The reward is in points", required=False)
    reward_currency = forms.ChoiceField(
        label="Currency (unless points)", required=False, initial="EUR"
    )
    offers_close_at = forms.DateTimeField(
        label="Take proposals until",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    needed_by = forms.DateField(
        required=False, label="Needed by", widget=forms.DateInput(attrs={"type": "date"})
    )
    max_members = forms.IntegerField(
        label="Notify at most this many members", min_value=1, max_value=200, initial=25
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reward_currency"].choices = [("", "—"), *currency_choices()]
        self.fields["offers_close_at"].help_text = your_clock()


class ProposalReviseForm(forms.Form):
    """What a proposal says: changed by its proposer while the RFP is open."""

    message = ParagraphsField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=5000, label="Your proposal"
    )
    approach = ParagraphsField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=5000, required=False
    )
    estimate = forms.CharField(
        max_length=100, required=False, help_text="The effort, e.g. “5 person-days”."
    )
    delivery_date = forms.DateField(
        required=False, label="Delivered by", widget=forms.DateInput(attrs={"type": "date"})
    )

    # Its fields' names and ids apart from the new-proposal form's on the same page.
    prefix = "revise"

    @staticmethod
    def initial_of(proposal: Offer) -> dict[str, object]:
        return {
            "message": proposal.message,
            "approach": proposal.approach,
            "estimate": proposal.estimate,
            "delivery_date": proposal.delivery_date,
        }


class ProposalForm(ProposalReviseForm):
    """A new proposal: what it says, and who wrote it too."""

    prefix = None
    coauthors = forms.CharField(
        required=False,
        label="Co-authors",
        help_text="Usernames of colleagues in this organization, separated by commas. "
        "Each confirms before the proposal can be accepted.",
    )

    def clean_coauthors(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["coauthors"].split(",") if name.strip()]


class ProposalDeclineForm(forms.Form):
    reason = forms.CharField(max_length=300, label="Reason (the proposer reads it)")


class CoauthorAddForm(forms.Form):
    username = forms.CharField(max_length=150, label="Add a co-author (username)")
