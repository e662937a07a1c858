"""Wipe the marketplace tables and load realistic volumes with COPY.

The data is drawn from a fixed seed, so two runs at the same volumes load
the same marketplace (ids included). Well-known rows the measurements use:
the vendor ``bench-vendor`` (noticed about many open intents, no offers of
its own), the buyer ``bench-heavy-buyer`` (many intents, one with
``BIG_INTENT_OFFERS`` offers) and ``bench-light-buyer`` (one intent, one offer).

Every intent has the default criteria an intent is created with when its buyer
names none (``intents.services.DEFAULT_CRITERIA``); some add a required yes/no question
(``CUSTOM_CRITERION``) and some attach buyer's terms from the roster, which the
wipe keeps (it is reference data, loaded by a migration).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from bench.pgcopy import copy_rows, reset_identity
from bench.vocabulary import (
    CATEGORIES,
    CONTEXTS,
    COUNTRIES,
    FILLER,
    OPENINGS,
    SUBDIVISIONS,
    UNITS,
)
from intents.models import Criterion, Intent, IntentTerm, Notice, Term
from intents.pseudonyms import ADJECTIVES, ANIMALS
from intents.services import DEFAULT_CRITERIA, criteria_validate
from marketplace.codes import WORLDWIDE
from marketplace.models import Category, User, Vendor
from marketplace.search import TEXT_SEARCH_CONFIG
from marketplace.services import region_coverage, vendor_match_keys
from offers.models import Offer

SEED = 8  # issue 8
BENCH_VENDOR_SLUG = "bench-vendor"
# The vendor whose offers the POST bar makes: an inbox of its own, twice the bench
# vendor's, so a fast machine does not run out of intents to offer on (the bench
# vendor's list, which the GET bar reads, stays as it was).
BENCH_OFFER_VENDOR_SLUG = "bench-offers"
HEAVY_BUYER = "bench-heavy-buyer"
LIGHT_BUYER = "bench-light-buyer"
BIG_INTENT_OFFERS = 50
WIPED_APPS = ("marketplace", "intents", "offers")
KEPT_MODELS = (Term,)  # the buyer's terms roster
CUSTOM_CRITERION = {"name": "Insured", "kind": "yes_no", "weight": 10, "is_required": True}
CUSTOM_CRITERION_SHARE = 0.2
TERMS_SHARE = 0.25
TERM_DAYS = 30  # "delete my data N days after the award"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Volumes:
    vendors: int
    intents: int
    heavy_buyer_intents: int
    bench_vendor_notices: int
    offer_vendor_notices: int

    @classmethod
    def of(cls, *, vendors: int, intents: int) -> Volumes:
        return cls(
            vendors=vendors,
            intents=intents,
            heavy_buyer_intents=max(10, min(200, intents // 500)),
            bench_vendor_notices=max(1_000, min(10_000, intents // 10)),
            offer_vendor_notices=max(2_000, min(20_000, intents // 5)),
        )


@dataclass
class IntentRow:
    id: uuid.UUID
    category_id: int
    currency: str
    budget_max: Decimal | None
    created_at: datetime
    is_open: bool
    closes_at: datetime


def wipe() -> None:
    """Empty every table of the marketplace apps (and sessions): the bench owns this database."""
    tables = [
        model._meta.db_table
        for label in WIPED_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if model not in KEPT_MODELS
    ]
    quoted = ", ".join(connection.ops.quote_name(table) for table in [*tables, "django_session"])
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass(frozen=True)
class Tree:
    ids: dict[str, int]
    keywords: dict[int, list[str]]  # a category's words and those of everything below it
    subtree: dict[int, set[int]]  # a category and everything below it

    @property
    def roots(self) -> list[int]:
        return [self.ids[slug] for slug, (_, parent, _) in CATEGORIES.items() if parent is None]

    @property
    def non_roots(self) -> list[int]:
        return [self.ids[slug] for slug, (_, parent, _) in CATEGORIES.items() if parent]

    def name(self, category_id: int) -> str:
        return next(
            CATEGORIES[slug][0] for slug, number in self.ids.items() if number == category_id
        )


def _load_categories() -> Tree:
    ids = {slug: number for number, slug in enumerate(CATEGORIES, start=1)}
    rows = [
        (ids[slug], slug, name, ids[parent] if parent else None)
        for slug, (name, parent, _) in CATEGORIES.items()
    ]
    copy_rows(Category, ["id", "slug", "name", "parent_id"], rows)
    reset_identity(Category)
    subtree: dict[int, set[int]] = {ids[slug]: {ids[slug]} for slug in CATEGORIES}
    for slug, (_, parent, _) in CATEGORIES.items():
        while parent:
            subtree[ids[parent]].add(ids[slug])
            parent = CATEGORIES[parent][1]
    own = {ids[slug]: words for slug, (_, _, words) in CATEGORIES.items()}
    keywords = {
        category: sorted({word for below in below_set for word in own[below]})
        for category, below_set in subtree.items()
    }
    return Tree(ids=ids, keywords=keywords, subtree=subtree)


def _lexemes_of_keywords() -> dict[str, list[str]]:
    """Each keyword's English lexemes, from PostgreSQL itself (one query for the vocabulary)."""
    words = sorted({word for _, _, keywords in CATEGORIES.values() for word in keywords})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word, tsvector_to_array(to_tsvector(%s::regconfig, word))"
            " FROM unnest(%s::text[]) AS word",
            [TEXT_SEARCH_CONFIG, words],
        )
        return dict(cursor.fetchall())


