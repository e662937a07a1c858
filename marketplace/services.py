"""Writes for the parties: vendors, their staff and API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from marketplace.codes import WORLDWIDE, amount_problem, currency_codes, validate_region
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from marketplace.mail import send_mail_after_commit, write_to_support
from marketplace.models import ApiKey, Category, User, Vendor, VendorBlock
from marketplace.queue import enqueue_on_commit
from marketplace.search import lexemes
from marketplace.selectors import vendor_mail_recipients

API_KEY_PREFIX_BYTES = 6
API_KEY_SECRET_BYTES = 32
HEX = re.compile(r"[0-9a-f]+")
# Writing last_used_at on every request would turn every API read into a
# write; a minute's precision is what a vendor needs to spot an unused key.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw_key: str) -> str:
    # A key carries 256 random bits, so a fast hash is enough: there is
    # nothing to brute-force, unlike a human password.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str


SUSPENDED = (
    "This vendor is suspended by Intentcast's operators: its API keys are refused "
    "and its webhooks get nothing until it is reinstated."
)


def api_key_create(*, vendor: Vendor, name: str = "") -> IssuedApiKey:
    """Make a new key; the caller shows ``raw_key`` once and never again.

    Not for a suspended vendor: the key would be refused anyway.
    """
    if vendor.is_suspended:
        raise DomainError(SUSPENDED, kind=FORBIDDEN)
    prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
    raw_key = f"ic_{prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    with transaction.atomic():
        # The vendor's row, locked: two creations at once cannot both take the last place.
        Vendor.objects.select_for_update(no_key=True).filter(pk=vendor.pk).first()
        if ApiKey.objects.filter(vendor=vendor, revoked_at__isnull=True).count() >= MAX_LIVE_KEYS:
            raise DomainError(
                f"A vendor has at most {MAX_LIVE_KEYS} keys in use: revoke one first.",
                kind=CONFLICT,
            )
        api_key = ApiKey.objects.create(
            vendor=vendor, name=name, prefix=prefix, hashed_key=hash_api_key(raw_key)
        )
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


# Keys not revoked, per vendor: one per integration and environment is plenty.
MAX_LIVE_KEYS = 20


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise DomainError("This key is already revoked.", kind=CONFLICT)
    api_key.refresh_from_db()
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Marks it used.

    A suspended vendor's key is refused with the reason (403): whoever holds a
    valid key learns only what its vendor was told already.
    """
    parts = raw_key.split("_")
    # Hex digits, as api_key_create makes them: other text (a NUL byte makes PostgreSQL
    # refuse the query) cannot be a key.
    if len(parts) < 3 or parts[0] != "ic" or not HEX.fullmatch(parts[1]):
        return None
    prefix = parts[1]
    api_key = (
        ApiKey.objects.select_related("vendor")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not secrets.compare_digest(api_key.hashed_key, hash_api_key(raw_key)):
        return None
    if api_key.vendor.is_suspended:
        raise DomainError(SUSPENDED, kind=FORBIDDEN)
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        # The vendor's "freshness" in matching's ranking.
        Vendor.objects.filter(pk=api_key.vendor_id).update(last_seen_at=now)
        api_key.last_used_at = now
    return api_key


# Matching keeps a key per category and region, and a lexeme per keyword.
MAX_REGIONS = 300
MAX_KEYWORDS = 100


MAX_DAILY_CAPACITY = 100_000
CAPACITY_RULE = f"A whole number from 0 to {MAX_DAILY_CAPACITY:,}."


def vendor_profile_errors(
    *,
    regions: list[str] | None = None,
    keywords: list[str] | None = None,
    deal_size_min: Decimal | None = None,
    deal_size_max: Decimal | None = None,
    deal_size_currency: str = "",
    daily_capacity: int | None = None,
    changed: Collection[str] | None = None,
) -> dict[str, list[str]]:
    """What is wrong with a vendor's profile, per field (the services and the admin ask).

    ``changed``: the fields being written anew, None for a new vendor (all of them).
    The rules made after vendors were stored (a deal size whole in a currency without
    a minor unit, the capacity's bound) hold those alone: a value stored before them
    stays until it is changed. A new currency holds both deal sizes to its unit.
    """
    if changed is None:
        changed = {"deal_size_min", "deal_size_max", "deal_size_currency", "daily_capacity"}
    errors: dict[str, list[str]] = {}
    for field, values in (("regions", regions), ("keywords", keywords)):
        if values is not None and (
            not isinstance(values, list) or not all(isinstance(v, str) for v in values)
        ):
            errors[field] = ["Give a list of texts."]
    if errors:
        return errors
    for field, values, most in (
        ("regions", regions, MAX_REGIONS),
        ("keywords", keywords, MAX_KEYWORDS),
    ):
        if values is not None and len(values) > most:
            errors[field] = [f"At most {most} {field}."]
    if errors:
        return errors
    for region in regions or []:
        try:
            validate_region(region)
        except Exception as error:  # ValidationError; keep the message
            errors.setdefault("regions", []).extend(getattr(error, "messages", [str(error)]))
    for keyword in keywords or []:
        if not keyword.strip() or len(keyword) > 60:
            errors.setdefault("keywords", []).append("Keywords are 1 to 60 characters.")
            break
        if not keyword.isprintable():  # a NUL, a line break: none fits a keyword
            errors.setdefault("keywords", []).append(
                "Keywords hold no control characters (a line break, a NUL)."
            )
            break
    for field, value in (("deal_size_min", deal_size_min), ("deal_size_max", deal_size_max)):
        if value is not None and value < 0:
            errors.setdefault(field, []).append("Must not be negative.")
    if deal_size_min is not None and deal_size_max is not None and deal_size_min > deal_size_max:
        errors.setdefault("deal_size_max", []).append("Must be at least the minimum deal size.")
    if (deal_size_min is not None or deal_size_max is not None) and not deal_size_currency:
        errors.setdefault("deal_size_currency", []).append("Give the currency of the deal size.")
    if deal_size_currency and deal_size_currency not in currency_codes():
        errors.setdefault("deal_size_currency", []).append(
            f"“{deal_size_currency}” is not an ISO 4217 currency code."
        )
    elif deal_size_currency:
        for field, value in (("deal_size_min", deal_size_min), ("deal_size_max", deal_size_max)):
            if field not in changed and "deal_size_currency" not in changed:
                continue
            if problem := amount_problem(value, deal_size_currency):
                errors.setdefault(field, []).append(problem)
    if (
        "daily_capacity" in changed
        and daily_capacity is not None
        and not 0 <= daily_capacity <= MAX_DAILY_CAPACITY
    ):
        errors["daily_capacity"] = [CAPACITY_RULE]
    return errors


def region_coverage(regions: list[str]) -> list[str]:
    """Country codes (and "*") that service regions cover: "DE-BY" covers "DE"."""
    return sorted(
        {region if region == WORLDWIDE else region.split("-", 1)[0] for region in regions}
    )


def vendor_match_keys(category_ids: Iterable[int], coverage: Iterable[str]) -> list[str]:
    """The keys matching looks a vendor up by: each served category with each covered code.

    Only the categories the vendor serves are stored; matching expands the
    intent's category to its ancestors and descendants when it asks, so a
    change to the category tree leaves these keys valid.
    """
    codes = sorted(set(coverage))
    return sorted({f"{category_id}:{code}" for category_id in category_ids for code in codes})


# What matching reads, derived from the profile (and the categories, for match_keys).
DERIVED_FIELDS = ("coverage", "keyword_lexemes", "match_keys")


def _derive_matching_fields(vendor: Vendor) -> None:
    vendor.regions = sorted(set(vendor.regions))
    vendor.keywords = sorted({keyword.strip().lower() for keyword in vendor.keywords})
    vendor.coverage = region_coverage(vendor.regions)
    vendor.keyword_lexemes = lexemes(" ".join(vendor.keywords))


def vendor_refresh_matching_fields(*, vendor: Vendor) -> None:
    """Re-derive what matching reads, after an edit outside the services (the admin)."""
    _derive_matching_fields(vendor)
    vendor.match_keys = vendor_match_keys(
        vendor.categories.values_list("pk", flat=True), vendor.coverage
    )
    Vendor.objects.filter(pk=vendor.pk).update(
        regions=vendor.regions,
        keywords=vendor.keywords,
        coverage=vendor.coverage,
        keyword_lexemes=vendor.keyword_lexemes,
        match_keys=vendor.match_keys,
    )


PROFILE_FIELDS = (
    "name",
    "description",
    "website",
    "contact_email",
    "regions",
    "keywords",
    "deal_size_min",
    "deal_size_max",
    "deal_size_currency",
    "daily_capacity",
    "is_paused",
)
# What an operator checked when verifying a vendor: changing any of them withdraws the
# badge until an operator checks again (a verified vendor could otherwise take any name).
VERIFIED_FIELDS = ("name", "website", "contact_email")
UNVERIFIED_BY_CHANGE = (
    "Your name, website or contact e-mail changed, so the vendor is not shown as verified"
    " until an operator checks them again."
)


def vendor_update(
    *, vendor: Vendor, categories: list[Category] | None = None, **changes: object
) -> Vendor:
    """Change a vendor's own profile. Verification and suspension are not here, but a
    change to what verification checked (``VERIFIED_FIELDS``) withdraws it.

    The changes are merged into the vendor's row as it is once locked, not as
    the caller read it: two edits at once both keep their changes, and what
    matching reads is derived from the categories the vendor serves by then.
    ``vendor`` is brought up to date too.
    """
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", kind=INVALID)
    with transaction.atomic():
        locked = Vendor.objects.select_for_update(no_key=True).get(pk=vendor.pk)
        merged = {field: changes.get(field, getattr(locked, field)) for field in PROFILE_FIELDS}
        changed = {field for field in changes if changes[field] != getattr(locked, field)}
        errors = vendor_profile_errors(
            regions=merged["regions"],  # type: ignore[arg-type]
            keywords=merged["keywords"],  # type: ignore[arg-type]
            deal_size_min=merged["deal_size_min"],  # type: ignore[arg-type]
            deal_size_max=merged["deal_size_max"],  # type: ignore[arg-type]
            deal_size_currency=merged["deal_size_currency"],  # type: ignore[arg-type]
            daily_capacity=merged["daily_capacity"],  # type: ignore[arg-type]
            changed=changed,
        )
        if errors:
            raise DomainError("The profile is not valid.", kind=INVALID, errors=errors)
        if changed & set(VERIFIED_FIELDS):
            locked.is_verified = False
        for field, value in changes.items():
            setattr(locked, field, value)
        _derive_matching_fields(locked)
        category_ids = (
            [category.pk for category in categories]
            if categories is not None
            else list(locked.categories.values_list("pk", flat=True))
        )
        locked.match_keys = vendor_match_keys(category_ids, locked.coverage)
        # Intents already open that now fit this vendor are noticed after commit
        # (the request recorded with the profile: see vendor_request_catch_up).
        locked.catch_up_requested_at = timezone.now()
        written = [
            *PROFILE_FIELDS,
            *DERIVED_FIELDS,
            "is_verified",
            "catch_up_requested_at",
            "updated_at",
        ]
        # The profile's columns alone: a suspension, the capacity counters or the
        # reputation written meanwhile are kept.
        locked.save(update_fields=written)
        if categories is not None:
            locked.categories.set(categories)
        enqueue_on_commit("intents.match_vendor", str(vendor.pk))
    for field in written:
        setattr(vendor, field, getattr(locked, field))
    return vendor


def vendor_request_catch_up(*, vendor_id: Any) -> None:
    """Match the vendor against the intents already open, once the caller's transaction
    commits. Recorded on its row in that transaction, so the beat's sweep asks again
    should the broker be down or the task be lost."""
    Vendor.objects.filter(pk=vendor_id).update(catch_up_requested_at=timezone.now())
    enqueue_on_commit("intents.match_vendor", str(vendor_id))


@dataclass(frozen=True)
class CreatedVendor:
    vendor: Vendor
    staff_user: User
    issued_key: IssuedApiKey


def vendor_create(
    *,
    name: str,
    email: str,
    categories: list[Category],
    regions: list[str],
    slug: str = "",
) -> CreatedVendor:
    """Create a vendor, a staff user for ``email`` and a first API key.

    The staff user's password is random and told to nobody; they set their own
    through "forgot password" on the web (Django's reset skips a user whose
    password is unusable, so it must be a usable one).
    """
    slug = slug or slugify(name)
    if not slug:
        raise DomainError("The name needs at least one letter or digit.", errors={"name": ["?"]})
    try:
        validate_email(email)
    except ValidationError:
        raise DomainError(
            f"“{email}” is not an e-mail address.", errors={"email": ["Give an e-mail address."]}
        ) from None
    if Vendor.objects.filter(slug=slug).exists():
        raise DomainError(f"A vendor with slug “{slug}” exists.", kind=CONFLICT)
    if User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists():
        raise DomainError(f"A user with e-mail or login {email} exists.", kind=CONFLICT)
    errors = vendor_profile_errors(regions=regions)
    if errors:
        raise DomainError("The vendor is not valid.", errors=errors)
    try:
        return _vendor_create(
            name=name, email=email, categories=categories, regions=regions, slug=slug
        )
    except IntegrityError:  # made by another request since the checks above
        raise DomainError(
            f"A vendor with slug “{slug}”, or a user with e-mail or login {email}, was just made.",
            kind=CONFLICT,
        ) from None


def _vendor_create(
    *, name: str, email: str, categories: list[Category], regions: list[str], slug: str
) -> CreatedVendor:
    with transaction.atomic():
        # Matched against the intents already open after commit (vendor_request_catch_up).
        vendor = Vendor(
            name=name,
            slug=slug,
            contact_email=email,
            regions=regions,
            catch_up_requested_at=timezone.now(),
        )
        _derive_matching_fields(vendor)
        vendor.match_keys = vendor_match_keys([c.pk for c in categories], vendor.coverage)
        vendor.save()
        vendor.categories.set(categories)
        staff_user = User.objects.create_user(
            username=email, email=email, vendor=vendor, password=secrets.token_urlsafe(32)
        )
        enqueue_on_commit("intents.match_vendor", str(vendor.pk))
        issued_key = api_key_create(vendor=vendor, name="first key")
    return CreatedVendor(vendor=vendor, staff_user=staff_user, issued_key=issued_key)


def vendor_set_verified(*, vendor: Vendor, is_verified: bool) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(is_verified=is_verified)


def vendor_set_suspended(*, vendor: Vendor, is_suspended: bool) -> None:
    """Suspend or reinstate; the API refuses a suspended vendor's keys at once.

    Reinstated, it is matched against the intents opened meanwhile (as on un-pausing).
    """
    with transaction.atomic():
        changed = (
            Vendor.objects.filter(pk=vendor.pk)
            .exclude(is_suspended=is_suspended)
            .update(is_suspended=is_suspended)
        )
        if not is_suspended:
            vendor_request_catch_up(vendor_id=vendor.pk)
        if changed:  # its staff learn it by e-mail, not at their next request
            send_mail_after_commit(
                subject=f"Intentcast: {vendor.name} is {'suspended' if is_suspended else 'reinstated'}",
                message=SUSPENDED_MAIL + write_to_support("to learn why, or to ask for it back")
                if is_suspended
                else REINSTATED_MAIL,
                recipient_list=vendor_mail_recipients(vendor),
            )


SUSPENDED_MAIL = (
    "An Intentcast operator suspended your vendor account. Your API keys no longer work,"
    " and you are told of no new intent meanwhile; your offers stay as they are."
)
REINSTATED_MAIL = (
    "An Intentcast operator reinstated your vendor account: your API keys work again,"
    " and you are matched to the open intents published meanwhile."
)


def vendor_block(*, buyer: User, vendor: Vendor) -> None:
    """The buyer never hears from this vendor again: it is not noticed for their intents."""
    VendorBlock.objects.get_or_create(buyer=buyer, vendor=vendor)


def vendor_unblock(*, buyer: User, vendor: Vendor) -> None:
    """The buyer lifts a block: the vendor may be noticed of their open intents again.

    It is matched against the intents already open after commit (a catch-up, as
    for a vendor unpaused or reinstated): matching skipped it on the buyer's.
    """
    with transaction.atomic():
        deleted, _ = VendorBlock.objects.filter(buyer=buyer, vendor=vendor).delete()
        if deleted:
            vendor_request_catch_up(vendor_id=vendor.pk)


def vendor_set_reputation(
    *, vendor_id: object, rating_count: int, rating_mean: Decimal | None
) -> None:
    """Store the aggregate of buyers' ratings; matching ranks by it."""
    Vendor.objects.filter(pk=vendor_id).update(rating_count=rating_count, rating_mean=rating_mean)


# The starter category tree (manage.py load_categories, the demo data): slug → (name,
# [child slugs]); a child's name is made from its slug.
STARTER_CATEGORIES = {
    "home-services": ("Home services", ["plumbing", "electrical", "painting", "cleaning"]),
    "it-services": ("IT services", ["web-development", "it-support", "data-recovery"]),
    "events": ("Events", ["catering", "photography", "venues"]),
    "moving": ("Moving and transport", ["removals", "courier"]),
}


def categories_load(tree: dict[str, tuple[str, list[str]]] = STARTER_CATEGORIES) -> int:
    """Create the categories of ``tree`` that do not exist yet; returns how many."""
    made = 0
    with transaction.atomic():
        for slug, (name, children) in tree.items():
            parent, created = Category.objects.get_or_create(slug=slug, defaults={"name": name})
            made += created
            for child in children:
                _, created = Category.objects.get_or_create(
                    slug=child,
                    defaults={"name": child.replace("-", " ").capitalize(), "parent": parent},
                )
                made += created
    return made
