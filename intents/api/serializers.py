from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from intents.models import Intent, Notice
from intents.payloads import intent_for_vendor


class VendorIntentSerializer(serializers.ModelSerializer):
    """An intent as a vendor sees it: the buyer is only a pseudonym."""

    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    buyer = serializers.CharField(source="pseudonym", read_only=True)
    budget_min = serializers.SerializerMethodField()
    budget_max = serializers.SerializerMethodField()
    region = serializers.SerializerMethodField()

    class Meta:
        model = Intent
        fields = [
            "id",
            "buyer",
            "title",
            "description",
            "category",
            "quantity",
            "unit",
            "budget_min",
            "budget_max",
            "currency",
            "region",
            "needed_by",
            "offers_close_at",
            "status",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, intent: Intent) -> dict[str, Any]:
        # One shape for the API, webhooks and the event feed; the fields
        # above describe it for the schema.
        return intent_for_vendor(intent)

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True))
    def get_budget_min(self, intent: Intent) -> str | None:
        if intent.is_budget_hidden or intent.budget_min is None:
            return None
        return f"{intent.budget_min:.2f}"

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True))
    def get_budget_max(self, intent: Intent) -> str | None:
        if intent.is_budget_hidden or intent.budget_max is None:
            return None
        return f"{intent.budget_max:.2f}"

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "country": {"type": "string", "nullable": True},
                "postal_area": {"type": "string"},
                "remote": {"type": "boolean"},
            },
        }
    )
    def get_region(self, intent: Intent) -> dict[str, Any]:
        return {
            "country": intent.country or None,
            "postal_area": intent.postal_area,
            "remote": intent.is_remote,
        }


class OwnOfferSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class VendorIntentDetailSerializer(VendorIntentSerializer):
    """One intent, with the calling vendor's own offer on it (if any)."""

    my_offer = serializers.SerializerMethodField()

    class Meta(VendorIntentSerializer.Meta):
        fields = [*VendorIntentSerializer.Meta.fields, "my_offer"]
        read_only_fields = fields

    def to_representation(self, intent: Intent) -> dict[str, Any]:
        return intent_for_vendor(intent) | {"my_offer": self.get_my_offer(intent)}

    @extend_schema_field(OwnOfferSummarySerializer(allow_null=True))
    def get_my_offer(self, intent: Intent) -> dict[str, Any] | None:
        vendor = self.context["vendor"]
        # Only the calling vendor's offers: never another vendor's.
        offer = (
            intent.offers.filter(vendor=vendor)
            .order_by("-created_at")
            .values("id", "status", "price", "currency")
            .first()
        )
        return OwnOfferSummarySerializer(offer).data if offer else None


class NoticeSerializer(serializers.ModelSerializer):
    """An inbox entry: which intent, why this vendor, read or not."""

    intent = VendorIntentSerializer(read_only=True)
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = ["id", "intent", "reasons", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, notice: Notice) -> bool:
        return notice.read_at is None
