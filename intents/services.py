"""Writes for intents: create, edit, and every status transition.

Each transition is a guarded update (``filter(status=…).update(…)``) whose row
count tells whether it happened, so two requests racing over one intent
cannot both succeed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from intents.models import Criterion, IdentityReveal, Intent, IntentTerm, Notice, Term
from intents.notices import emit_to_noticed_vendors, matching_asked
from intents.payloads import intent_for_vendor
from intents.pseudonyms import new_pseudonym
from marketplace import clock
from marketplace.codes import amount_problem, country_codes, currency_codes
from marketplace.counters import count_or_refuse
from marketplace.errors import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    DomainError,
    with_article,
)
from marketplace.links import absolute_url
from marketplace.mail import send_mail_after_commit, write_to_support
from marketplace.models import (
    AuditEntry,
    Category,
    Event,
    Membership,
    Organization,
    User,
    Vendor,
)
from marketplace.privacy import audit
from marketplace.queue import enqueue_on_commit
from marketplace.services import vendor_block

Status = Intent.Status

EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "quantity",
    "unit",
    "budget_min",
    "budget_max",
    "currency",
    "is_budget_hidden",
    "country",
    "postal_area",
    "is_remote",
    "needed_by",
    "offers_close_at",
    "visibility",
    "max_vendors",
    "is_sealed",
    "contact_details",
    "is_buyer_email_enabled",
    "reward_amount",
    "reward_is_points",
)

DEFAULT_CRITERIA = (
    {"name": "Price", "kind": Criterion.Kind.PRICE, "weight": 50},
    {"name": "Delivery date", "kind": Criterion.Kind.DELIVERY, "weight": 25},
    {"name": "Vendor rating", "kind": Criterion.Kind.RATING, "weight": 25},
)
MAX_CRITERIA = 12

MAX_VENDORS_LIMIT = 200

NOBODY_INVITED = "Name at least one vendor: an “invited” intent goes to those you name alone."


def _invited_over_cap(count: int, cap: int | None) -> list[str]:
    """Every invited vendor is noticed: no more of them than the intent goes to."""
    if cap is not None and count > cap:
        return [
            f"You invited {count} vendors, more than the {cap} this intent goes to: "
            f"raise that number to {count} or invite fewer."
        ]
    return []


def title_problem(title: str) -> str:
    """What is wrong with an intent's title, if anything (the services and the admin ask)."""
    if not title.strip():
        return "Say in a few words what you want."
    if "\n" in title or "\r" in title:
        return "Keep the title to one line."
    return ""


# A deadline a year away is as good as none (DESIGN §1: every intent has one).
MAX_OFFERS_WINDOW = timedelta(days=365)


def intent_validate(fields: dict[str, Any]) -> dict[str, list[str]]:
    """Every rule an intent's fields must keep, as per-field messages."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    problem = title_problem(str(fields.get("title") or ""))
    if problem:
        add("title", problem)
    if not str(fields.get("description") or "").strip():
        add("description", "Describe what you need.")
    if not isinstance(fields.get("category"), Category):
        add("category", "Choose a category.")
    quantity = fields.get("quantity")
    if quantity is None or quantity <= 0:
        add("quantity", "The quantity must be more than zero.")
    currency = fields.get("currency") or ""
    if currency not in currency_codes():
        add("currency", f"“{currency}” is not an ISO 4217 currency code.")
    budget_min: Decimal | None = fields.get("budget_min")
    budget_max: Decimal | None = fields.get("budget_max")
    for name, value in (("budget_min", budget_min), ("budget_max", budget_max)):
        if value is not None and value < 0:
            add(name, "A budget cannot be negative.")
        elif problem := amount_problem(value, currency):
            add(name, problem)
    if budget_min is not None and budget_max is not None and budget_min > budget_max:
        add("budget_max", "The maximum must be at least the minimum.")
    country = fields.get("country") or ""
    if country and country not in country_codes():
        add("country", f"“{country}” is not an ISO 3166 country code.")
    if not country and not fields.get("is_remote"):
        add("country", "Give a country, or say the work can be done remotely.")
    offers_close_at: datetime | None = fields.get("offers_close_at")
    if offers_close_at is None:
        add("offers_close_at", "Say until when you take offers.")
    elif offers_close_at <= timezone.now():
        add("offers_close_at", "The deadline for offers must be in the future.")
    elif offers_close_at > timezone.now() + MAX_OFFERS_WINDOW:
        add("offers_close_at", f"Take offers for at most {MAX_OFFERS_WINDOW.days} days.")
    needed_by: date | None = fields.get("needed_by")
    if needed_by is not None and needed_by < clock.today():
        add("needed_by", "This date has passed.")
    elif (
        needed_by is not None
        and offers_close_at is not None
        and needed_by < clock.date_of(offers_close_at)
    ):
        add("needed_by", "This is before offers close: move one of the two dates.")
    max_vendors = fields.get("max_vendors")
    if max_vendors is not None and not 1 <= max_vendors <= MAX_VENDORS_LIMIT:
        add("max_vendors", f"Between 1 and {MAX_VENDORS_LIMIT} vendors.")
    if fields.get("visibility") not in Intent.Visibility.values:
        add("visibility", "Choose who may see it.")
    # An organization's intent is internal, and only it is; it carries a reward.
    is_internal = fields.get("visibility") == Intent.Visibility.INTERNAL
    if is_internal != (fields.get("organization") is not None):
        add("visibility", "Only an organization's intent is internal, and it stays internal.")
    reward_amount: Decimal | None = fields.get("reward_amount")
    if is_internal:
        if reward_amount is None or reward_amount < 0:
            add("reward_amount", "Give a reward of zero or more.")
        elif not fields.get("reward_is_points") and (
            problem := amount_problem(reward_amount, currency)
        ):
            add("reward_amount", problem)
    elif reward_amount is not None or fields.get("reward_is_points"):
        add("reward_amount", "Only an internal intent has a reward.")
    return errors


def criteria_validate(criteria: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Cleaned criteria (with unique keys) and the problems found."""
    problems: list[str] = []
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    standard_seen: set[str] = set()
    if len(criteria) > MAX_CRITERIA:
        problems.append(f"At most {MAX_CRITERIA} criteria.")
    for position, criterion in enumerate(criteria):
        name = str(criterion.get("name") or "").strip()
        kind = criterion.get("kind")
        weight = criterion.get("weight")
        if not name:
            problems.append("Every criterion needs a name.")
            continue
        if kind not in Criterion.Kind.values:
            problems.append(f"“{name}”: choose a kind.")
            continue
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            problems.append(f"“{name}”: the weight is a whole number from 0 to 100.")
            continue
        if kind in Criterion.STANDARD_KINDS:
            if kind in standard_seen:
                problems.append(f"“{name}”: {kind} can be a criterion only once.")
                continue
            standard_seen.add(kind)
        key = slugify(name).replace("-", "_")[:60] or f"criterion_{position}"
        if key in keys:
            problems.append(f"“{name}”: two criteria have the same name.")
            continue
        keys.add(key)
        cleaned.append(
            {
                "key": key,
                "name": name[:100],
                "kind": kind,
                "weight": weight,
                "is_required": bool(criterion.get("is_required"))
                and kind not in Criterion.STANDARD_KINDS,
                "position": position,
            }
        )
    return cleaned, problems


