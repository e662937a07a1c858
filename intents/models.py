"""The intent: a person's request for proposal."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.utils import timezone

from marketplace.codes import minor_unit
from marketplace.models import CURRENCY_CODE_REGEX, Category, Organization, Vendor

MAX_TEXT_ANSWER = 2000  # characters of a text answer to a buyer's criterion


class Intent(models.Model):
    """A buyer's personal RFP.

    Status machine: ``draft → open → closed → awarded``;
    ``open|closed → withdrawn``; ``open → expired`` (deadline passed with no
    offers). Every transition goes through a service in
    :mod:`intents.services` and stamps its timestamp. Vendors know the buyer
    only by ``pseudonym``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        CLOSED = "closed"
        AWARDED = "awarded"
        WITHDRAWN = "withdrawn"
        EXPIRED = "expired"

    # Open or closed: not yet decided. Offers can still be accepted or declined,
    # questions answered, the intent withdrawn.
    UNDECIDED_STATUSES = (Status.OPEN, Status.CLOSED)

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public — every matching vendor"
        INVITED = "invited", "Invited — only the vendors I name"
        INTERNAL = "internal", "Internal — members of an organization"

    # Points have no currency: ISO 4217 "XXX" (no currency involved).
    POINTS_CURRENCY = "XXX"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="intents"
    )
    pseudonym = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="intents")
    quantity = models.DecimalField(max_digits=12, decimal_places=2, default=1)
    unit = models.CharField(max_length=40, blank=True)
    budget_min = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_max = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3)
    is_budget_hidden = models.BooleanField(default=False)
    country = models.CharField(max_length=2, blank=True)
    postal_area = models.CharField(max_length=20, blank=True)
    is_remote = models.BooleanField(default=False)
    needed_by = models.DateField(null=True, blank=True)
    offers_close_at = models.DateTimeField()
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    max_vendors = models.PositiveSmallIntegerField(default=25)
    # An internal intent (an organization's RFP): members only, with a reward
    # in ``currency`` — or in points, when ``reward_is_points``.
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="intents",
    )
    reward_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    reward_is_points = models.BooleanField(default=False)
    # The poster's reminder about undecided proposals: at most one a day.
    decision_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    invited_vendors = models.ManyToManyField(
        Vendor, blank=True, related_name="invitations", help_text="For invited intents."
    )
    # The buyer's block-list for this intent: never told of it, whatever it matches.
    blocked_vendors = models.ManyToManyField(
        Vendor,
        blank=True,
        related_name="kept_off_intents",
        help_text="Never told of this intent, whatever it matches.",
    )
    # The matching outbox: set in the transaction that publishes or edits the
    # intent, cleared by the matching task once its notices are committed. A
    # periodic sweep re-enqueues intents left set (broker down, worker killed)
    # once ``match_again_at`` has come, and moves it on: a matching still waiting in
    # a busy queue is not queued again on every sweep.
    needs_matching = models.BooleanField(default=False, editable=False)
    match_again_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set once the buyer's data was deleted from vendors' view per their terms.
    redacted_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_sealed = models.BooleanField(
        default=False, help_text="The buyer sees the offers only after the deadline."
    )
    contact_details = models.TextField(
        blank=True, help_text="Shown only to the vendor whose offer the buyer accepts."
    )
    # The criteria and terms as vendors read them (intents.payloads, offers' checks),
    # copied from the Criterion and IntentTerm rows by the services that change those
    # (intents.services.intent_copy_details): a vendor's page of 50 intents, an offer
    # and a fan-out then read them with the intent, not with two more queries.
    # The database default lets code older than these columns still insert intents
    # during a deploy; `manage.py recopy_intent_details` repairs what it changes.
    criteria_for_vendors = models.JSONField(
        default=list, db_default=Value([], output_field=models.JSONField()), blank=True,
        editable=False,
    )  # fmt: skip
    terms_for_vendors = models.JSONField(
        default=list, db_default=Value([], output_field=models.JSONField()), blank=True,
        editable=False,
    )  # fmt: skip
    # The buyer hears back: activity marks the intent unread in "My intents"
    # and, unless turned off, sends at most one e-mail an hour. buyer_emailed_at is
    # when they last heard: by that e-mail, or by opening the intent's page.
    is_buyer_email_enabled = models.BooleanField(default=True)
    buyer_activity_at = models.DateTimeField(null=True, blank=True, editable=False)
    buyer_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    buyer_emailed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A worker sending the buyer's e-mail holds the intent until then: another sends
    # nothing meanwhile, and one that died lets go by itself (the e-mail is not lost).
    buyer_email_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    is_hidden = models.BooleanField(
        default=False, help_text="Hidden by a moderator: vendors no longer see it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The buyer's saved edits: an edit form sends the count it was opened at, and one
    # opened before another edit was saved (another tab) is refused, not saved over it.
    edit_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    awarded_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "offers_close_at"], name="intent_status_closes"),
            models.Index(fields=["buyer", "-created_at"], name="intent_buyer_created"),
            models.Index(
                fields=["organization", "status"],
                condition=Q(organization__isnull=False),
                name="intent_organization_status",
            ),
            models.Index(
                fields=["match_again_at"],
                condition=Q(needs_matching=True),
                name="intent_match_again",
            ),
            # The open intents a vendor's default list may show: counting a vendor's
            # noticed intents joins these ids alone (an index-only scan), not every
            # intent row (intents.selectors.intents_visible_to_vendor).
            models.Index(
                fields=["id"],
                condition=Q(status="open", is_hidden=False, organization__isnull=True)
                & ~Q(visibility="internal"),
                name="intent_open_for_vendors",
            ),
            # The beat's buyer e-mail sweep, every minute (offers.buyer_mail): only the
            # intents with news the buyer was not e-mailed about, oldest news first.
            models.Index(
                fields=["buyer_activity_at"],
                condition=Q(buyer_activity_at__isnull=False, is_buyer_email_enabled=True)
                & (
                    Q(buyer_emailed_at__isnull=True)
                    | Q(buyer_emailed_at__lt=F("buyer_activity_at"))
                ),
                name="intent_news_for_buyer",
            ),
        ]
        constraints = [
            models.CheckConstraint(  # Status's values (not in scope inside Meta)
                condition=Q(
                    status__in=["draft", "open", "closed", "awarded", "withdrawn", "expired"]
                ),
                name="intent_status_known",
            ),
            models.CheckConstraint(
                condition=Q(budget_min__isnull=True) | Q(budget_min__gte=0),
                name="intent_budget_min_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(budget_max__isnull=True) | Q(budget_max__gte=0),
                name="intent_budget_max_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(budget_min__isnull=True)
                | Q(budget_max__isnull=True)
                | Q(budget_min__lte=F("budget_max")),
                name="intent_budget_min_lte_max",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_CODE_REGEX), name="intent_currency_code"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="intent_quantity_positive"),
            models.CheckConstraint(  # Visibility's values
                condition=Q(visibility__in=["public", "invited", "internal"]),
                name="intent_visibility_known",
            ),
            # 1 to intents.services.MAX_VENDORS_LIMIT, as the services check.
            models.CheckConstraint(
                condition=Q(max_vendors__gte=1, max_vendors__lte=200),
                name="intent_max_vendors_in_range",
            ),
            models.CheckConstraint(
                condition=Q(is_remote=True) | ~Q(country=""), name="intent_has_place"
            ),
            # Internal exactly when it belongs to an organization, and then it has a reward.
            models.CheckConstraint(
                condition=(
                    Q(
                        visibility="internal",
                        organization__isnull=False,
                        reward_amount__isnull=False,
                        reward_amount__gte=0,
                    )
                )
                | (
                    ~Q(visibility="internal")
                    & Q(organization__isnull=True, reward_amount__isnull=True)
                ),
                name="intent_internal_has_organization_and_reward",
            ),
            # Each status reached says when: the services stamp it in the same UPDATE.
            *(
                models.CheckConstraint(condition=condition, name=f"intent_{name}_is_stamped")
                for name, condition in (
                    ("published", Q(status="draft") | Q(published_at__isnull=False)),
                    ("closed", ~Q(status="closed") | Q(closed_at__isnull=False)),
                    ("awarded", ~Q(status="awarded") | Q(awarded_at__isnull=False)),
                    ("withdrawn", ~Q(status="withdrawn") | Q(withdrawn_at__isnull=False)),
                    ("expired", ~Q(status="expired") | Q(expired_at__isnull=False)),
                )
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def takes_offers(self) -> bool:
        """Open and before its deadline: the beat closes it within a minute after, and
        in that minute no vendor is told of it any more."""
        return self.status == self.Status.OPEN and self.offers_close_at > timezone.now()

    @property
    def is_internal(self) -> bool:
        return self.organization_id is not None

    @staticmethod
    def listed_for_vendors_q(prefix: str = "") -> Q:
        """``is_listed_for_vendors`` as a query condition (``prefix``: the path to the intent)."""
        return Q(
            **{
                f"{prefix}status": Intent.Status.OPEN,
                f"{prefix}is_hidden": False,
                f"{prefix}organization__isnull": True,
            }
        ) & ~Q(**{f"{prefix}visibility": Intent.Visibility.INTERNAL})

    @property
    def offers_are_sealed(self) -> bool:
        """A sealed intent hides its offers from the buyer until the deadline passes.

        Until then the buyer can neither read (page, export) nor decide on them,
        whatever became of the intent: withdrawn early, its offers stay sealed, as
        the vendors were promised when they made them.
        """
        return self.is_sealed and self.offers_close_at > timezone.now()

    @property
    def is_listed_for_vendors(self) -> bool:
        """In the noticed vendors' default list (``GET intents/``): see ``Notice.listed``.

        Keep in step with ``listed_for_vendors_q``.
        """
        return (
            self.status == self.Status.OPEN
            and not self.is_hidden
            and self.organization_id is None
            and self.visibility != self.Visibility.INTERNAL
        )

    @property
    def reward_text(self) -> str:
        if self.reward_amount is None:
            return ""
        if self.reward_is_points:
            return f"{self.reward_amount.normalize():f} points"
        return f"{self.reward_amount.quantize(minor_unit(self.currency))} {self.currency}"

    @property
    def is_unread(self) -> bool:
        return self.buyer_activity_at is not None and (
            self.buyer_seen_at is None or self.buyer_activity_at > self.buyer_seen_at
        )


class Criterion(models.Model):
    """How the buyer judges offers: a standard measure or a custom question, with a weight.

    ``price``, ``delivery`` and ``rating`` are measured from the offer and the
    vendor; custom criteria are answered by the vendor in ``criteria_answers``
    under the criterion's ``key``. Text answers are shown, not scored.
    """

    class Kind(models.TextChoices):
        PRICE = "price", "Price (lower is better)"
        DELIVERY = "delivery", "Delivery date (sooner is better)"
        RATING = "rating", "Vendor rating"
        YES_NO = "yes_no", "Yes / no (yes is better)"
        NUMBER = "number", "Number (higher is better)"
        TEXT = "text", "Text (not scored)"

    STANDARD_KINDS = (Kind.PRICE, Kind.DELIVERY, Kind.RATING)

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    weight = models.PositiveSmallIntegerField(default=1)
    is_required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(fields=["intent", "key"], name="criterion_key_per_intent"),
            models.CheckConstraint(
                condition=Q(weight__lte=100), name="criterion_weight_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight})"

    @property
    def is_custom(self) -> bool:
        return self.kind_is_custom(self.kind)

    def for_vendors(self) -> dict[str, object]:
        """The criterion in ``Intent.criteria_for_vendors`` and the vendors' payloads."""
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "weight": self.weight,
            "required": self.is_required,
        }

    @classmethod
    def kind_is_custom(cls, kind: str) -> bool:
        """``is_custom`` for a criterion read from ``Intent.criteria_for_vendors``."""
        return kind not in cls.STANDARD_KINDS

    @classmethod
    def answer_problem(cls, kind: str, value: Any) -> str | None:
        """Why ``value`` is no answer to a custom criterion of ``kind``; None when it is one.

        Offers are checked with it when made; the comparison reads an answer that
        no longer fits (the buyer changed the criterion's kind since) as missing.
        """
        if kind == cls.Kind.YES_NO and not isinstance(value, bool):
            return "Answer true or false."
        if kind == cls.Kind.NUMBER and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value != value  # NaN
            or abs(value) > 1e12
        ):
            return "Answer with a number."
        if kind == cls.Kind.TEXT:
            if not isinstance(value, str) or len(value) > MAX_TEXT_ANSWER:
                return f"Answer with text of at most {MAX_TEXT_ANSWER} characters."
            if "\x00" in value:  # PostgreSQL's jsonb cannot hold it
                return "Null characters are not allowed."
        return None


