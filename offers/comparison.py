"""The buyer's comparison of offers: a weighted score, sorting, manual rank, shortlist, chart.

The score is plain arithmetic on already loaded rows, so the intent page's
query count does not grow with the number of offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from intents.models import Criterion, Intent
from marketplace.codes import amount_text
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError, with_article
from marketplace.models import User
from offers.models import Offer

SCORE_EXPLANATION = (
    "Score = the weighted average of every scored criterion, each scaled from 0 (the worst "
    "offer here) to 1 (the best) — lower price, sooner delivery, higher number and “yes” are "
    "better, a missing answer counts 0 — but the vendor's rating, which counts as its stars "
    "out of 5 (an unrated vendor 0); shown out of 100."
)

Kind = Criterion.Kind


@dataclass
class Row:
    offer: Offer
    values: dict[str, Any] = field(default_factory=dict)  # criterion key -> raw value
    scaled: dict[str, float] = field(default_factory=dict)  # criterion key -> 0..1
    score: float | None = None


def _raw_value(offer: Offer, criterion: Criterion) -> Any:
    if criterion.kind == Kind.PRICE:
        return offer.price
    if criterion.kind == Kind.DELIVERY:
        return offer.delivery_date
    if criterion.kind == Kind.RATING:
        return offer.vendor.rating_mean
    answer = offer.criteria_answers.get(criterion.key)
    # An answer given before the buyer changed the criterion's kind answers nothing now.
    return answer if Criterion.answer_problem(criterion.kind, answer) is None else None


def _scale(values: list[Any], *, lower_is_better: bool) -> list[float]:
    """Min–max scaling to 0..1 (1 = best); None scores 0; all equal scores 1."""
    present = [value for value in values if value is not None]
    if not present:
        return [0.0 for _ in values]
    low, high = min(present), max(present)
    scaled = []
    for value in values:
        if value is None:
            scaled.append(0.0)
        elif high == low:
            scaled.append(1.0)
        elif lower_is_better:
            scaled.append(float((high - value) / (high - low)))
        else:
            scaled.append(float((value - low) / (high - low)))
    return scaled


def _scaled_column(rows: list[Row], criterion: Criterion) -> list[float] | None:
    values = [row.values[criterion.key] for row in rows]
    if criterion.kind == Kind.PRICE:
        return _scale(values, lower_is_better=True)
    if criterion.kind == Kind.DELIVERY:
        days = [None if value is None else (value - date(2000, 1, 1)).days for value in values]
        return _scale(days, lower_is_better=True)
    if criterion.kind == Kind.RATING:
        return [0.0 if value is None else float(value) / 5 for value in values]
    if criterion.kind == Kind.YES_NO:
        return [1.0 if value is True else 0.0 for value in values]
    if criterion.kind == Kind.NUMBER:
        return _scale(
            [None if value is None else Decimal(str(value)) for value in values],
            lower_is_better=False,
        )
    return None  # text is shown, not scored


def score_offers(offers: list[Offer], criteria: list[Criterion]) -> list[Row]:
    """One row per offer with its per-criterion values and weighted score (0–100).

    Only live offers (submitted or accepted) are scored, and scaled against each
    other alone: one withdrawn, declined or lapsed can no longer be chosen, so it
    must not move the others' scores. It keeps its values and no score.
    """
    rows = [Row(offer=offer) for offer in offers]
    for row in rows:
        row.values = {criterion.key: _raw_value(row.offer, criterion) for criterion in criteria}
    live = [row for row in rows if row.offer.is_live]
    scored = []
    for criterion in criteria:
        column = _scaled_column(live, criterion)
        if column is None or criterion.weight == 0:
            continue
        scored.append(criterion)
        for row, value in zip(live, column, strict=True):
            row.scaled[criterion.key] = value
    total_weight = sum(criterion.weight for criterion in scored)
    if total_weight:
        for row in live:
            weighted = sum(criterion.weight * row.scaled[criterion.key] for criterion in scored)
            row.score = round(100 * weighted / total_weight, 1)
    return rows


# The comparison table's own columns. A criterion sorts under its key, unless the key is
# one of these (a custom criterion named "Status"): then under "criterion-<key>", which
# no key can be (keys hold no "-").
COLUMN_SORTS = ("score", "rank", "vendor", "status")
CRITERION_SORT_PREFIX = "criterion-"


def criterion_sort(key: str) -> str:
    """The sort that orders the table by the criterion ``key``."""
    return CRITERION_SORT_PREFIX + key if key in COLUMN_SORTS else key


def sort_rows(rows: list[Row], sort: str) -> list[Row]:
    """Sort by one of ``COLUMN_SORTS`` or a ``criterion_sort``; ``-`` reverses."""
    descending = sort.startswith("-")
    key = sort.lstrip("-") or "score"

    def sort_key(row: Row) -> tuple[int, Any]:
        if key == "score":
            value: Any = row.score
        elif key == "rank":  # the ranking is of the live offers: a decided one has none now
            value = row.offer.buyer_rank if row.offer.is_live else None
        elif key == "vendor":
            value = row.offer.vendor.name.lower()
        elif key == "status":
            value = row.offer.status
        else:
            value = row.values.get(key.removeprefix(CRITERION_SORT_PREFIX))
        if isinstance(value, bool):
            value = int(value)
        if value is not None and not isinstance(value, int | float | Decimal | str | date):
            value = str(value)
        # Missing values always last, whichever the direction.
        return (0, value) if value is not None else (1, 0)

    present = [row for row in rows if sort_key(row)[0] == 0]
    missing = [row for row in rows if sort_key(row)[0] == 1]
    present.sort(key=lambda row: sort_key(row)[1], reverse=descending)
    return present + missing


def _ranked(intent: Intent) -> list[Offer]:
    offers = list(
        Offer.objects.select_for_update()
        .filter(intent=intent, status__in=Offer.LIVE_STATUSES)
        .order_by("created_at")
    )
    offers.sort(key=lambda offer: (offer.buyer_rank is None, offer.buyer_rank or 0))
    return offers


def offer_move(*, buyer: User, offer: Offer, direction: str) -> None:
    """Move an offer one place up or down in the buyer's own ranking (persisted)."""
    if offer.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can rank offers on their intent.", kind=FORBIDDEN)
    if direction not in ("up", "down"):
        raise DomainError("Move up or down.", kind=INVALID)
    with transaction.atomic():
        offers = _ranked(offer.intent)
        index = next((i for i, o in enumerate(offers) if o.pk == offer.pk), None)
        if index is None:
            raise DomainError(
                f"{with_article(offer.status)} offer cannot be ranked.", kind=CONFLICT
            )
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(offers):
            offers[index], offers[other] = offers[other], offers[index]
        for position, ranked in enumerate(offers, start=1):
            ranked.buyer_rank = position
        Offer.objects.bulk_update(offers, ["buyer_rank"])