def _regions(rng: random.Random, countries: list[str], weights: list[int]) -> list[str]:
    if rng.random() < 0.05:
        return [WORLDWIDE]
    regions = set()
    for country in rng.choices(countries, weights, k=rng.randint(1, 3)):
        if country in SUBDIVISIONS and rng.random() < 0.2:
            regions.add(rng.choice(SUBDIVISIONS[country]))
        else:
            regions.add(country)
    if rng.random() < 0.03:
        regions.add(WORLDWIDE)
    return sorted(regions)


def _deal_size(rng: random.Random, regions: list[str]) -> tuple[Any, Any, str]:
    if rng.random() < 0.4:
        return None, None, ""
    country = regions[0].split("-")[0]
    currency = COUNTRIES[country][1] if country in COUNTRIES else rng.choice(["EUR", "USD"])
    low = Decimal(rng.choice([0, 100, 250, 500, 1000, 5000]))
    high = None if rng.random() < 0.2 else low * rng.choice([10, 20, 100]) + 1000
    if rng.random() < 0.1:
        low = None
    return low, high, currency


def _load_vendors(
    rng: random.Random,
    count: int,
    tree: Tree,
) -> tuple[uuid.UUID, dict[int, list[uuid.UUID]]]:
    """Vendors and their categories; returns the bench vendor and who serves each category."""
    names = {category: tree.name(category) for category in tree.subtree}
    lexemes_of = _lexemes_of_keywords()
    countries, weights = list(COUNTRIES), [weight for weight, _ in COUNTRIES.values()]
    now = timezone.now()
    vendor_rows, category_rows = [], []
    serving: dict[int, list[uuid.UUID]] = {category: [] for category in tree.subtree}
    bench_vendor, offer_vendor = _uuid(rng), _uuid(rng)
    for number in range(count):
        vendor_id = {0: bench_vendor, 1: offer_vendor}.get(number) or _uuid(rng)
        root = rng.choice(tree.roots)
        if rng.random() < 0.15:
            served = {root}
        else:
            served = set(rng.sample(sorted(tree.subtree[root] - {root}), k=rng.randint(1, 3)))
        vocabulary = sorted({word for category in served for word in tree.keywords[category]})
        keywords = sorted(rng.sample(vocabulary, k=min(len(vocabulary), rng.randint(2, 6))))
        if rng.random() < 0.4:
            keywords = []
        regions = _regions(rng, countries, weights)
        low, high, currency = _deal_size(rng, regions)
        rated = rng.random() < 0.7
        slug = {0: BENCH_VENDOR_SLUG, 1: BENCH_OFFER_VENDOR_SLUG}.get(
            number, f"bench-vendor-{number}"
        )
        ours = number < 2  # the bench's own two vendors
        vendor_rows.append(
            (
                vendor_id,
                f"{names[min(served)]} Co {number}",
                slug,
                f"sales@{slug}.example.test",
                rng.random() < 0.3,
                not ours and rng.random() < 0.005,
                not ours and rng.random() < 0.03,
                json.dumps(regions),
                json.dumps(keywords),
                json.dumps(region_coverage(regions)),
                json.dumps(sorted({lex for word in keywords for lex in lexemes_of[word]})),
                json.dumps(vendor_match_keys(served, region_coverage(regions))),
                low,
                high,
                currency,
                rng.choice([20, 50, 100, 100, 100, 250, 1000]),
                rng.randint(1, 200) if rated else 0,
                Decimal(f"{rng.uniform(2.5, 5):.2f}") if rated else None,
                now - timedelta(days=rng.uniform(0, 60)) if rng.random() < 0.9 else None,
            )
        )
        for category in served:
            category_rows.append((vendor_id, category))
            if not ours:  # the bench's vendors are noticed only where the bench says
                for below in tree.subtree[category]:
                    serving[below].append(vendor_id)
    copy_rows(
        Vendor,
        [
            "id", "name", "slug", "contact_email", "is_verified", "is_suspended", "is_paused",
            "regions", "keywords", "coverage", "keyword_lexemes", "match_keys", "deal_size_min",
            "deal_size_max", "deal_size_currency", "daily_capacity", "rating_count",
            "rating_mean", "last_seen_at",
        ],
        vendor_rows,
    )  # fmt: skip
    copy_rows(Vendor.categories.through, ["vendor_id", "category_id"], category_rows)
    # A vendor serving a category and one below it is listed once.
    return (bench_vendor, offer_vendor), {
        category: list(dict.fromkeys(ids)) for category, ids in serving.items()
    }