class Notice(models.Model):
    """A vendor — or, for an internal intent, a member — was matched to an intent.

    The inbox entry, with the reasons why. Exactly one of ``vendor`` and
    ``member`` is set; unique per (intent, vendor) and per (intent, member), so
    matching can run any number of times. ``state`` tracks the e-mail (to the
    vendor's staff or to the member); webhooks have their own delivery log.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on the keys: the unique (intent, vendor) and
    # (intent, member) constraints and the two (…, created_at) indexes serve
    # every lookup, and each index fewer is one less write per notice.
    intent = models.ForeignKey(
        Intent, on_delete=models.CASCADE, related_name="notices", db_index=False
    )
    vendor = models.ForeignKey(
        Vendor,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notices",
        db_index=False,
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="member_notices",
        db_index=False,
    )
    reasons = models.JSONField(default=list)
    score = models.FloatField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A worker sending the notice's e-mail holds it until then: another (the sweep's
    # copy of the task) sends nothing meanwhile; a worker that died lets go by itself.
    email_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # The intent is in the vendor's default list: open, not hidden, not internal.
    # Set when the notice is made and kept by the intent's services
    # (intents.services.notices_relist), so that list is counted on this table alone.
    # db_default: code that predates the column can still insert notices.
    listed = models.BooleanField(default=False, db_default=False)
    # The intent's offers_close_at, kept with ``listed``: the default list (soonest
    # deadline first) is then read in order from the vendor's notices.
    closes_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["vendor", "-created_at"], name="notice_vendor_created"),
            models.Index(
                fields=["vendor", "closes_at", "intent"],
                condition=Q(listed=True),
                name="notice_listed_by_deadline",
            ),
            models.Index(
                fields=["member", "-created_at"],
                condition=Q(member__isnull=False),
                name="notice_member_created",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["intent", "vendor"], name="notice_once_per_vendor"),
            models.UniqueConstraint(
                fields=["intent", "member"],
                condition=Q(member__isnull=False),
                name="notice_once_per_member",
            ),
            models.CheckConstraint(
                condition=Q(vendor__isnull=False, member__isnull=True)
                | Q(vendor__isnull=True, member__isnull=False),
                name="notice_vendor_or_member",
            ),
            models.CheckConstraint(  # State's values
                condition=Q(state__in=["pending", "delivered", "failed"]),
                name="notice_state_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_id or self.member_id} ← {self.intent_id}"

    @property
    def reasons_text(self) -> str:
        return " · ".join(self.reasons)


# The roster term that the scheduled deletion enforces.
DELETE_AFTER_AWARD = "delete-after-award"


class Term(models.Model):
    """One version of a buyer's term from the roster (in the spirit of IEEE 7012).

    Kept as data and versioned: a new wording is a new row with a higher
    ``version``; agreements keep the version and text they were made on.
    """

    code = models.SlugField(max_length=40)
    version = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=120)
    text = models.TextField(help_text="May contain {days} when the term takes a number of days.")
    takes_days = models.BooleanField(default=False)
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="term_code_version"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_current=True), name="term_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def wording(self, days: int | None) -> str:
        return self.text.format(days=days) if self.takes_days else self.text


class IntentTerm(models.Model):
    """A term the buyer attached to an intent, with its number of days where it takes one."""

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="intent_terms")
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="+")
    days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["term__code"]
        constraints = [
            models.UniqueConstraint(fields=["intent", "term"], name="intent_term_once"),
        ]

    def __str__(self) -> str:
        return self.term.wording(self.days)

    def as_data(self) -> dict[str, object]:
        return {
            "code": self.term.code,
            "version": self.term.version,
            "title": self.term.title,
            "text": self.term.wording(self.days),
            "days": self.days,
        }


class IdentityReveal(models.Model):
    """The buyer chose to show who they are to one vendor on one intent."""

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="reveals")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="reveals")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["intent", "vendor"], name="reveal_once"),
        ]

    def __str__(self) -> str:
        return f"{self.intent_id} revealed to {self.vendor_id}"
