"""The parties and the plumbing: people, vendors and their API keys, categories."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

CURRENCY_CODE_REGEX = r"^[A-Z]{3}$"


class User(AbstractUser):
    """A person: a buyer, a vendor's staff member, or both.

    ``vendor`` is set for a vendor's staff; such a user manages the vendor's
    profile and API keys on the web. The e-mail address is unique in any case
    of its letters, as every lookup by address ignores case.
    """

    email = models.EmailField("e-mail address", unique=True)
    vendor = models.ForeignKey(
        "marketplace.Vendor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_any_case",
                violation_error_message="A user with this e-mail address already exists.",
            ),
        ]


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
    # Derived by the vendor services, read by matching:
    # country codes (and "*") the regions cover, and the keywords as search lexemes.
    coverage = models.JSONField(default=list, blank=True, editable=False)
    keyword_lexemes = models.JSONField(default=list, blank=True, editable=False)
    # "<category id>:<coverage code>" for each served category and covered code:
    # on PostgreSQL one GIN lookup finds the vendors that fit an intent's category
    # *and* place, which are selective only together (see vendor_match_keys).
    match_keys = models.JSONField(default=list, blank=True, editable=False)
    # Notices received on ``notices_day`` (UTC): matching skips a vendor at capacity.
    notices_day = models.DateField(null=True, blank=True, editable=False)
    notices_today = models.PositiveIntegerField(default=0, editable=False)
    # Reputation from buyers' ratings, kept by the offers layer; feeds ranking.
    rating_count = models.PositiveIntegerField(default=0, editable=False)
    rating_mean = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, editable=False
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Matching against the intents already open was asked for (a new or changed profile,
    # un-paused, reinstated) and has not run yet: the beat's sweep asks again.
    catch_up_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["catch_up_requested_at"],
                condition=Q(catch_up_requested_at__isnull=False),
                name="vendor_catch_up_requested",
            ),
        ]
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
            models.CheckConstraint(
                condition=Q(deal_size_max__gte=0) | Q(deal_size_max__isnull=True),
                name="vendor_deal_size_max_non_negative",
            ),
            # A deal size means nothing without its currency.
            models.CheckConstraint(
                condition=(Q(deal_size_min__isnull=True) & Q(deal_size_max__isnull=True))
                | ~Q(deal_size_currency=""),
                name="vendor_deal_size_has_currency",
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


class VendorBlock(models.Model):
    """A buyer's block-list entry: the vendor is never noticed for this buyer's intents."""

    buyer = models.ForeignKey(User, on_delete=models.CASCADE, related_name="vendor_blocks")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="blocks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["buyer", "vendor"], name="vendor_block_unique")
        ]

    def __str__(self) -> str:
        return f"{self.buyer_id} blocks {self.vendor_id}"


class Event(models.Model):
    """Something a vendor is told about: the outbox, and the vendor's event feed.

    Written in the same transaction as the change it reports. ``position`` is
    given later, after commit, by one sequencer at a time
    (:func:`marketplace.events.events_dispatch`), so positions grow in commit
    order and a feed reader polling ``after=<position>`` never misses one.
    ``dedupe_key`` makes emitting the same fact twice a no-op.
    """

    id = models.BigAutoField(primary_key=True)
    # Indexed by (vendor, position) and (vendor, dedupe_key): no index of its own.
    vendor = models.ForeignKey(
        Vendor, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(max_length=40)
    payload = models.JSONField()
    dedupe_key = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    position = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["vendor", "position"], name="event_vendor_position"),
            models.Index(
                fields=["id"], condition=Q(position__isnull=True), name="event_undispatched"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "dedupe_key"], name="event_dedupe"),
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.vendor_id}"


class WebhookEndpoint(models.Model):
    """A vendor's HTTPS receiver for signed event deliveries (Standard Webhooks)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # Kept in clear: it signs every delivery. Shown to the vendor once.
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation, the secret before it signs too, until then: a receiver still
    # checking with it goes on accepting deliveries while its owner swaps it.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Turned off by an operator (the admin): only an operator turns it on again.
    disabled_by_operator = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Two endpoints at one URL would get every event twice, under two ids.
            models.UniqueConstraint(fields=["vendor", "url"], name="webhook_endpoint_url_once"),
        ]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    """One event to one endpoint, with its attempts. ``message_id`` is the stable webhook-id."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # gave up after the last retry, or the endpoint is gone

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=60, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker that takes a delivery holds it until then; a crashed worker's
    # claim simply runs out and the retry sweep takes the delivery again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="delivery_once_per_endpoint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["attempted_at"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S %Z} → {self.status_code or self.error}"


class AuditEntry(models.Model):
    """Something done with a person's data that they should be able to see later.

    Identity reveals, exports and terms agreements are logged; the person
    reads their log on "My data" and in their export.
    """

    class Action(models.TextChoices):
        IDENTITY_REVEALED = "identity_revealed", "Identity revealed to a vendor"
        DATA_EXPORTED = "data_exported", "Data exported"
        TERMS_AGREED = "terms_agreed", "A vendor agreed to your terms"
        DATA_REDACTED = "data_redacted", "Data deleted per your terms"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="audit_entries")
    action = models.CharField(max_length=30, choices=Action.choices)
    detail = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.user_id} {self.action}: {self.detail}"


class Organization(models.Model):
    """A private market: its members post internal intents and answer them with proposals.

    Outsiders — other users, vendors, other organizations' members — never see
    anything of it; every read goes through a membership-scoped selector.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person in an organization, with a role.

    Owners and admins manage members; only an owner grants or takes away the
    owner role, and the last owner can be neither removed nor demoted
    (checked under a row lock by :mod:`marketplace.organizations`).
    """

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    MANAGER_ROLES = (Role.OWNER, Role.ADMIN)

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_once"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "member"]), name="membership_role_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in self.MANAGER_ROLES

    def may_invite_as(self, role: str) -> bool:
        """Whether this member may send, replace or call off an invitation to ``role``:
        owners and admins may, but the owner role is an owner's to hand out."""
        return self.can_manage and (role != self.Role.OWNER or self.role == self.Role.OWNER)


