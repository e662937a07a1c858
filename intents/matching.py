"""Which vendors hear about an intent, and why.

Rules (DESIGN §4): the intent's category, or one above or below it in the
tree; a region covering the intent's country (or worldwide, for remote
work); a deal size overlapping the budget when both are in the same currency;
not paused or suspended; under today's capacity; not blocked by the buyer;
for an ``invited`` intent, only the vendors the buyer named; and, for a
vendor that lists keywords, at least one of them in the intent's text.
Candidates are ranked by keyword relevance, then reputation, then freshness.

On PostgreSQL the whole selection is one query (GIN indexes on the vendor's
category × coverage keys and keyword lexemes); on SQLite the JSON rules run
in Python.

An organization's internal intent is matched to its *members* instead
(:func:`match_member_candidates`): every member but the poster whose skills,
as lexemes like a vendor's keywords, occur in the intent's text; ranked by how
many do. The candidates feed the same notice, e-mail and cap machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet

from intents.models import Intent, Notice
from marketplace import clock
from marketplace.codes import WORLDWIDE
from marketplace.models import ExperienceEntry, Membership, SkillProfile, Vendor, VendorBlock
from marketplace.search import lexemes, lexemes_each
from marketplace.selectors import CategoryNode, category_ids_with_descendants, category_tree

VENDOR_FIELDS = (
    "id",
    "coverage",
    "keyword_lexemes",
    "deal_size_min",
    "deal_size_max",
    "deal_size_currency",
    "rating_mean",
    "last_seen_at",
)


@dataclass
class Candidate:
    vendor_id: Any
    score: float
    reasons: list[str] = field(default_factory=list)
    member_id: Any = None  # set instead of vendor_id for an internal intent


def related_category_ids(category_id: int, tree: dict[int, CategoryNode] | None = None) -> set[int]:
    """The category, its ancestors and its descendants (``tree``: category_tree(), if read)."""
    if tree is None:
        tree = category_tree()
    related = category_ids_with_descendants([category_id], tree)
    current = tree[category_id].parent_id if category_id in tree else None
    while current is not None and current not in related:
        related.add(current)
        current = tree[current].parent_id
    return related


def intent_lexemes(intent: Intent) -> list[str]:
    return lexemes(f"{intent.title}\n{intent.description}")


def wanted_coverage(intent: Intent) -> list[str]:
    """Coverage codes any one of which lets a vendor serve the intent's place."""
    codes = [WORLDWIDE]
    if intent.country:
        codes.append(intent.country)
    return codes


def wanted_match_keys(intent: Intent, related: set[int]) -> list[str]:
    """Vendor.match_keys any one of which fits the intent's category tree and place.

    A vendor serving the intent's category, one above it or one below it, and
    covering its country or worldwide (see marketplace.services.vendor_match_keys).
    """
    codes = wanted_coverage(intent)
    return sorted(f"{category_id}:{code}" for category_id in related for code in codes)


# under_capacity in SQL, for the hand-written statements (matching, the fan-out's claim).
UNDER_CAPACITY_SQL = (
    "(notices_day IS NULL OR notices_day < %(today)s OR notices_today < daily_capacity)"
)


def under_capacity(today: date) -> Q:
    """Vendors with room left today (UNDER_CAPACITY_SQL states it in SQL)."""
    return (
        Q(notices_day__isnull=True)
        | Q(notices_day__lt=today)
        | Q(notices_today__lt=F("daily_capacity"))
    )


def _base_queryset(intent: Intent, today: date) -> QuerySet[Vendor]:
    """The portable engine's rules (SQLite); _POSTGRESQL_SQL states the same ones."""
    vendors = Vendor.objects.filter(is_paused=False, is_suspended=False).filter(
        under_capacity(today)
    )
    vendors = (
        vendors.exclude(
            id__in=VendorBlock.objects.filter(buyer_id=intent.buyer_id).values("vendor_id")
        )
        .exclude(
            # The intent's own block-list.
            id__in=Intent.blocked_vendors.through.objects.filter(intent_id=intent.pk).values(
                "vendor_id"
            )
        )
        .exclude(
            # Only vendor notices: a NULL in a NOT IN subquery would exclude everyone.
            id__in=Notice.objects.filter(intent=intent, vendor__isnull=False).values("vendor_id")
        )
    )
    if intent.visibility == Intent.Visibility.INVITED:
        return vendors.filter(id__in=intent.invited_vendors.values("id"))
    # The category and place rules follow in _select_portable.
    budget_min, budget_max = compared_budget(intent)
    if budget_min is not None:
        vendors = vendors.exclude(deal_size_currency=intent.currency, deal_size_max__lt=budget_min)
    if budget_max is not None:
        vendors = vendors.exclude(deal_size_currency=intent.currency, deal_size_min__gt=budget_max)
    return vendors


def compared_budget(intent: Intent) -> tuple[Decimal | None, Decimal | None]:
    """The budget the deal-size rule compares: none when the buyer hid it.

    Compared, a hidden budget would leak: a vendor moving its deal size and
    watching which intents it is matched to would find the budget out.
    """
    if intent.is_budget_hidden:
        return None, None
    return intent.budget_min, intent.budget_max