def _load_buyers(count: int) -> None:
    names = [HEAVY_BUYER, LIGHT_BUYER] + [f"bench-buyer-{n}" for n in range(3, count + 1)]
    copy_rows(
        User,
        ["id", "username", "email", "password"],
        (
            (number, name, f"{name}@example.test", "!bench")
            for number, name in enumerate(names, start=1)
        ),
    )
    reset_identity(User)


def _intent_text(rng: random.Random, words: list[str]) -> tuple[str, str]:
    first, *more = rng.sample(words, k=min(len(words), 3))
    title = f"{rng.choice(OPENINGS)} {first} {rng.choice(CONTEXTS)}"
    also = f"{more[0].capitalize()} and {more[-1]} as well. " if more else ""
    return title, also + " ".join(rng.sample(FILLER, k=2))


def _load_intents(rng: random.Random, volumes: Volumes, buyers: int, tree: Tree) -> list[IntentRow]:
    categories = tree.non_roots
    countries, weights = list(COUNTRIES), [weight for weight, _ in COUNTRIES.values()]
    now = timezone.now()
    kept: list[IntentRow] = []
    rows = []
    for number in range(volumes.intents):
        if number < volumes.heavy_buyer_intents:
            buyer = 1
        elif number == volumes.heavy_buyer_intents:
            buyer = 2
        else:
            buyer = rng.randint(3, buyers)
        category = rng.choice(categories)
        title, description = _intent_text(rng, tree.keywords[category])
        remote = rng.random() < 0.13
        country = "" if remote and rng.random() < 0.6 else rng.choices(countries, weights)[0]
        currency = COUNTRIES[country][1] if country else rng.choice(["EUR", "USD", "GBP"])
        budget_max = None
        budget_min = None
        if rng.random() < 0.8:
            budget_max = Decimal(round(rng.choice([200, 500, 1000, 3000, 10000, 50000]) * 1.1))
            budget_min = (budget_max / 2).quantize(Decimal("1")) if rng.random() < 0.5 else None
        created_at = now - timedelta(days=rng.uniform(0, 30))
        roll = rng.random()
        status = "open" if roll < 0.88 else "closed" if roll < 0.96 else "withdrawn"
        closes_at = now + timedelta(days=rng.uniform(1, 30))
        if status == "closed":
            closes_at = now - timedelta(days=rng.uniform(0.1, 10))
        intent_id = _uuid(rng)
        rows.append(
            (
                intent_id,
                buyer,
                f"{rng.choice(ADJECTIVES)} {rng.choice(ANIMALS)} {rng.randint(100, 999)}",
                title,
                description,
                category,
                Decimal(rng.choice([1, 1, 1, 2, 5, 10, 40])),
                rng.choice(UNITS),
                budget_min,
                budget_max,
                currency,
                rng.random() < 0.1,
                country,
                str(rng.randint(10000, 99999)) if country and rng.random() < 0.3 else "",
                remote,
                (now + timedelta(days=rng.uniform(5, 90))).date() if rng.random() < 0.5 else None,
                closes_at,
                status,
                created_at,
                created_at,
                created_at,
                closes_at if status == "closed" else None,
                created_at + timedelta(hours=1) if status == "withdrawn" else None,
            )
        )
        kept.append(
            IntentRow(
                intent_id, category, currency, budget_max, created_at, status == "open", closes_at
            )
        )
    criteria, chosen, details = _criteria_and_terms(rng, [row[0] for row in rows])
    copy_rows(
        Intent,
        [
            "id", "buyer_id", "pseudonym", "title", "description", "category_id", "quantity",
            "unit", "budget_min", "budget_max", "currency", "is_budget_hidden", "country",
            "postal_area", "is_remote", "needed_by", "offers_close_at", "status", "created_at",
            "updated_at", "published_at", "closed_at", "withdrawn_at", "criteria_for_vendors",
            "terms_for_vendors",
        ],
        [(*row, *details[row[0]]) for row in rows],
    )  # fmt: skip
    copy_rows(
        Criterion,
        ["intent_id", "key", "name", "kind", "weight", "is_required", "position"],
        criteria,
    )
    copy_rows(IntentTerm, ["intent_id", "term_id", "days"], chosen)
    return kept