def _replace_criteria(intent: Intent, criteria: list[dict[str, Any]]) -> None:
    """Replace the intent's criteria; call ``intent_copy_details`` after."""
    Criterion.objects.filter(intent=intent).delete()
    Criterion.objects.bulk_create(Criterion(intent=intent, **criterion) for criterion in criteria)


def intent_copy_details(*, intent: Intent) -> None:
    """Copy the criteria and terms rows into the intent, as vendors read them.

    Every change to an intent's Criterion or IntentTerm rows calls this in the
    same transaction (``Intent.criteria_for_vendors``, ``terms_for_vendors``).
    """
    intent.criteria_for_vendors, intent.terms_for_vendors = _details_from_rows([intent.pk])[
        intent.pk
    ]
    Intent.objects.filter(pk=intent.pk).update(
        criteria_for_vendors=intent.criteria_for_vendors,
        terms_for_vendors=intent.terms_for_vendors,
    )


def _details_from_rows(intent_ids: list[Any]) -> dict[Any, tuple[list[Any], list[Any]]]:
    """Per intent, its criteria and terms in the vendors' shape, read from the rows."""
    details: dict[Any, tuple[list[Any], list[Any]]] = {pk: ([], []) for pk in intent_ids}
    for criterion in Criterion.objects.filter(intent_id__in=intent_ids):
        details[criterion.intent_id][0].append(criterion.for_vendors())
    chosen = IntentTerm.objects.filter(intent_id__in=intent_ids).select_related("term")
    for intent_term in chosen:
        details[intent_term.intent_id][1].append(intent_term.as_data())
    return details


RECOPY_BATCH = 500


def intents_recopy_drifted_details() -> int:
    """Repair the intents whose copy of their criteria and terms differs from the rows.

    Nothing should drift: every service that changes the rows copies them. Run
    after a deploy that ran old code beside the new (``manage.py
    recopy_intent_details``). Returns how many intents were repaired.
    """
    repaired = 0
    ids = Intent.objects.order_by("pk").values_list("pk", flat=True)
    batch: list[Any] = []
    for pk in ids.iterator(chunk_size=RECOPY_BATCH):
        batch.append(pk)
        if len(batch) == RECOPY_BATCH:
            repaired += _recopy_drifted(batch)
            batch = []
    if batch:
        repaired += _recopy_drifted(batch)
    return repaired


def _recopy_drifted(intent_ids: list[Any]) -> int:
    expected = _details_from_rows(intent_ids)
    stored = Intent.objects.filter(pk__in=intent_ids).values_list(
        "pk", "criteria_for_vendors", "terms_for_vendors"
    )
    drifted = [pk for pk, criteria, terms in stored if (criteria, terms) != expected[pk]]
    for pk in drifted:
        with transaction.atomic():
            intent_copy_details(intent=Intent.objects.select_for_update().get(pk=pk))
    return len(drifted)


MAX_TERM_DAYS = 3650


