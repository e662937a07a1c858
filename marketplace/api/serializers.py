"""Serializer building blocks shared by every app's API, and the vendor's own endpoints."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import slug_re
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.codes import validate_currency
from marketplace.events import EVENT_TYPES, event_body
from marketplace.models import (
    Category,
    Event,
    Vendor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from marketplace.services import CAPACITY_RULE, MAX_DAILY_CAPACITY, MAX_KEYWORDS, MAX_REGIONS


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know (DESIGN §5: unknown fields → 400)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            # Text only as a JSON string, as money and booleans: DRF would take 42 as "42"
            # (in a list of texts too).
            not_text = sorted(
                name
                for name, field in self.fields.items()
                if not field.read_only
                and data.get(name) is not None
                and not _is_text(field, data[name])
            )
            if not_text:
                raise serializers.ValidationError(
                    {name: ["Send text, as a JSON string."] for name in not_text}
                )
        return super().to_internal_value(data)


def _is_text(field: serializers.Field, value: Any) -> bool:
    """False for what a text field (or a list of them) would turn into text: a number."""
    if isinstance(field, serializers.CharField):
        return isinstance(value, str)
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return not isinstance(value, list) or all(isinstance(item, str) for item in value)
    return True


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


def refuse_any_body(request: Any) -> None:
    """For an action that takes no body (withdraw, read, test): none, or ``{}``. Anything
    else is a 400 (or 415) like any bad input, before the action changes anything."""
    StrictSerializer(data=request.data).is_valid(raise_exception=True)


class CurrencyField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", 3)
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)
        self.validators.append(validate_currency)


MONEY_PATTERN = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$"}
)
class MoneyField(serializers.DecimalField):
    """A decimal string with two places, never negative, at most 12 digits before the point.

    Only a string (DESIGN §5: ``"1250.00"``): a JSON number may already have
    lost cents to binary floating point before it reaches us.
    """

    default_error_messages = {"not_a_string": 'Send money as a decimal string, e.g. "1250.00".'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # DRF reads "" as null for a nullable decimal; "" is not an amount.
        return serializers.Field.validate_empty_values(self, data)

    def to_internal_value(self, data: Any) -> Any:
        # Plain ASCII digits, a point, two places at most: no sign, exponent, spaces,
        # underscores or other scripts' digits, which Python's Decimal would all take.
        if not isinstance(data, str) or not MONEY_PATTERN.fullmatch(data):
            self.fail("not_a_string")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"}
)
class QuantityField(MoneyField):
    """A quantity, written as money is: a decimal string, two places at most, never
    negative (a JSON number may have lost its digits to binary floating point)."""

    default_error_messages = {"not_a_string": 'Send a quantity as a decimal string, e.g. "2.5".'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 12)
        super().__init__(**kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only; DRF would also take "5", 5.0 and true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only; DRF would also take 0, 1, "yes", "off" …"""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = Category
        fields = ["slug", "name", "parent"]


class CategorySlugField(serializers.SlugRelatedField):
    """A category by its slug. Text no slug can be is refused before the lookup: PostgreSQL
    refuses a NUL byte in a query (a 500), and nothing else can match."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", queryset=Category.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not slug_re.match(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


class VendorSerializer(StrictModelSerializer):
    categories = CategorySlugField(many=True)
    regions = serializers.ListField(
        child=serializers.CharField(max_length=10), max_length=MAX_REGIONS
    )
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=60), max_length=MAX_KEYWORDS
    )
    deal_size_min = MoneyField(required=False, allow_null=True)
    deal_size_max = MoneyField(required=False, allow_null=True)
    deal_size_currency = serializers.CharField(max_length=3, allow_blank=True, required=False)
    is_paused = StrictBooleanField(required=False)
    # Its upper bound is the service's: a capacity stored before the bound may be sent back.
    daily_capacity = StrictIntegerField(
        required=False,
        min_value=0,
        error_messages=dict.fromkeys(("invalid", "min_value"), CAPACITY_RULE),
        help_text=f"Notices a day at most, from 0 to {MAX_DAILY_CAPACITY:,}.",
    )

    class Meta:
        model = Vendor
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "website",
            "contact_email",
            "is_verified",
            "categories",
            "regions",
            "keywords",
            "deal_size_min",
            "deal_size_max",
            "deal_size_currency",
            "daily_capacity",
            "is_paused",
        ]
        read_only_fields = ["id", "slug", "is_verified"]
        extra_kwargs = {
            "is_verified": {
                "help_text": "Set by an operator who checked the vendor's name, website and"
                " contact e-mail; changing any of them sets it back to false until an"
                " operator checks again."
            }
        }


class EventSerializer(serializers.Serializer):
    """A feed item: the webhook body plus its feed position."""

    position = serializers.IntegerField(read_only=True)
    type = serializers.CharField(read_only=True)
    timestamp = serializers.DateTimeField(read_only=True)
    data = serializers.DictField(read_only=True)

    def to_representation(self, event: Event) -> dict[str, Any]:
        body = event_body(event)
        return {
            "position": event.position,
            "type": body["type"],
            "timestamp": body["timestamp"],
            "data": body["data"],
        }


class EventFeedSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.CharField(help_text="Pass as ?after= to get the events that follow.")


class WebhookEndpointSerializer(StrictModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        help_text="Event types to receive; empty for all.",
    )
    is_active = StrictBooleanField(required=False)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_reason",
            "created_at",
        ]
        read_only_fields = ["id", "disabled_reason", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """Returned once, on create: the signing secret is never shown again."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "latency_ms", "error"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type", read_only=True)
    webhook_id = serializers.CharField(source="message_id", read_only=True)
    log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "log",
        ]
        read_only_fields = fields