def _criteria_and_terms(
    rng: random.Random, intent_ids: list[uuid.UUID]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[uuid.UUID, tuple[str, str]]]:
    """The default criteria on every intent; a required question on some, terms on others.

    Returns the Criterion rows, the IntentTerm rows, and per intent its
    ``criteria_for_vendors`` and ``terms_for_vendors`` as JSON text, made by the
    models' own methods (one shape per kind of row, not one per row).
    """
    terms = list(Term.objects.filter(is_current=True).order_by("code"))
    # Keyed and ordered by the service that cleans a buyer's criteria, as on the site.
    cleaned, problems = criteria_validate([*DEFAULT_CRITERIA, CUSTOM_CRITERION])
    if problems:  # the constants above are wrong
        raise ValueError(problems)
    *defaults, custom = [Criterion(**criterion) for criterion in cleaned]
    days = {term.pk: TERM_DAYS if term.takes_days else None for term in terms}
    term_data = {term.pk: IntentTerm(term=term, days=days[term.pk]).as_data() for term in terms}
    criteria, chosen, details = [], [], {}
    for intent_id in intent_ids:
        asked = [*defaults, custom] if rng.random() < CUSTOM_CRITERION_SHARE else defaults
        picked = sorted(rng.sample(terms, k=rng.randint(1, 2)), key=lambda term: term.code) if (
            terms and rng.random() < TERMS_SHARE
        ) else []  # fmt: skip
        for c in asked:
            criteria.append((intent_id, c.key, c.name, c.kind, c.weight, c.is_required, c.position))
        for term in picked:
            chosen.append((intent_id, term.pk, days[term.pk]))
        details[intent_id] = (
            json.dumps([c.for_vendors() for c in asked]),
            json.dumps([term_data[term.pk] for term in picked]),
        )
    return criteria, chosen, details