def terms_validate(terms: list[dict[str, Any]]) -> tuple[list[tuple[Term, int | None]], list[str]]:
    """The chosen current terms (with their days) and the problems found."""
    current = {term.code: term for term in Term.objects.filter(is_current=True)}
    chosen: list[tuple[Term, int | None]] = []
    problems: list[str] = []
    for choice in terms:
        term = current.get(choice.get("code", ""))
        if term is None:
            problems.append(f"“{choice.get('code')}” is not one of the terms on offer.")
            continue
        days = choice.get("days")
        if term.takes_days:
            if (
                not isinstance(days, int)
                or isinstance(days, bool)
                or not 1 <= days <= MAX_TERM_DAYS
            ):
                problems.append(f"“{term.title}”: give a number of days from 1 to {MAX_TERM_DAYS}.")
                continue
        else:
            days = None
        chosen.append((term, days))
    return chosen, problems


def _terms_differ(intent: Intent, chosen: list[tuple[Term, int | None]]) -> bool:
    """Did the buyer choose other terms (or days)? By code: a term reworded in a new
    version since is still the one they chose, and stays in the version vendors agreed to."""
    current = set(IntentTerm.objects.filter(intent=intent).values_list("term__code", "days"))
    return current != {(term.code, days) for term, days in chosen}


def _replace_terms(intent: Intent, chosen: list[tuple[Term, int | None]]) -> None:
    """Replace the intent's terms; call ``intent_copy_details`` after."""
    IntentTerm.objects.filter(intent=intent).delete()
    IntentTerm.objects.bulk_create(
        IntentTerm(intent=intent, term=term, days=days) for term, days in chosen
    )


def _replace_vendors(named: Any, slugs: list[str]) -> list[str]:
    """Set an intent's invited or blocked vendors (``named``, the relation) by their slugs;
    or, when one names no vendor, change nothing and say which."""
    vendors = list(Vendor.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {vendor.slug for vendor in vendors})
    if not missing:
        named.set(vendors)
    return [f"No vendor “{slug}”." for slug in missing]


def _too_many_named(**named: list[str] | None) -> dict[str, list[str]]:
    """No list names more vendors than an intent can go to: nor is a list of thousands
    of guesses a way to learn which vendors exist."""
    return {
        field: [f"Name at most {MAX_VENDORS_LIMIT} vendors."]
        for field, slugs in named.items()
        if slugs and len(set(slugs)) > MAX_VENDORS_LIMIT
    }


def _invited_and_blocked(invited: set[str], blocked: set[str]) -> list[str]:
    both = sorted(invited & blocked)
    return [f"“{slug}” is invited: a vendor is invited or kept off, not both." for slug in both]


def intent_create(
    *,
    buyer: User,
    organization: Organization | None = None,
    publish: bool = True,
    criteria: list[dict[str, Any]] | None = None,
    terms: list[dict[str, Any]] | None = None,
    invited: list[str] | None = None,
    blocked: list[str] | None = None,
    **fields: Any,
) -> Intent:
    """Create an intent for ``buyer``, as a draft or published at once.

    Without ``criteria`` the intent is judged on price, delivery and rating. ``invited``
    and ``blocked`` name vendors by slug: the ones an invited intent goes to, and the
    ones never told of it.
    """
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    fields.setdefault("visibility", Intent.Visibility.PUBLIC)
    fields.setdefault("max_vendors", 25)
    fields.setdefault("quantity", Decimal(1))
    errors = intent_validate({**fields, "organization": organization})
    cleaned_criteria, problems = criteria_validate(
        list(DEFAULT_CRITERIA) if criteria is None else criteria
    )
    if problems:
        errors["criteria"] = problems
    chosen_terms, problems = terms_validate(terms or [])
    if problems:
        errors["terms"] = problems
    if publish and fields["visibility"] == Intent.Visibility.INVITED and not invited:
        errors["invited"] = [NOBODY_INVITED]
    if fields["visibility"] == Intent.Visibility.INVITED and (
        too_many := _invited_over_cap(len(set(invited or [])), fields["max_vendors"])
    ):
        errors["invited"] = too_many
    if fields["visibility"] == Intent.Visibility.INVITED and (
        both := _invited_and_blocked(set(invited or []), set(blocked or []))
    ):
        errors["blocked"] = both
    errors |= _too_many_named(invited=invited, blocked=blocked)
    if errors:
        raise DomainError("The intent is not valid.", kind=INVALID, errors=errors)
    with transaction.atomic():
        intent = Intent.objects.create(
            buyer=buyer, organization=organization, pseudonym=new_pseudonym(), **fields
        )
        _replace_criteria(intent, cleaned_criteria)
        _replace_terms(intent, chosen_terms)
        intent_copy_details(intent=intent)
        problems = {
            field: found
            for field, named, slugs in (
                ("invited", intent.invited_vendors, invited),
                ("blocked", intent.blocked_vendors, blocked),
            )
            if (found := _replace_vendors(named, slugs or []))
        }
        if problems:
            transaction.set_rollback(True)
            raise DomainError("The intent is not valid.", errors=problems)
        if publish:
            intent_publish(intent=intent)
    return intent


EDITED_SINCE = (
    "This intent was changed since you opened this form (in another tab or window?), and"
    " saving would undo that change. Your version is below, not saved: open the intent in"
    " another tab to see what is saved, then save this form again to replace it."
)


