from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from intents.models import MAX_TEXT_ANSWER
from intents.privacy import neutral_criterion_keys
from marketplace.api.serializers import (
    CurrencyField,
    MoneyField,
    QuantityField,
    StrictBooleanField,
    StrictSerializer,
)
from offers.models import Offer, Question
from offers.services import MAX_MESSAGE


class LineItemSerializer(StrictSerializer):
    description = serializers.CharField(max_length=300)
    quantity = QuantityField()
    unit_price = MoneyField()


def _or_none(field: serializers.Field) -> Callable[[Any], Any]:
    return lambda value: None if value is None else field.to_representation(value)


_money = _or_none(serializers.DecimalField(max_digits=14, decimal_places=2))
_quantity = _or_none(LineItemSerializer().fields["quantity"])
_date = _or_none(serializers.DateField())
_timestamp = _or_none(serializers.DateTimeField())


class OfferSerializer(serializers.ModelSerializer):
    """An offer as its own vendor sees it."""

    intent = serializers.PrimaryKeyRelatedField(read_only=True)
    # Never null for a vendor's offer (check constraint); only members' proposals lack one.
    price = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    line_items = LineItemSerializer(many=True, read_only=True)
    terms_agreement = serializers.SerializerMethodField()

    class Meta:
        model = Offer
        fields = [
            "id",
            "intent",
            "status",
            "price",
            "currency",
            "delivery_date",
            "valid_until",
            "message",
            "line_items",
            "criteria_answers",
            "decline_reason",
            "revision_count",
            "terms_agreement",
            "created_at",
            "updated_at",
            "decided_at",
        ]
        read_only_fields = fields

    def to_representation(self, offer: Offer) -> dict[str, Any]:
        # Written out: the fields above describe the shape (for the schema), but
        # binding them for each offer cost more than the offer's INSERT. Each value
        # goes through the same DRF field's to_representation; a test holds the
        # two paths equal.
        return {
            "id": str(offer.pk),
            "intent": str(offer.intent_id),
            "status": offer.status,
            "price": _money(offer.price),
            "currency": offer.currency,
            "delivery_date": _date(offer.delivery_date),
            "valid_until": _date(offer.valid_until),
            "message": offer.message,
            "line_items": [
                {
                    "description": item["description"],
                    "quantity": _quantity(item["quantity"]),
                    "unit_price": _money(item["unit_price"]),
                }
                for item in offer.line_items
            ],
            "criteria_answers": _answers_for_vendor(offer),
            "decline_reason": offer.decline_reason,
            "revision_count": offer.revision_count,
            "terms_agreement": self.get_terms_agreement(offer),
            "created_at": _timestamp(offer.created_at),
            "updated_at": _timestamp(offer.updated_at),
            "decided_at": _timestamp(offer.decided_at),
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "terms": {"type": "array", "items": {"type": "object"}},
                "agreed_at": {"type": "string", "format": "date-time"},
            },
        }
    )
    def get_terms_agreement(self, offer: Offer) -> dict[str, object] | None:
        """The buyer's terms this vendor agreed to with the offer, as agreed."""
        agreement = getattr(offer, "terms_agreement", None)
        if agreement is None:
            return None
        return {"terms": agreement.terms, "agreed_at": agreement.agreed_at.isoformat()}


def _answers_for_vendor(offer: Offer) -> dict[str, Any]:
    """The answers, keyed by the intent's criteria; once the buyer's "delete my data"
    came due (``redacted_at``), by keys that are not the buyer's words: a criterion's key
    is a slug of the name the buyer gave it. The buyer's own view keeps the names."""
    intent = offer.intent
    if intent.redacted_at is None:
        return offer.criteria_answers
    keys = neutral_criterion_keys(
        [(criterion["key"], criterion["kind"]) for criterion in intent.criteria_for_vendors]
    )
    return {keys[key]: value for key, value in offer.criteria_answers.items() if key in keys}


CRITERIA_ANSWERS_HELP = (
    "Answers to the buyer's own criteria: those of the intent's `criteria` whose `kind` is"
    " `yes_no`, `number` or `text`, keyed by their `key`. A `yes_no` criterion takes a JSON"
    " boolean, a `number` one a JSON number, a `text` one a string of at most"
    f" {MAX_TEXT_ANSWER} characters. One marked `required` must be answered. Price,"
    " delivery and rating are read from the offer itself, not answered here."
)


class OfferCreateSerializer(StrictSerializer):
    """What a vendor sends to submit an offer."""

    intent = serializers.UUIDField()
    price = MoneyField()
    currency = CurrencyField()
    delivery_date = serializers.DateField(required=False, allow_null=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    message = serializers.CharField(max_length=MAX_MESSAGE, required=False, allow_blank=True)
    line_items = LineItemSerializer(many=True, required=False, max_length=100)
    criteria_answers = serializers.DictField(required=False, help_text=CRITERIA_ANSWERS_HELP)
    accept_terms = StrictBooleanField(
        required=False, help_text="Must be true when the intent carries buyer terms."
    )


class OfferUpdateSerializer(StrictSerializer):
    """What a vendor may revise; the intent and currency are fixed."""

    price = MoneyField(required=False)
    delivery_date = serializers.DateField(required=False, allow_null=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    message = serializers.CharField(max_length=MAX_MESSAGE, required=False, allow_blank=True)
    line_items = LineItemSerializer(many=True, required=False, max_length=100)
    criteria_answers = serializers.DictField(
        required=False,
        help_text=CRITERIA_ANSWERS_HELP
        + " Sent in a revision, it replaces the answers: send every answer you keep.",
    )


def line_items_as_json(items: list[dict]) -> list[dict]:
    """Decimals in line items are kept as strings in the JSON column."""
    return [
        {
            "description": item["description"],
            "quantity": f"{item['quantity']:.2f}",
            "unit_price": f"{item['unit_price']:.2f}",
        }
        for item in items
    ]


class QuestionSerializer(serializers.ModelSerializer):
    """A question as a vendor sees it; ``mine`` says whether this vendor asked it."""

    intent = serializers.PrimaryKeyRelatedField(read_only=True)
    mine = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = ["id", "intent", "text", "answer", "created_at", "answered_at", "mine"]
        read_only_fields = fields

    def get_mine(self, question: Question) -> bool:
        return question.vendor_id == self.context["vendor"].pk


class QuestionCreateSerializer(StrictSerializer):
    text = serializers.CharField(max_length=2000)
