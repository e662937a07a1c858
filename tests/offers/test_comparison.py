"""The comparison table: the scoring formula on known numbers, sorting, rank, shortlist, chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from intents.models import Criterion, Intent
from marketplace.errors import DomainError
from offers.comparison import (
    offer_move,
    offer_set_shortlisted,
    price_delivery_chart,
    revision_summary,
    score_offers,
    sort_rows,
)
from offers.models import Offer, OfferRevision
from tests.factories import IntentFactory, OfferFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db


def criterion(intent: Intent, key: str, kind: str, weight: int) -> Criterion:
    return Criterion.objects.create(
        intent=intent, key=key, name=key.title(), kind=kind, weight=weight
    )


def test_weighted_score_on_known_numbers() -> None:
    intent = IntentFactory()
    criteria = [
        criterion(intent, "price", Criterion.Kind.PRICE, 50),
        criterion(intent, "delivery", Criterion.Kind.DELIVERY, 25),
        criterion(intent, "rating", Criterion.Kind.RATING, 25),
        criterion(intent, "warranty", Criterion.Kind.YES_NO, 0),  # weight 0: ignored
        criterion(intent, "notes", Criterion.Kind.TEXT, 10),  # text: not scored
    ]
    rated = VendorFactory(rating_mean=Decimal("4.00"), rating_count=2)
    cheap = OfferFactory(
        intent=intent, vendor=rated, price=Decimal("100"), delivery_date=date(2030, 1, 11)
    )
    dear = OfferFactory(intent=intent, price=Decimal("300"), delivery_date=date(2030, 1, 1))
    middle = OfferFactory(intent=intent, price=Decimal("200"), delivery_date=None)

    scores = {row.offer.pk: row.score for row in score_offers([cheap, dear, middle], criteria)}

    # cheap:  price 1.0, delivery 0.0 (latest), rating 4/5 = 0.8 -> (50 + 0 + 20) / 100
    # dear:   price 0.0, delivery 1.0 (soonest), unrated 0    -> (0 + 25 + 0) / 100
    # middle: price 0.5, no date 0, unrated 0                  -> 25 / 100
    assert scores == {cheap.pk: 70.0, dear.pk: 25.0, middle.pk: 25.0}


def test_number_and_yes_no_criteria_and_ties() -> None:
    intent = IntentFactory()
    criteria = [
        criterion(intent, "years", Criterion.Kind.NUMBER, 1),
        criterion(intent, "insured", Criterion.Kind.YES_NO, 1),
    ]
    a = OfferFactory(intent=intent, criteria_answers={"years": 5, "insured": True})
    b = OfferFactory(intent=intent, criteria_answers={"years": 1, "insured": False})
    c = OfferFactory(intent=intent, criteria_answers={})

    scores = {row.offer.pk: row.score for row in score_offers([a, b, c], criteria)}

    assert scores == {a.pk: 100.0, b.pk: 0.0, c.pk: 0.0}
    # All equal: everyone is best.
    same = [OfferFactory(intent=IntentFactory(), price=Decimal("10")) for _ in range(2)]
    price = criterion(same[0].intent, "price", Criterion.Kind.PRICE, 1)
    assert [row.score for row in score_offers(same, [price])] == [100.0, 100.0]


def test_sorting_by_any_column_missing_values_last() -> None:
    intent = IntentFactory()
    criteria = [
        criterion(intent, "price", Criterion.Kind.PRICE, 1),
        criterion(intent, "delivery", Criterion.Kind.DELIVERY, 1),
    ]
    a = OfferFactory(intent=intent, price=Decimal("30"), delivery_date=date(2030, 1, 3))
    b = OfferFactory(intent=intent, price=Decimal("10"), delivery_date=None)
    c = OfferFactory(intent=intent, price=Decimal("20"), delivery_date=date(2030, 1, 1))
    rows = score_offers([a, b, c], criteria)

    def order(sort: str) -> list[Offer]:
        return [row.offer for row in sort_rows(rows, sort)]

    assert order("price") == [b, c, a]
    assert order("-price") == [a, c, b]
    assert order("delivery") == [c, a, b]
    assert order("-delivery") == [a, c, b]
    assert order("-score") == [c, b, a]


def test_manual_rank_moves_and_persists() -> None:
    intent = IntentFactory()
    first, second, third = (OfferFactory(intent=intent) for _ in range(3))

    offer_move(buyer=intent.buyer, offer=third, direction="up")
    offer_move(buyer=intent.buyer, offer=third, direction="up")
    offer_move(buyer=intent.buyer, offer=first, direction="down")

    ranks = dict(Offer.objects.filter(intent=intent).values_list("pk", "buyer_rank"))
    assert ranks == {third.pk: 1, second.pk: 2, first.pk: 3}


def test_only_the_buyer_ranks_or_shortlists() -> None:
    offer = OfferFactory()
    stranger = UserFactory()
    with pytest.raises(DomainError):
        offer_move(buyer=stranger, offer=offer, direction="up")
    with pytest.raises(DomainError):
        offer_set_shortlisted(buyer=stranger, offer=offer, is_shortlisted=True)
    offer.refresh_from_db()
    assert (offer.buyer_rank, offer.is_shortlisted) == (None, False)

    offer_set_shortlisted(buyer=offer.intent.buyer, offer=offer, is_shortlisted=True)
    assert Offer.objects.get(pk=offer.pk).is_shortlisted is True


def test_revision_summary() -> None:
    offer = OfferFactory(price=Decimal("1100.00"))
    OfferRevision.objects.create(offer=offer, changes={"price": ["1200.00", "1150.00"]})
    OfferRevision.objects.create(
        offer=offer, changes={"price": ["1150.00", "1100.00"], "message": ["a", "b"]}
    )
    assert revision_summary(offer) == "revised 2× — price 1,200.00 → 1,100.00, message changed"


def test_chart_points_are_labelled_and_placed() -> None:
    intent = IntentFactory()
    price = criterion(intent, "price", Criterion.Kind.PRICE, 1)
    cheap_late = OfferFactory(
        intent=intent,
        vendor=VendorFactory(name="Slowpoke"),
        price=Decimal("100"),
        delivery_date=date(2030, 1, 10),
    )
    dear_soon = OfferFactory(
        intent=intent,
        vendor=VendorFactory(name="Rocket"),
        price=Decimal("500"),
        delivery_date=date(2030, 1, 1),
    )
    undated = OfferFactory(intent=intent, vendor=VendorFactory(name="Someday"))
    declined = OfferFactory(
        intent=intent,
        vendor=VendorFactory(name="Turned down"),
        price=Decimal("9000"),
        delivery_date=date(2031, 1, 1),
        status=Offer.Status.DECLINED,
    )

    chart = price_delivery_chart(score_offers([cheap_late, dear_soon, undated, declined], [price]))

    by_label = {point.label: point for point in chart.points}
    assert set(by_label) == {"Slowpoke", "Rocket"}
    assert by_label["Rocket"].x < by_label["Slowpoke"].x  # sooner is left
    assert by_label["Rocket"].y < by_label["Slowpoke"].y  # dearer is higher (smaller y)
    assert chart.without_date == ["Someday"]
    assert {point.marker for point in chart.points} == {"A", "B"}


def test_answers_that_no_longer_fit_their_criterion_count_as_missing() -> None:
    """The buyer changed "warranty" from yes/no to a number after offers answered it."""
    intent = IntentFactory()
    criteria = [criterion(intent, "warranty", Criterion.Kind.NUMBER, 1)]
    old_yes = OfferFactory(intent=intent, criteria_answers={"warranty": True})
    number = OfferFactory(intent=intent, criteria_answers={"warranty": 3})
    text = OfferFactory(intent=intent, criteria_answers={"warranty": "long"})

    rows = score_offers([old_yes, number, text], criteria)

    assert [row.values["warranty"] for row in rows] == [None, 3, None]
    assert [row.score for row in rows] == [0.0, 100.0, 0.0]
    for sort in ("warranty", "-warranty"):
        assert sort_rows(rows, sort)[0].offer == number