# The PostgreSQL engine: every rule of _base_queryset and the ranking in one
# hand-written statement. Matching runs for every intent published, and
# building this query through the ORM cost more than the database spent on it.
# {audience} is either the public rules (category tree × place through the GIN
# index on match_keys, keywords, deal size) or the invited list.
_POSTGRESQL_SQL = """
SELECT v.id, v.coverage, v.keyword_lexemes, v.deal_size_min, v.deal_size_max,
       v.deal_size_currency, v.rating_mean, v.last_seen_at,
       (SELECT count(*) FROM jsonb_array_elements_text(v.keyword_lexemes) AS k
        WHERE k = ANY(%(words)s)) AS relevance,
       (SELECT coalesce(array_agg(vc.category_id), '{{}}') FROM marketplace_vendor_categories vc
        WHERE vc.vendor_id = v.id AND vc.category_id = ANY(%(related)s)) AS category_ids
FROM marketplace_vendor v
WHERE NOT v.is_paused AND NOT v.is_suspended
  AND {under_capacity}
  AND v.id NOT IN (SELECT vendor_id FROM marketplace_vendorblock WHERE buyer_id = %(buyer)s)
  AND v.id NOT IN (SELECT vendor_id FROM intents_intent_blocked_vendors
                   WHERE intent_id = %(intent)s)
  AND v.id NOT IN (SELECT vendor_id FROM intents_notice
                   WHERE intent_id = %(intent)s AND vendor_id IS NOT NULL)
  AND {audience}
ORDER BY relevance DESC, v.rating_mean DESC NULLS LAST, v.last_seen_at DESC NULLS LAST, v.id
LIMIT %(limit)s
"""
_PUBLIC_AUDIENCE = """v.match_keys ?| %(keys)s
  AND (v.keyword_lexemes = '[]'::jsonb OR v.keyword_lexemes ?| %(words)s)
  AND NOT coalesce(v.deal_size_currency = %(currency)s AND v.deal_size_max < %(budget_min)s, false)
  AND NOT coalesce(v.deal_size_currency = %(currency)s AND v.deal_size_min > %(budget_max)s, false)"""
_INVITED_AUDIENCE = """v.id IN (SELECT vendor_id FROM intents_intent_invited_vendors
                WHERE intent_id = %(intent)s)"""
_POSTGRESQL_COLUMNS = (*VENDOR_FIELDS, "relevance", "category_ids")


