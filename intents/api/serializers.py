from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from intents.models import Criterion, Intent, Notice
from intents.payloads import intent_for_vendor
from intents.services import buyer_identity_for_vendor


class VendorIntentSerializer(serializers.ModelSerializer):
    """An intent as a vendor sees it: the buyer is only a pseudonym."""

    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    buyer = serializers.CharField(source="pseudonym", read_only=True)
    budget_min = serializers.SerializerMethodField()
    budget_max = serializers.SerializerMethodField()
    region = serializers.SerializerMethodField()
    criteria = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField(
        help_text="The buyer's terms; an offer must accept them (accept_terms: true)."
    )
    sealed = serializers.BooleanField(source="is_sealed", read_only=True)

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
            "criteria",
            "terms",
            "sealed",
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
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": list(Criterion.Kind.values)},
                    "weight": {"type": "integer"},
                    "required": {"type": "boolean"},
                },
            },
        }
    )
    def get_criteria(self, intent: Intent) -> list[dict[str, Any]]:
        return intent_for_vendor(intent)["criteria"]

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "version": {"type": "integer"},
                    "title": {"type": "string"},
                    "text": {"type": "string"},
                    "days": {"type": "integer", "nullable": True},
                },
            },
        }
    )
    def get_terms(self, intent: Intent) -> list[dict[str, Any]]:
        return intent_for_vendor(intent)["terms"]

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
    answered_questions = serializers.SerializerMethodField()
    buyer_contact = serializers.SerializerMethodField()
    buyer_identity = serializers.SerializerMethodField(
        help_text="The buyer's name and e-mail, only once they revealed themselves to you."
    )

    class Meta(VendorIntentSerializer.Meta):
        fields = [
            *VendorIntentSerializer.Meta.fields,
            "my_offer",
            "answered_questions",
            "buyer_contact",
            "buyer_identity",
        ]
        read_only_fields = fields

    def to_representation(self, intent: Intent) -> dict[str, Any]:
        my_offer = self.get_my_offer(intent)
        return intent_for_vendor(intent) | {
            "my_offer": my_offer,
            "answered_questions": self.get_answered_questions(intent),
            "buyer_contact": self.get_buyer_contact(intent, my_offer),
            "buyer_identity": buyer_identity_for_vendor(
                intent=intent, vendor=self.context["vendor"]
            ),
        }

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "text": {"type": "string"},
                    "answer": {"type": "string"},
                    "answered_at": {"type": "string", "format": "date-time"},
                },
            },
        }
    )
    def get_answered_questions(self, intent: Intent) -> list[dict[str, Any]]:
        # Every matched vendor reads the answers; the askers stay anonymous.
        return [
            {
                "id": str(question["id"]),
                "text": question["text"],
                "answer": question["answer"],
                "answered_at": question["answered_at"].isoformat(),
            }
            for question in intent.questions.filter(answered_at__isnull=False)
            .order_by("answered_at")
            .values("id", "text", "answer", "answered_at")
        ]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
        }
    )
    def get_buyer_identity(self, intent: Intent) -> dict[str, str] | None:
        return buyer_identity_for_vendor(intent=intent, vendor=self.context["vendor"])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_buyer_contact(
        self, intent: Intent, my_offer: dict[str, Any] | None = None
    ) -> str | None:
        """The buyer's chosen contact details, for the vendor whose offer was accepted only,
        and only until the buyer's "delete my data" came due."""
        if my_offer and my_offer["status"] == "accepted" and intent.redacted_at is None:
            return intent.contact_details
        return None

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