def intent_update(
    *,
    intent: Intent,
    criteria: list[dict[str, Any]] | None = None,
    terms: list[dict[str, Any]] | None = None,
    invited: list[str] | None = None,
    blocked: list[str] | None = None,
    seen_edit_count: int | None = None,
    **changes: Any,
) -> Intent:
    """Edit a draft or open intent (and, when given, replace its criteria).

    ``seen_edit_count``, when given, is the intent's ``edit_count`` the edit was made
    on: an edit saved since (in another tab) refuses this one (409), which would undo it.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        locked = Intent.objects.select_for_update().get(pk=intent.pk)
        if locked.status not in (Status.DRAFT, Status.OPEN):
            raise DomainError(
                f"{with_article(locked.status)} intent cannot be edited.", kind=CONFLICT
            )
        if seen_edit_count is not None and seen_edit_count != locked.edit_count:
            raise DomainError(EDITED_SINCE, kind=CONFLICT)
        told_before = intent_for_vendor(locked) if locked.status == Status.OPEN else None
        locked.edit_count += 1
        merged = {field: changes.get(field, getattr(locked, field)) for field in EDITABLE_FIELDS}
        errors = intent_validate({**merged, "organization": locked.organization})
        if locked.status == Status.OPEN and merged["currency"] != locked.currency:
            # Offers already made are priced in the published currency.
            errors.setdefault("currency", []).append(
                "The currency cannot change once the intent is published."
            )
        if criteria is not None:
            cleaned_criteria, problems = criteria_validate(criteria)
            if problems:
                errors["criteria"] = problems
        terms_changed = False
        if terms is not None:
            chosen_terms, problems = terms_validate(terms)
            terms_changed = not problems and _terms_differ(locked, chosen_terms)
            if problems:
                errors["terms"] = problems
            elif terms_changed and locked.offers.filter(status="submitted").exists():
                errors["terms"] = [
                    "Your terms cannot change once offers have arrived: each vendor agreed "
                    "to them as they are. Withdraw the intent and post it again to change them."
                ]
        if locked.is_sealed and not merged["is_sealed"] and locked.offers.exists():
            errors["is_sealed"] = [
                "Offers stay sealed until the deadline once they have arrived: vendors made "
                "them on that promise."
            ]
        if (
            locked.status == Status.OPEN
            and merged["visibility"] == Intent.Visibility.INVITED
            and not (invited if invited is not None else locked.invited_vendors.exists())
        ):
            errors["invited"] = [NOBODY_INVITED]
        if merged["visibility"] == Intent.Visibility.INVITED and (
            too_many := _invited_over_cap(
                len(set(invited)) if invited is not None else locked.invited_vendors.count(),
                merged["max_vendors"],
            )
        ):
            errors["invited"] = too_many
        if merged["visibility"] == Intent.Visibility.INVITED and (
            both := _invited_and_blocked(
                set(
                    invited
                    if invited is not None
                    else locked.invited_vendors.values_list("slug", flat=True)
                ),
                set(
                    blocked
                    if blocked is not None
                    else locked.blocked_vendors.values_list("slug", flat=True)
                ),
            )
        ):
            errors["blocked"] = both
        errors |= _too_many_named(invited=invited, blocked=blocked)
        if errors:
            raise DomainError("The intent is not valid.", kind=INVALID, errors=errors)
        if criteria is not None:
            _replace_criteria(locked, cleaned_criteria)
        if terms_changed:
            _replace_terms(locked, chosen_terms)
        if criteria is not None or terms_changed:
            intent_copy_details(intent=locked)
        problems = {
            field: found
            for field, named, slugs in (
                ("invited", locked.invited_vendors, invited),
                ("blocked", locked.blocked_vendors, blocked),
            )
            if slugs is not None and (found := _replace_vendors(named, slugs))
        }
        if problems:
            transaction.set_rollback(True)
            raise DomainError("The intent is not valid.", errors=problems)
        for field, value in changes.items():
            setattr(locked, field, value)
        if locked.status == Status.OPEN and locked.visibility == Intent.Visibility.INVITED:
            # A vendor no longer invited no longer sees the intent (nor hears of it below).
            Notice.objects.filter(intent=locked, vendor__isnull=False).exclude(
                vendor__in=locked.invited_vendors.all()
            ).delete()
        if locked.status == Status.OPEN and blocked:
            # Nor does one the buyer now keeps off it.
            Notice.objects.filter(intent=locked, vendor__in=locked.blocked_vendors.all()).delete()
        if locked.status == Status.OPEN:
            # Vendors already noticed hear what changed, when what they read changed (a
            # save with nothing new tells nobody, nor counts towards the hour's limit);
            # new matches are looked for after commit (the flag is the outbox).
            told_now = intent_for_vendor(locked)
            if told_now != told_before:
                _refuse_telling_at_will(locked.pk)
            for field, value in matching_asked(timezone.now()).items():
                setattr(locked, field, value)
            locked.save()
            notices_relist(intent=locked)
            if told_now != told_before:
                emit_to_noticed_vendors(
                    intent=locked,
                    type="intent.updated",
                    payload={"intent": told_now},
                    dedupe_key=f"intent.updated:{locked.pk}:{locked.updated_at.isoformat()}",
                )
            enqueue_on_commit("intents.match_intent", str(locked.pk))
        else:
            locked.save()
    return locked


def intent_create_internal(
    *,
    poster: User,
    organization: Organization,
    title: str,
    description: str,
    category: Category,
    reward_amount: Decimal | None,
    reward_currency: str = "",
    reward_is_points: bool = False,
    offers_close_at: datetime | None,
    needed_by: date | None = None,
    max_members: int = 25,
    publish: bool = True,
) -> Intent:
    """Post an organization's internal RFP: members only, with a reward and a deadline.

    The poster must be a member. A reward in points has no currency (ISO 4217
    ``XXX``); a money reward needs one. The work is "remote" — it happens
    inside the organization — so no country is asked for.
    """
    if not Membership.objects.filter(organization=organization, user=poster).exists():
        raise DomainError("Only members can post in this organization.", kind=FORBIDDEN)
    if not reward_is_points and not reward_currency:
        raise DomainError(
            "The intent is not valid.",
            errors={"reward_currency": [NO_REWARD_CURRENCY]},
        )
    return intent_create(
        buyer=poster,
        organization=organization,
        publish=publish,
        criteria=[],
        **_internal_fields(
            title=title,
            description=description,
            category=category,
            reward_amount=reward_amount,
            reward_currency=reward_currency,
            reward_is_points=reward_is_points,
            offers_close_at=offers_close_at,
            needed_by=needed_by,
            max_members=max_members,
        ),
    )


NO_REWARD_CURRENCY = "Give the reward's currency, or make it points."
# An internal RFP's fields as its form names them, where the intent's differ.
_INTERNAL_FIELD_NAMES = {"currency": "reward_currency", "max_vendors": "max_members"}


def _internal_fields(
    *,
    reward_currency: str = "",
    reward_is_points: bool = False,
    max_members: Any = 25,
    **given: Any,
) -> dict[str, Any]:
    """The intent's fields for an internal RFP: remote (the work happens inside the
    organization), internal, its reward in points (ISO 4217 ``XXX``) or a currency."""
    return {
        **given,
        "currency": Intent.POINTS_CURRENCY if reward_is_points else reward_currency,
        "reward_is_points": reward_is_points,
        "is_remote": True,
        "visibility": Intent.Visibility.INTERNAL,
        "max_vendors": max_members,
    }


def internal_rfp_validate(*, organization: Organization, **given: Any) -> dict[str, list[str]]:
    """Every rule an internal RFP's fields (as its form names them) break, per field: the
    form shows them all at once, as the intent form does."""
    errors = intent_validate(
        {**_internal_fields(**given), "organization": organization, "quantity": Decimal(1)}
    )
    if not given.get("reward_is_points") and not given.get("reward_currency"):
        errors["currency"] = [NO_REWARD_CURRENCY]
    return {_INTERNAL_FIELD_NAMES.get(field, field): found for field, found in errors.items()}


def _transition(
    *,
    intent: Intent,
    from_statuses: tuple[str, ...],
    to_status: str,
    stamp: str,
    refusal: str,
    tell: str = "",
    **also: Any,
) -> Intent:
    """A guarded status change; with ``tell``, that event goes to every noticed vendor
    in the same transaction (the outbox)."""
    now = timezone.now()
    with transaction.atomic():
        changed = Intent.objects.filter(pk=intent.pk, status__in=from_statuses).update(
            status=to_status, updated_at=now, **{stamp: now}, **also
        )
        if not changed:
            intent.refresh_from_db(fields=["status"])
            raise DomainError(refusal.format(status=intent.status), kind=CONFLICT)
        intent.refresh_from_db()
        notices_relist(intent=intent)
        if tell:
            _tell_noticed_vendors(intent, tell)
    return intent


def notices_relist(*, intent: Intent) -> None:
    """Keep the notices' ``listed`` and ``closes_at`` equal to the intent's.

    Every change of status, of ``is_hidden`` or of the deadline calls this in its
    transaction: the vendor's default list is read from these two columns.
    """
    listed, closes_at = intent.is_listed_for_vendors, intent.offers_close_at
    Notice.objects.filter(intent=intent, vendor__isnull=False).exclude(
        listed=listed, closes_at=closes_at
    ).update(listed=listed, closes_at=closes_at)


def notices_relist_drifted() -> int:
    """Repair the notices whose ``listed`` or ``closes_at`` no longer match their intent.

    Nothing should drift: every service that changes an intent relists it. Run
    after a deploy that ran old code beside the new (``manage.py relist_notices``).
    Returns how many intents were relisted.
    """
    listed_intent = Intent.listed_for_vendors_q(prefix="intent__")
    drifted = Notice.objects.filter(vendor__isnull=False).filter(
        (Q(listed=True) & ~listed_intent)
        | (Q(listed=False) & listed_intent)
        | Q(closes_at__isnull=True)
        | ~Q(closes_at=F("intent__offers_close_at"))
    )
    relisted = 0
    for intent in Intent.objects.filter(pk__in=drifted.values("intent_id")).iterator():
        with transaction.atomic():
            notices_relist(intent=Intent.objects.select_for_update().get(pk=intent.pk))
        relisted += 1
    return relisted


# Each intent published takes a place in up to MAX_VENDORS_LIMIT vendors' daily capacity:
# one person cannot use it up at will (a free sign-up would be enough).
PUBLISHED_PER_HOUR = 20
OPEN_AT_ONCE = 100
PUBLISHED_COUNTER_PREFIX = "intents-published:"


def _refuse_publishing_at_will(buyer_id: Any) -> None:
    """Call inside the publication's transaction: the buyer's row stays locked until it
    commits, so two publications at once count each other's intent."""
    active = User.objects.select_for_update(no_key=True).filter(pk=buyer_id, is_active=True)
    if not list(active.values_list("pk")):  # erased (or closed) while this one waited
        raise DomainError("This account is closed; nothing can be published.", kind=FORBIDDEN)
    if Intent.objects.filter(buyer_id=buyer_id, status=Status.OPEN).count() >= OPEN_AT_ONCE:
        raise DomainError(
            f"You have {OPEN_AT_ONCE} intents open: close or withdraw one first.",
            kind=CONFLICT,
        )
    count_or_refuse(
        f"{PUBLISHED_COUNTER_PREFIX}{buyer_id}",
        limit=PUBLISHED_PER_HOUR,
        seconds=3600,
        message=f"You published {PUBLISHED_PER_HOUR} intents this hour; publish this one later.",
    )