def _select_postgresql(
    intent: Intent, words: list[str], limit: int, related: set[int], today: date
) -> list[dict[str, Any]]:
    invited = intent.visibility == Intent.Visibility.INVITED
    sql = _POSTGRESQL_SQL.format(
        audience=_INVITED_AUDIENCE if invited else _PUBLIC_AUDIENCE,
        under_capacity=UNDER_CAPACITY_SQL,
    )
    parameters = {
        "words": words or [""],
        "related": sorted(related),
        "today": today,
        "buyer": intent.buyer_id,
        "intent": intent.pk,
        "limit": limit,
        "keys": wanted_match_keys(intent, related),
        "currency": intent.currency,
    }
    parameters["budget_min"], parameters["budget_max"] = compared_budget(intent)
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        vendors = [dict(zip(_POSTGRESQL_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for vendor in vendors:  # Django reads jsonb as text, for JSONField to parse
        vendor["coverage"] = json.loads(vendor["coverage"])
        vendor["keyword_lexemes"] = json.loads(vendor["keyword_lexemes"])
    return vendors


def _select_portable(
    vendors: QuerySet[Vendor], intent: Intent, words: list[str], limit: int, related: set[int]
) -> list[dict[str, Any]]:
    wanted = set(wanted_coverage(intent))
    word_set = set(words)
    selected = []
    if intent.visibility != Intent.Visibility.INVITED:
        vendors = vendors.filter(
            id__in=Vendor.categories.through.objects.filter(category_id__in=related).values(
                "vendor_id"
            )
        )
    for vendor in vendors.values(*VENDOR_FIELDS):
        matched = word_set & set(vendor["keyword_lexemes"])
        if intent.visibility != Intent.Visibility.INVITED:
            if not wanted & set(vendor["coverage"]):
                continue
            if vendor["keyword_lexemes"] and not matched:
                continue
        vendor["relevance"] = len(matched)
        selected.append(vendor)
    oldest = datetime(1970, 1, 1, tzinfo=UTC)  # never seen: last
    selected.sort(
        key=lambda v: (
            -v["relevance"],
            -(v["rating_mean"] or -1),
            -(v["last_seen_at"] or oldest).timestamp(),
            str(v["id"]),
        )
    )
    return selected[:limit]


def _budget_was_compared(intent: Intent, vendor: dict[str, Any]) -> bool:
    """The deal-size rule compared the vendor's deal size with the budget (so they overlap).

    Not for an invited intent (the rule does not apply), nor a budget the buyer
    hid (the reason would tell something of it), nor one not given.
    """
    return (
        intent.visibility != Intent.Visibility.INVITED
        and compared_budget(intent) != (None, None)
        and vendor["deal_size_currency"] == intent.currency
        and (vendor["deal_size_min"] is not None or vendor["deal_size_max"] is not None)
    )


def _reasons(
    intent: Intent, vendor: dict[str, Any], category_slugs: list[str], words: list[str]
) -> list[str]:
    reasons = []
    if intent.visibility == Intent.Visibility.INVITED:
        reasons.append("invited by the buyer")
    if category_slugs:
        reasons.append("category: " + ", ".join(sorted(category_slugs)))
    if intent.country and intent.country in vendor["coverage"]:
        reasons.append(f"region: {intent.country}")
    elif WORLDWIDE in vendor["coverage"]:
        reasons.append("region: worldwide" + (" (remote)" if intent.is_remote else ""))
    if _budget_was_compared(intent, vendor):
        reasons.append("budget overlaps")
    matched = sorted(set(words) & set(vendor["keyword_lexemes"]))
    if matched:
        reasons.append("keywords: " + ", ".join(matched))
    return reasons


def match_member_candidates(intent: Intent, *, limit: int) -> list[Candidate]:
    """The best ``limit`` members not yet noticed about an internal intent, with their reasons."""
    if limit <= 0 or intent.organization_id is None:
        return []
    words = intent_lexemes(intent)
    if not words:
        return []
    profiles = (
        SkillProfile.objects.filter(
            user__in=Membership.objects.filter(organization_id=intent.organization_id).values(
                "user_id"
            ),
            user__is_active=True,
        )
        .exclude(user_id=intent.buyer_id)
        .exclude(
            user_id__in=Notice.objects.filter(intent=intent, member__isnull=False).values(
                "member_id"
            )
        )
    )
    if connection.vendor == "postgresql":
        profiles = profiles.filter(skill_lexemes__has_any_keys=words)
    word_set = set(words)
    selected = []
    for user_id, skills, skill_lexemes in profiles.values_list(
        "user_id", "skills", "skill_lexemes"
    ):
        matched = word_set & set(skill_lexemes)
        if matched:
            selected.append((user_id, skills, sorted(matched)))
    selected.sort(key=lambda row: (-len(row[2]), row[0]))
    selected = selected[:limit]
    # The reasons name the member's own skills and experience that matched, not stemmed
    # lexemes: the lexemes of each, in one query.
    titles: dict[Any, list[str]] = {}
    for user_id, title in ExperienceEntry.objects.filter(
        user_id__in=[user_id for user_id, _, _ in selected]
    ).values_list("user_id", "title"):
        titles.setdefault(user_id, []).append(title)
    words_of = lexemes_each(
        [skill for _, skills, _ in selected for skill in skills]
        + [title for own in titles.values() for title in own]
    )

    def matching(texts: list[str]) -> list[str]:
        return [text for text in texts if word_set & set(words_of.get(text, []))]

    def reasons(user_id: Any, skills: list[str]) -> list[str]:
        found = ["member of the organization"]
        if matched_skills := matching(skills):
            found.append("skills: " + ", ".join(matched_skills))
        if matched_titles := matching(sorted(set(titles.get(user_id, [])))):
            found.append("experience: " + ", ".join(matched_titles))
        return found

    total = len(selected)
    return [
        Candidate(
            vendor_id=None,
            member_id=user_id,
            score=round((total - rank) / total, 4),
            reasons=reasons(user_id, skills),
        )
        for rank, (user_id, skills, _matched) in enumerate(selected)
    ]


def match_candidates(intent: Intent, *, limit: int) -> list[Candidate]:
    """The best ``limit`` vendors not yet noticed about ``intent``, with their reasons.

    For an internal intent: its organization's members, never a vendor.
    """
    if intent.organization_id is not None or intent.visibility == Intent.Visibility.INTERNAL:
        return match_member_candidates(intent, limit=limit)
    if limit <= 0:
        return []
    words = intent_lexemes(intent)
    today = clock.today()
    tree = category_tree()
    related = related_category_ids(intent.category_id, tree)
    slugs: dict[Any, list[str]] = {}
    if connection.vendor == "postgresql":
        selected = _select_postgresql(intent, words, limit, related, today)
        slugs = {
            vendor["id"]: [tree[category_id].slug for category_id in vendor["category_ids"]]
            for vendor in selected
        }
    else:
        vendors = _base_queryset(intent, today)
        selected = _select_portable(vendors, intent, words, limit, related)
        for vendor_id, slug in Vendor.categories.through.objects.filter(
            vendor_id__in=[vendor["id"] for vendor in selected], category_id__in=related
        ).values_list("vendor_id", "category__slug"):
            slugs.setdefault(vendor_id, []).append(slug)
    if not selected:
        return []
    total = len(selected)
    return [
        Candidate(
            vendor_id=vendor["id"],
            # Rank order as a score in (0, 1]: first is 1.0.
            score=round((total - rank) / total, 4),
            reasons=_reasons(intent, vendor, slugs.get(vendor["id"], []), words),
        )
        for rank, vendor in enumerate(selected)
    ]
