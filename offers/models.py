"""Offers: a vendor's answer to an intent."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from intents.models import Intent
from marketplace.models import CURRENCY_CODE_REGEX, Vendor


class Offer(models.Model):
    """A vendor's priced answer to an intent.

    Status: ``submitted → withdrawn | declined | accepted | lapsed``. A
    submitted or accepted offer is *live*; a vendor has at most one live offer
    per intent and an intent at most one accepted offer — both enforced by
    partial unique indexes, so even racing requests cannot break them.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted"
        WITHDRAWN = "withdrawn"
        DECLINED = "declined"
        ACCEPTED = "accepted"
        LAPSED = "lapsed"

    LIVE_STATUSES = (Status.SUBMITTED, Status.ACCEPTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="offers")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="offers")
    price = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    delivery_date = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    message = models.TextField(blank=True)
    line_items = models.JSONField(default=list, blank=True)
    criteria_answers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    decline_reason = models.CharField(max_length=300, blank=True)
    # The buyer's own ordering and shortlist; vendors never see them.
    buyer_rank = models.PositiveIntegerField(null=True, blank=True)
    is_shortlisted = models.BooleanField(default=False)
    revision_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["vendor", "-created_at"], name="offer_vendor_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["intent", "vendor"],
                condition=Q(status__in=["submitted", "accepted"]),
                name="offer_one_live_per_vendor_and_intent",
            ),
            models.UniqueConstraint(
                fields=["intent"],
                condition=Q(status="accepted"),
                name="offer_one_accepted_per_intent",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="offer_price_non_negative"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX), name="offer_currency_code"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} → {self.intent}: {self.price} {self.currency}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES


class OfferRevision(models.Model):
    """One revision of an offer: what changed, from what to what, and when."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="revisions")
    changes = models.JSONField(help_text='{"field": ["old", "new"], …}')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.offer_id} revised {self.created_at:%Y-%m-%d %H:%M}"


class Question(models.Model):
    """A vendor's question about an intent it was matched to, and the buyer's answer.

    Every vendor matched to the intent sees answered questions; only the
    asker knows who asked.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="questions")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    answer = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["intent", "created_at"], name="question_intent_created")]

    def __str__(self) -> str:
        return self.text[:60]


class Rating(models.Model):
    """The buyer's rating of the vendor whose offer they accepted; one per offer."""

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="rating")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="ratings")
    stars = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stars__gte=1) & Q(stars__lte=5), name="rating_stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_id}: {self.stars}★"


class TermsAgreement(models.Model):
    """A vendor agreed to the buyer's terms when it made an offer: which, which version, when."""

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="terms_agreement")
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="terms_agreements")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="terms_agreements")
    terms = models.JSONField(help_text="[{code, version, title, text, days}, …] as agreed")
    agreed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agreed_at"]

    def __str__(self) -> str:
        return f"{self.vendor_id} agreed on {self.agreed_at:%Y-%m-%d}"