# Each change to an open intent is told to every vendor noticed about it (up to
# MAX_VENDORS_LIMIT): a few an hour at most.
TOLD_CHANGES_PER_HOUR = 20
TOLD_CHANGES_COUNTER_PREFIX = "intent-changes-told:"


def _refuse_telling_at_will(intent_id: Any) -> None:
    count_or_refuse(
        f"{TOLD_CHANGES_COUNTER_PREFIX}{intent_id}",
        limit=TOLD_CHANGES_PER_HOUR,
        seconds=3600,
        message=f"This intent was changed {TOLD_CHANGES_PER_HOUR} times this hour, and its"
        " vendors told each time; change it again later.",
    )


ONLY_DRAFTS_DELETED = "Only a draft can be deleted; withdraw a published intent instead."


def intent_delete_draft(*, intent: Intent, buyer: User) -> None:
    """Delete one of the buyer's drafts, with its criteria and terms. A draft was never
    shown to a vendor; a published intent is withdrawn instead (vendors were told)."""
    with transaction.atomic():
        # Locked, then checked: a publication from another tab waits, then finds it gone.
        # (A filtered delete() checks the status only when it collects the rows.)
        locked = Intent.objects.select_for_update().filter(pk=intent.pk, buyer=buyer).first()
        if locked is None or locked.status != Status.DRAFT:
            raise DomainError(ONLY_DRAFTS_DELETED, kind=CONFLICT)
        locked.delete()