class Invitation(models.Model):
    """An e-mailed invitation to join an organization, answered through a token link.

    Only the SHA-256 hash of the token is stored. At most one pending
    invitation per (organization, e-mail); a new one revokes the old.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        REVOKED = "revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hashed_token = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        # No address: the admin log keeps this text, even after the row is deleted.
        return f"Invitation {self.pk} to organization {self.organization_id} ({self.status})"


class SkillProfile(models.Model):
    """A person's skills, their own data: matched against internal intents.

    ``skill_lexemes`` is derived from ``skills`` and the person's experience entries'
    titles by the service (``skill_profile_refresh``), the same way vendors' keywords
    become lexemes.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="skill_profile")
    skills = models.JSONField(default=list, blank=True)
    skill_lexemes = models.JSONField(default=list, blank=True, editable=False)
    # Matching against the open RFPs of their organizations was asked for (new skills,
    # joined an organization) and has not run yet: the beat's sweep asks again.
    catch_up_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["catch_up_requested_at"],
                condition=Q(catch_up_requested_at__isnull=False),
                name="skills_catch_up_requested",
            ),
        ]

    def __str__(self) -> str:
        # Not the skills: the admin log keeps this text, even after the row is deleted.
        return f"Skill profile of user {self.user_id}"


class ExperienceEntry(models.Model):
    """One entry of a person's experience: what they did, when, and how it turned out."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="experience_entries")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_on", "-created_at"]
        verbose_name_plural = "experience entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(started_on__isnull=True)
                | Q(ended_on__isnull=True)
                | Q(started_on__lte=models.F("ended_on")),
                name="experience_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        # Not the title: the admin log keeps this text, even after the row is deleted.
        return f"Experience entry {self.pk} of user {self.user_id}"


class IdempotencyKey(models.Model):
    """A vendor's ``Idempotency-Key`` on a create request, and the response it got.

    The row is inserted before the request runs, in its own transaction, so
    the unique (vendor, key) constraint lets exactly one of two concurrent
    requests run; the other finds a row without a response (still in flight:
    409) or with one (replayed as stored). ``claimed_at`` is renewed when a
    claim is taken over from a request that died. Rows are kept at least
    24 hours, then deleted by a beat task.
    """

    id = models.BigAutoField(primary_key=True)
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and body: the same key with another request is refused.
    request_fingerprint = models.CharField(max_length=64)
    claimed_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "key"], name="idempotency_key_once_per_vendor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_id}: {self.key}"