def offer_set_shortlisted(*, buyer: User, offer: Offer, is_shortlisted: bool) -> None:
    if offer.intent.buyer_id != buyer.pk:
        raise DomainError("Only the buyer can shortlist offers on their intent.", kind=FORBIDDEN)
    Offer.objects.filter(pk=offer.pk).update(is_shortlisted=is_shortlisted)


@dataclass
class ChartPoint:
    x: float
    y: float
    label: str
    price: str
    delivery: str
    marker: str  # a letter, so the chart reads without colour


@dataclass
class Chart:
    width: int
    height: int
    points: list[ChartPoint]
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]
    left: int
    bottom: int
    top: int
    right: int
    without_date: list[str]


def price_delivery_chart(rows: list[Row], *, width: int = 360, height: int = 240) -> Chart | None:
    """Price (y) against delivery date (x), one labelled point per live offer with a date
    (a withdrawn, declined or lapsed one is not a choice left: it would stretch the axes)."""
    live = [row.offer for row in rows if row.offer.is_live]
    dated = [offer for offer in live if offer.delivery_date is not None]
    without_date = [offer.vendor.name for offer in live if offer.delivery_date is None]
    if not dated:
        return None
    left, right, top, bottom = 56, width - 56, 30, height - 36
    first = min(offer.delivery_date for offer in dated)
    last = max(offer.delivery_date for offer in dated)
    low = min(offer.price for offer in dated)
    high = max(offer.price for offer in dated)
    span_days = max((last - first).days, 1)
    span_price = high - low or Decimal(1)

    def x_of(day: date) -> float:
        return round(left + (right - left) * (day - first).days / span_days, 1)

    def y_of(price: Decimal) -> float:
        return round(bottom - float((price - low) / span_price) * (bottom - top), 1)

    points = [
        ChartPoint(
            x=x_of(offer.delivery_date) if last != first else (left + right) / 2,
            y=y_of(offer.price) if high != low else (top + bottom) / 2,
            label=offer.vendor.name,
            price=f"{amount_text(offer.price, offer.currency)} {offer.currency}",
            delivery=offer.delivery_date.isoformat(),
            marker=chr(ord("A") + index % 26),
        )
        for index, offer in enumerate(dated)
    ]
    return Chart(
        width=width,
        height=height,
        points=points,
        x_labels=[(left, first.strftime("%d %b")), (right, last.strftime("%d %b"))],
        y_labels=[(bottom, f"{low:,.0f}"), (top, f"{high:,.0f}")],
        left=left,
        bottom=bottom,
        top=top,
        right=right,
        without_date=without_date,
    )