def intent_publish(*, intent: Intent) -> Intent:
    """Open a draft for offers. Its deadline must still be ahead."""
    if intent.offers_close_at <= timezone.now():
        raise DomainError(
            "The deadline for offers has passed; move it before publishing.",
            kind=INVALID,
            errors={"offers_close_at": ["The deadline for offers must be in the future."]},
        )
    if intent.visibility == Intent.Visibility.INVITED and not intent.invited_vendors.exists():
        raise DomainError(
            "Invite at least one vendor before publishing.",
            kind=INVALID,
            errors={"invited": [NOBODY_INVITED]},
        )
    with transaction.atomic():
        _refuse_publishing_at_will(intent.buyer_id)
        intent = _transition(
            intent=intent,
            from_statuses=(Status.DRAFT,),
            to_status=Status.OPEN,
            stamp="published_at",
            refusal="Only a draft can be published; this intent is {status}.",
            **matching_asked(timezone.now()),
        )
        enqueue_on_commit("intents.match_intent", str(intent.pk))
    return intent


def _tell_noticed_vendors(intent: Intent, event_type: str) -> None:
    emit_to_noticed_vendors(
        intent=intent,
        type=event_type,
        payload={"intent": intent_for_vendor(intent)},
        dedupe_key=f"{event_type}:{intent.pk}",
    )


def intent_close(*, intent: Intent) -> Intent:
    """Stop taking offers; the buyer decides among those received."""
    return _transition(
        intent=intent,
        from_statuses=(Status.OPEN,),
        to_status=Status.CLOSED,
        stamp="closed_at",
        refusal="Only an open intent can be closed; this one is {status}.",
        tell="intent.closed",
    )


def intent_withdraw(*, intent: Intent) -> Intent:
    """The buyer calls it off. Live offers are declined by the offers layer."""
    return _transition(
        intent=intent,
        from_statuses=Intent.UNDECIDED_STATUSES,
        to_status=Status.WITHDRAWN,
        stamp="withdrawn_at",
        refusal="Only an open or closed intent can be withdrawn; this one is {status}.",
        tell="intent.withdrawn",
    )


def intent_expire(*, intent: Intent) -> Intent:
    """The deadline passed without a single offer."""
    return _transition(
        intent=intent,
        from_statuses=(Status.OPEN,),
        to_status=Status.EXPIRED,
        stamp="expired_at",
        refusal="Only an open intent can expire; this one is {status}.",
        tell="intent.closed",
    )


def intent_lock_for_award(*, intent_id: Any) -> Intent:
    """Lock the intent row for an award; call inside ``transaction.atomic()``.

    The offers layer holds this lock while it accepts one offer and declines
    the rest, so two concurrent accepts run one after the other.
    """
    intent = Intent.objects.select_for_update().get(pk=intent_id)
    if intent.status not in Intent.UNDECIDED_STATUSES:
        # An organization's internal intent is an RFP, answered with proposals.
        what, answer = ("RFP", "proposal") if intent.organization_id else ("intent", "offer")
        raise DomainError(
            f"This {what} is {intent.status}; no {answer} can be accepted.", kind=CONFLICT
        )
    return intent


