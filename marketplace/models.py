"""The parties and the plumbing: people, vendors and their API keys, categories."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q

CURRENCY_CODE_REGEX = r"^[A-Z]{3}$"


class User(AbstractUser):
    """A person: a buyer, a vendor's staff member, or both.

    ``vendor`` is set for a vendor's staff; such a user manages the vendor's
    profile and API keys on the web.
    """

    email = models.EmailField("e-mail address", unique=True)
    vendor = models.ForeignKey(
        "marketplace.Vendor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )


class Category(models.Model):
    """A node of the category tree. Intents have one; vendors serve many."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Vendor(models.Model):
    """A company that answers intents with offers, through the API.

    ``regions`` holds ISO 3166 country codes (optionally ``CC-SUB``), or
    ``*`` for worldwide/remote. A suspended vendor's API keys stop working.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    website = models.URLField(blank=True)
    contact_email = models.EmailField()
    is_verified = models.BooleanField(default=False)
    is_suspended = models.BooleanField(default=False)
    categories = models.ManyToManyField(Category, blank=True, related_name="vendors")
    regions = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    deal_size_min = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    deal_size_max = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    deal_size_currency = models.CharField(max_length=3, blank=True)
    daily_capacity = models.PositiveIntegerField(default=100)
    is_paused = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deal_size_min__gte=0) | Q(deal_size_min__isnull=True),
                name="vendor_deal_size_min_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(deal_size_min__isnull=True)
                | Q(deal_size_max__isnull=True)
                | Q(deal_size_min__lte=models.F("deal_size_max")),
                name="vendor_deal_size_min_lte_max",
            ),
            models.CheckConstraint(
                condition=Q(deal_size_currency="")
                | Q(deal_size_currency__regex=CURRENCY_CODE_REGEX),
                name="vendor_deal_size_currency_code",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A vendor's API key, stored as a SHA-256 hash.

    The full key (``ic_<prefix>_<secret>``) is shown once, when it is made.
    The prefix stays visible so a vendor can tell its keys apart; it is also
    how a presented key is looked up before the hash is compared.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"ic_{self.prefix}_…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
