"""Offers: a vendor's answer to an intent."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from intents.models import Intent
from marketplace import clock
from marketplace.models import CURRENCY_CODE_REGEX, Vendor


class Offer(models.Model):
    """A vendor's priced answer to an intent — or a member's proposal on an internal one.

    Status: ``submitted → withdrawn | declined | accepted | lapsed``. A
    submitted or accepted offer is *live*; a vendor (or member) has at most one
    live offer per intent and an intent at most one accepted *vendor* offer —
    all enforced by partial unique indexes, so even racing requests cannot
    break them. Exactly one of ``vendor`` and ``member`` is set (check
    constraint). A proposal (``member`` set) needs no price: the intent's
    reward is fixed, and several proposals may be accepted and share it.
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
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="offers"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
    )
    price = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3)
    delivery_date = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    message = models.TextField(blank=True)
    # Proposals only: how the member means to solve it, and the effort it takes.
    approach = models.TextField(blank=True)
    estimate = models.CharField(max_length=100, blank=True)
    # Proposals only: the share of the reward the poster gave it on award.
    reward_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # Proposals only: when the authors were e-mailed the decision. A worker sending it
    # holds it until ``authors_notice_claimed_until``; one that died lets go by itself.
    authors_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    authors_notice_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
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
            models.CheckConstraint(  # Status's values (not in scope inside Meta)
                condition=Q(
                    status__in=["submitted", "withdrawn", "declined", "accepted", "lapsed"]
                ),
                name="offer_status_known",
            ),
            models.UniqueConstraint(
                fields=["intent", "vendor"],
                condition=Q(status__in=["submitted", "accepted"]),
                name="offer_one_live_per_vendor_and_intent",
            ),
            models.UniqueConstraint(
                fields=["intent", "member"],
                condition=Q(status__in=["submitted", "accepted"]),
                name="offer_one_live_per_member_and_intent",
            ),
            # One accepted vendor offer per intent; proposals on an internal
            # intent may be accepted several at a time.
            models.UniqueConstraint(
                fields=["intent"],
                condition=Q(status="accepted", vendor__isnull=False),
                name="offer_one_accepted_per_intent",
            ),
            models.CheckConstraint(
                condition=Q(vendor__isnull=False, member__isnull=True)
                | Q(vendor__isnull=True, member__isnull=False),
                name="offer_vendor_or_member",
            ),
            models.CheckConstraint(
                condition=Q(vendor__isnull=True) | Q(price__isnull=False),
                name="offer_vendor_offer_has_price",
            ),
            models.CheckConstraint(
                condition=Q(reward_percent__isnull=True)
                | (Q(reward_percent__gt=0) & Q(reward_percent__lte=100)),
                name="offer_reward_percent_in_range",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="offer_price_non_negative"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX), name="offer_currency_code"
            ),
            # Withdrawn, declined, accepted or lapsed: the services stamp when.
            models.CheckConstraint(
                condition=Q(status="submitted") | Q(decided_at__isnull=False),
                name="offer_decision_is_stamped",
            ),
        ]

    def __str__(self) -> str:
        if self.member_id is not None:
            return f"proposal by {self.member_id} → {self.intent}"
        return f"{self.vendor} → {self.intent}: {self.price} {self.currency}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def is_proposal(self) -> bool:
        return self.member_id is not None

    @property
    def has_lapsed(self) -> bool:
        """Past its valid-until date: the vendor is no longer bound, lapsed by the beat or not."""
        return self.valid_until is not None and self.valid_until < clock.today()

    @property
    def lapsed_text(self) -> str:
        return f"This offer was valid until {self.valid_until:%Y-%m-%d}; it has lapsed."


class ProposalCoauthor(models.Model):
    """A colleague the proposer named as co-author; the proposal counts once all confirmed.

    Must be a member of the intent's organization. An unconfirmed co-author
    blocks acceptance; one who declines is removed from the proposal.
    """

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="coauthors")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coauthorships"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "member"], name="coauthor_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} on {self.offer_id}"


class RewardEntry(models.Model):
    """The reward ledger: one member's share of an awarded internal intent.

    ``percent`` is the member's part of the whole reward (the proposal's share
    divided equally among its confirmed authors); ``amount`` is in ``currency``
    or, when ``is_points``, in points. Written once, at the award.
    """

    intent = models.ForeignKey(Intent, on_delete=models.PROTECT, related_name="reward_entries")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="reward_entries")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reward_entries"
    )
    percent = models.DecimalField(max_digits=7, decimal_places=4)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    is_points = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "reward entries"
        constraints = [
            models.UniqueConstraint(fields=["offer", "member"], name="reward_once_per_author"),
            models.CheckConstraint(
                condition=Q(percent__gt=0) & Q(percent__lte=100), name="reward_percent_in_range"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="reward_amount_non_negative"),
        ]

    def __str__(self) -> str:
        unit = "points" if self.is_points else self.currency
        return f"{self.member_id}: {self.amount} {unit}"


class OfferRevision(models.Model):
    """One revision of an offer: what changed, from what to what, when, and who made it:
    the vendor's API key (each integration or staff member has its own), or the moderator
    who corrected the offer."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="revisions")
    changes = models.JSONField(help_text='{"field": ["old", "new"], …}')
    api_key = models.ForeignKey(
        "marketplace.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
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
        constraints = [
            # Answered exactly when there is an answer: the buyer's, or "[deleted]".
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True, answer="")
                | (Q(answered_at__isnull=False) & ~Q(answer="")),
                name="question_answered_has_answer",
            ),
        ]

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