def intent_mark_awarded(*, intent: Intent) -> Intent:
    """Second half of an award, under the lock taken by :func:`intent_lock_for_award`.

    Awarded while still open, it takes no more offers: every noticed vendor hears
    ``intent.closed`` (once: not again if it had closed already).
    """
    return _transition(
        intent=intent,
        from_statuses=Intent.UNDECIDED_STATUSES,
        to_status=Status.AWARDED,
        stamp="awarded_at",
        refusal="This intent is {status}; it cannot be awarded.",
        tell="intent.closed",
    )


def intent_moderate_words(*, intent: Intent, title: str, description: str) -> Intent:
    """A moderator corrects an intent's words; the vendors noticed about it hear of it.

    Whatever its status, since vendors still read a closed intent. The buyer's
    other fields and their rules are the buyer's services' own.
    """
    with transaction.atomic():
        locked = Intent.objects.select_for_update().get(pk=intent.pk)
        if (locked.title, locked.description) == (title, description):
            return locked
        locked.title, locked.description = title, description
        # An edit form the buyer opened before is then refused, not saved over this.
        locked.edit_count += 1
        locked.save(update_fields=["title", "description", "edit_count", "updated_at"])
        # The words the vendors were told are corrected where they are kept (their
        # feed, webhooks still to go); each event keeps the rest as it was then.
        told = list(
            Event.objects.filter(
                vendor_id__in=Notice.objects.filter(intent=locked).values("vendor_id"),
                type__startswith="intent.",
                payload__intent__id=str(locked.pk),
            )
        )
        shown = intent_for_vendor(locked)  # the buyer's words, unless redacted
        words = {"title": shown["title"], "description": shown["description"]}
        for event in told:
            if "title" in event.payload["intent"]:  # not one erased since
                event.payload = {**event.payload, "intent": event.payload["intent"] | words}
        Event.objects.bulk_update(told, ["payload"])
        emit_to_noticed_vendors(
            intent=locked,
            type="intent.updated",
            payload={"intent": intent_for_vendor(locked)},
            dedupe_key=f"intent.updated:{locked.pk}:{locked.updated_at.isoformat()}",
        )
    return locked


HIDDEN_MAIL = (
    "A moderator hid your intent “{title}” from vendors: it breaks the marketplace's"
    " rules (abuse or spam). Vendors can no longer read it or answer it.\n\n{link}"
)
SHOWN_MAIL = (
    "A moderator shows your intent “{title}” to vendors again: matching vendors are"
    " told of it as it is now.\n\n{link}"
)
HIDDEN_RFP_MAIL = (
    "A moderator hid your RFP “{title}” in {organization}: it breaks the marketplace's"
    " rules (abuse or spam). Its members can no longer read it or answer it.\n\n{link}"
)
SHOWN_RFP_MAIL = (
    "A moderator shows your RFP “{title}” in {organization} again: its members can read"
    " it and answer it as it is now.\n\n{link}"
)


def _hidden_or_shown_mail(intent: Intent, *, is_hidden: bool) -> str:
    """What the poster is told, and where to look: a hidden RFP's page is no member's,
    the poster's neither, so its organization's page."""
    organization = intent.organization
    if organization is None:
        text = HIDDEN_MAIL if is_hidden else SHOWN_MAIL
        link = absolute_url("offers:intent", intent.pk)
    elif is_hidden:
        text, link = HIDDEN_RFP_MAIL, absolute_url("offers:organization", organization.slug)
    else:
        text, link = SHOWN_RFP_MAIL, absolute_url("offers:rfp", organization.slug, intent.pk)
    name = organization.name if organization is not None else ""
    return text.format(title=intent.title, organization=name, link=link)


def intent_set_hidden(*, intent: Intent, is_hidden: bool) -> None:
    """A moderator hides an abusive intent from vendors (or shows it again).

    Shown again while open, it is matched again: vendors it missed while hidden
    (matching skips a hidden intent) are noticed, up to its cap.
    """
    with transaction.atomic():
        changed = (
            Intent.objects.filter(pk=intent.pk)
            .exclude(is_hidden=is_hidden)
            .update(is_hidden=is_hidden)
        )
        intent.refresh_from_db()  # all of it: the notices copy the deadline too
        if not changed:
            return  # hidden (or shown) already: nothing to do
        notices_relist(intent=intent)
        if intent.buyer.is_active:  # the buyer hears of it (not an erased account)
            send_mail_after_commit(
                subject=f"Intentcast: “{intent.title}” was {'hidden' if is_hidden else 'shown again'}",
                message=_hidden_or_shown_mail(intent, is_hidden=is_hidden)
                + (write_to_support("to learn why, or to ask for it back") if is_hidden else ""),
                recipient_list=[intent.buyer.email],
            )
        if is_hidden:
            return
        if intent.status == Status.OPEN:
            Intent.objects.filter(pk=intent.pk).update(**matching_asked(timezone.now()))
            enqueue_on_commit("intents.match_intent", str(intent.pk))
        # While hidden, nothing about it was told: not its edits, and neither the
        # webhooks still to go nor the feed's events of it (events_no_longer_to_tell),
        # a closing or a withdrawal among them. The noticed vendors hear of it as it
        # is now, whatever its status.
        emit_to_noticed_vendors(
            intent=intent,
            type="intent.updated",
            payload={"intent": intent_for_vendor(intent)},
            dedupe_key=f"intent.updated:{intent.pk}:shown:{timezone.now().isoformat()}",
        )