REVISION_LABELS = {
    "price": "price",
    "delivery_date": "delivery",
    "valid_until": "valid until",
    "message": "message",
    "line_items": "line items",
    "criteria_answers": "answers",
}


def revision_summary(offer: Offer) -> str:
    """“revised 2× — price 1,200.00 → 1,100.00”, from the prefetched revisions."""
    revisions = list(offer.revisions.all())
    if not revisions:
        return ""
    first_old: dict[str, Any] = {}
    for revision in revisions:
        for changed_field, (old, _new) in revision.changes.items():
            first_old.setdefault(changed_field, old)
    parts = []
    for changed_field, old in first_old.items():
        label = REVISION_LABELS.get(changed_field, changed_field)
        if changed_field == "price":
            was, now = (amount_text(price, offer.currency) for price in (Decimal(old), offer.price))
            parts.append(f"{label} {was} → {now}")
        elif changed_field in ("delivery_date", "valid_until"):
            current = getattr(offer, changed_field)
            parts.append(f"{label} {old or '—'} → {current.isoformat() if current else '—'}")
        else:
            parts.append(f"{label} changed")
    if any(revision.moderator_id for revision in revisions):
        parts.append("corrected by a moderator")
    return f"revised {len(revisions)}× — " + ", ".join(parts)


def display_value(criterion: Criterion, value: Any) -> str:
    if value is None:
        return "—"
    if criterion.kind == Kind.DELIVERY:
        return value.isoformat()
    if criterion.kind == Kind.RATING:
        return f"{value:.1f} ★"
    if criterion.kind == Kind.YES_NO:
        return "yes" if value is True else "no"
    return str(value)


def display_cells(row: Row, criteria: list[Criterion]) -> list[tuple[str, str]]:
    """(criterion name, shown value) for each column of a row."""
    cells = []
    for criterion in criteria:
        value = row.values[criterion.key]
        if criterion.kind == Kind.PRICE and value is not None:
            shown = f"{amount_text(value, row.offer.currency)} {row.offer.currency}"
        else:
            shown = display_value(criterion, value)
        cells.append((criterion.name, shown))
    return cells