def _load_notices_and_offers(
    rng: random.Random,
    volumes: Volumes,
    intents: list[IntentRow],
    serving: dict[int, list[uuid.UUID]],
    bench_vendors: tuple[uuid.UUID, uuid.UUID],
) -> tuple[int, int]:
    """A few notices per intent, offers from noticed vendors on a fraction; the inboxes of
    the bench vendor and of the offers' vendor."""
    today = timezone.localdate()
    notices, offers = [], []
    reasons = json.dumps(["category", "region"])
    for number, intent in enumerate(intents):
        big = number == 0
        pool = serving[intent.category_id]
        noticed = rng.sample(
            pool, k=min(len(pool), BIG_INTENT_OFFERS if big else rng.randint(3, 6))
        )
        for rank, vendor_id in enumerate(noticed):
            at = intent.created_at + timedelta(minutes=rng.uniform(1, 30))
            notices.append(
                (_uuid(rng), intent.id, vendor_id, reasons, 1 - rank / 10, "delivered", 1, at,
                 intent.is_open, intent.closes_at)
            )  # fmt: skip
        light = number == volumes.heavy_buyer_intents  # the light buyer's only intent
        if big or light or number < volumes.heavy_buyer_intents or rng.random() < 0.3:
            offering = noticed[: 1 if light else rng.randint(1, min(4, len(noticed)))]
            if big:
                offering = noticed
            for vendor_id in offering:
                base = intent.budget_max or Decimal(500)
                at = intent.created_at + timedelta(hours=rng.uniform(1, 48))
                withdrawn = rng.random() < 0.1
                offers.append(
                    (
                        _uuid(rng), intent.id, vendor_id,
                        (base * Decimal(rng.uniform(0.5, 1.0))).quantize(Decimal("0.01")),
                        intent.currency, today + timedelta(days=rng.randint(7, 60)),
                        today + timedelta(days=rng.randint(20, 60)),
                        "We can do this; details in the line items.",
                        "withdrawn" if withdrawn else "submitted", at, at,
                        at + timedelta(hours=2) if withdrawn else None,
                    )
                )  # fmt: skip
    # The inboxes of the bench's two vendors: open intents of ordinary buyers, none
    # answered yet.
    ordinary = [intent for intent in intents[volumes.heavy_buyer_intents + 1 :] if intent.is_open]
    counts = (volumes.bench_vendor_notices, volumes.offer_vendor_notices)
    inboxes = zip(bench_vendors, counts, strict=True)
    for vendor_id, count in inboxes:
        for intent in rng.sample(ordinary, k=min(len(ordinary), count)):
            notices.append(
                (_uuid(rng), intent.id, vendor_id, reasons, 0.5, "delivered", 1,
                 intent.created_at, True, intent.closes_at)
            )  # fmt: skip
    copy_rows(
        Notice,
        [
            "id", "intent_id", "vendor_id", "reasons", "score", "state", "attempts", "created_at",
            "listed", "closes_at",
        ],
        notices,
    )  # fmt: skip
    copy_rows(
        Offer,
        [
            "id", "intent_id", "vendor_id", "price", "currency", "delivery_date", "valid_until",
            "message", "status", "created_at", "updated_at", "decided_at",
        ],
        offers,
    )  # fmt: skip
    return len(notices), len(offers)


def load(volumes: Volumes, say: Say) -> float:
    """Wipe, load, VACUUM ANALYZE and CHECKPOINT; returns the seconds it took."""
    rng = random.Random(SEED)
    started = time.perf_counter()

    def step(label: str, count: int | str) -> None:
        shown = f"{count:>10,}" if isinstance(count, int) else f"{count:>10}"
        say(f"  {label:<28}{shown}   {time.perf_counter() - started:6.1f} s")

    buyers = max(3, volumes.intents // 5)
    with transaction.atomic():
        wipe()
        tree = _load_categories()
        step("categories", len(tree.ids))
        bench_vendors, serving = _load_vendors(rng, volumes.vendors, tree)
        step("vendors (with categories)", volumes.vendors)
        _load_buyers(buyers)
        step("buyers", buyers)
        intents = _load_intents(rng, volumes, buyers, tree)
        step("intents", len(intents))
        notices, offers = _load_notices_and_offers(rng, volumes, intents, serving, bench_vendors)
        step("notices", notices)
        step("offers", offers)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        step("VACUUM ANALYZE", "done")
        # Flush the load's dirty pages now, not while the commits of the HTTP
        # bars wait behind a checkpoint's writes. Needs superuser or pg_checkpoint.
        try:
            cursor.execute("CHECKPOINT")
            step("CHECKPOINT", "done")
        except DatabaseError as error:
            step("CHECKPOINT", f"skipped: {error}".strip()[:60])
    return time.perf_counter() - started