def buyer_block_vendor(*, buyer: User, vendor: Vendor) -> None:
    """The buyer never hears from this vendor again.

    It is noticed of none of their intents from now on (matching skips it), and
    loses the open ones it was told of: it can no longer read them, nor make or
    revise an offer or ask a question there. Offers it made stay for the buyer
    to decide on; intents already closed stay readable with its offer.
    """
    with transaction.atomic():
        # The buyer's open intents first, as matching locks each: a matching under way
        # finishes before its notices are deleted, one after it sees the block.
        list(
            Intent.objects.select_for_update(no_key=True)
            .filter(buyer=buyer, status=Status.OPEN)
            .order_by("pk")
            .values_list("pk")
        )
        vendor_block(buyer=buyer, vendor=vendor)
        Notice.objects.filter(
            vendor=vendor, intent__buyer=buyer, intent__status=Status.OPEN
        ).delete()


def intent_note_buyer_activity(*, intent_id: Any) -> None:
    """Something new for the buyer (an offer, a revision, a question): mark it unread.

    The e-mail is the beat's to send (``offers.notify_buyers``, every minute), at
    most one an hour per intent: the request sends nothing to the broker.
    """
    Intent.objects.filter(pk=intent_id).update(buyer_activity_at=timezone.now())


def intent_take_offer(*, intent: Intent) -> None:
    """A new offer arrives: lock the intent if it still takes offers, and mark it unread.

    One UPDATE does both; call it inside the offer's transaction. Its row lock
    queues behind an award's (intent_lock_for_award), and an intent awarded,
    closed, past its deadline or hidden meanwhile matches no row: refused. So
    does one the buyer edited since ``intent`` was read (its terms, criteria or
    currency, which the offer was checked against): 409, read it again. The
    buyer's e-mail follows from the beat, as in ``intent_note_buyer_activity``.
    """
    now = timezone.now()
    taken = Intent.objects.filter(
        pk=intent.pk,
        status=Status.OPEN,
        offers_close_at__gt=now,
        is_hidden=False,
        updated_at=intent.updated_at,
    ).update(buyer_activity_at=now)
    if not taken:
        current = Intent.objects.only("status", "offers_close_at", "is_hidden").get(pk=intent.pk)
        if current.is_hidden:
            raise DomainError("No intent with this id is open to you.", kind=NOT_FOUND)
        _refuse_offers(current)
        raise DomainError(
            "The buyer changed this intent while your offer was on its way: read it again.",
            kind=CONFLICT,
        )


def intent_lock_open(*, intent_id: Any) -> Intent:
    """Lock an intent that still takes offers (a revision); call inside a transaction."""
    intent = Intent.objects.select_for_update().get(pk=intent_id)
    _refuse_offers(intent)
    return intent


def _refuse_offers(intent: Intent) -> None:
    """409 unless the intent is open and before its deadline."""
    if intent.status != Status.OPEN:
        raise DomainError(f"This intent is {intent.status}; it takes no offers.", kind=CONFLICT)
    if intent.offers_close_at <= timezone.now():
        raise DomainError("The deadline for offers on this intent has passed.", kind=CONFLICT)


def intent_mark_seen(*, intent: Intent) -> None:
    """The buyer opened the intent page: it is read, and what they saw is no news to
    e-mail them about (the next e-mail counts from now)."""
    if intent.is_unread:
        now = timezone.now()
        Intent.objects.filter(pk=intent.pk).update(buyer_seen_at=now, buyer_emailed_at=now)


def intent_reveal_identity(*, buyer: User, intent: Intent, vendor: Vendor) -> IdentityReveal:
    """The buyer shows who they are to one vendor matched to the intent (logged)."""
    if intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can reveal themselves.", kind=FORBIDDEN)
    if not Notice.objects.filter(intent=intent, vendor=vendor).exists():
        raise DomainError("This vendor was not matched to your intent.", kind=INVALID)
    with transaction.atomic():
        reveal, created = IdentityReveal.objects.get_or_create(intent=intent, vendor=vendor)
        if created:
            audit(
                user_id=buyer.pk,
                action=AuditEntry.Action.IDENTITY_REVEALED,
                detail=f"You revealed your name and e-mail to {vendor.name} on “{intent.title}”.",
            )
    return reveal


def buyer_identity_for_vendor(*, intent: Intent, vendor: Vendor) -> dict[str, str] | None:
    """The buyer's name and e-mail, only for a vendor they revealed themselves to."""
    if not IdentityReveal.objects.filter(intent=intent, vendor=vendor).exists():
        return None
    return buyer_identity(intent.buyer)


def buyer_identity(buyer: User) -> dict[str, str]:
    """What a vendor the buyer revealed themselves to sees of them: name and e-mail."""
    return {"name": buyer.get_full_name() or buyer.get_username(), "email": buyer.email}
