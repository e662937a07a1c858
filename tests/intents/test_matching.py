"""Each matching rule, with a case that matches and one that does not (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from intents.matching import match_candidates
from intents.models import Intent, Notice
from intents.notices import CATCH_UP_LIMIT, intent_match, vendor_catch_up
from intents.selectors import intent_ids_mentioning_any
from intents.services import intent_update
from intents.tasks import match_vendor
from marketplace.events import events_dispatch
from marketplace.models import Category, Event, Vendor
from marketplace.services import vendor_block, vendor_create, vendor_update
from tests.conftest import require_postgresql
from tests.factories import CategoryFactory, IntentFactory, NoticeFactory, VendorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> dict[str, Category]:
    home = CategoryFactory(slug="home", name="Home")
    plumbing = CategoryFactory(slug="plumbing", name="Plumbing", parent=home)
    taps = CategoryFactory(slug="taps", name="Taps", parent=plumbing)
    catering = CategoryFactory(slug="catering", name="Catering")
    return {"home": home, "plumbing": plumbing, "taps": taps, "catering": catering}


def make_vendor(categories: list[Category], **profile: Any) -> Vendor:
    vendor = VendorFactory(categories=categories)
    return vendor_update(vendor=vendor, **profile) if profile else vendor


def matched(intent: Intent) -> set[Any]:
    return {candidate.vendor_id for candidate in match_candidates(intent, limit=100)}


def test_category_matches_itself_its_ancestors_and_descendants(tree: dict[str, Category]) -> None:
    same = make_vendor([tree["plumbing"]])
    ancestor = make_vendor([tree["home"]])
    descendant = make_vendor([tree["taps"]])
    unrelated = make_vendor([tree["catering"]])
    intent = IntentFactory(category=tree["plumbing"])

    assert matched(intent) == {same.pk, ancestor.pk, descendant.pk}
    assert unrelated.pk not in matched(intent)


def test_region_country_worldwide_and_subdivision(tree: dict[str, Category]) -> None:
    german = make_vendor([tree["plumbing"]], regions=["DE"])
    bavarian = make_vendor([tree["plumbing"]], regions=["DE-BY"])
    everywhere = make_vendor([tree["plumbing"]], regions=["*"])
    french = make_vendor([tree["plumbing"]], regions=["FR"])
    intent = IntentFactory(category=tree["plumbing"], country="DE")

    assert matched(intent) == {german.pk, bavarian.pk, everywhere.pk}
    assert french.pk not in matched(intent)


def test_remote_intent_reaches_worldwide_vendors(tree: dict[str, Category]) -> None:
    everywhere = make_vendor([tree["plumbing"]], regions=["*"])
    make_vendor([tree["plumbing"]], regions=["FR"])
    intent = IntentFactory(category=tree["plumbing"], country="", is_remote=True)

    assert matched(intent) == {everywhere.pk}


def test_deal_size_must_overlap_the_budget_in_the_same_currency(tree: dict[str, Category]) -> None:
    fits = make_vendor(
        [tree["plumbing"]],
        deal_size_min=Decimal("50"),
        deal_size_max=Decimal("200"),
        deal_size_currency="EUR",
    )
    too_big = make_vendor(
        [tree["plumbing"]], deal_size_min=Decimal("10000"), deal_size_currency="EUR"
    )
    too_small = make_vendor(
        [tree["plumbing"]], deal_size_max=Decimal("50"), deal_size_currency="EUR"
    )
    other_currency = make_vendor(
        [tree["plumbing"]], deal_size_min=Decimal("10000"), deal_size_currency="USD"
    )
    unbounded = make_vendor([tree["plumbing"]])
    intent = IntentFactory(
        category=tree["plumbing"], budget_min=Decimal("100"), budget_max=Decimal("500")
    )

    assert matched(intent) == {fits.pk, other_currency.pk, unbounded.pk}
    assert not {too_big.pk, too_small.pk} & matched(intent)


def test_a_hidden_budget_is_not_compared_with_deal_sizes(tree: dict[str, Category]) -> None:
    """Compared, it would leak: a vendor could move its deal size and watch what it gets."""
    too_big = make_vendor(
        [tree["plumbing"]], deal_size_min=Decimal("10000"), deal_size_currency="EUR"
    )
    too_small = make_vendor(
        [tree["plumbing"]], deal_size_max=Decimal("50"), deal_size_currency="EUR"
    )
    hidden = IntentFactory(
        category=tree["plumbing"],
        budget_min=Decimal("100"),
        budget_max=Decimal("500"),
        is_budget_hidden=True,
    )

    assert matched(hidden) == {too_big.pk, too_small.pk}
    assert all(
        "budget overlaps" not in candidate.reasons
        for candidate in match_candidates(hidden, limit=10)
    )


def test_paused_and_suspended_vendors_are_skipped(tree: dict[str, Category]) -> None:
    active = make_vendor([tree["plumbing"]])
    make_vendor([tree["plumbing"]], is_paused=True)
    suspended = make_vendor([tree["plumbing"]])
    Vendor.objects.filter(pk=suspended.pk).update(is_suspended=True)

    assert matched(IntentFactory(category=tree["plumbing"])) == {active.pk}


def test_daily_capacity(tree: dict[str, Category]) -> None:
    today = timezone.localdate()
    full = make_vendor([tree["plumbing"]], daily_capacity=2)
    Vendor.objects.filter(pk=full.pk).update(notices_day=today, notices_today=2)
    room = make_vendor([tree["plumbing"]], daily_capacity=2)
    Vendor.objects.filter(pk=room.pk).update(notices_day=today, notices_today=1)
    yesterday_full = make_vendor([tree["plumbing"]], daily_capacity=2)
    Vendor.objects.filter(pk=yesterday_full.pk).update(
        notices_day=today - timezone.timedelta(days=1), notices_today=2
    )

    assert matched(IntentFactory(category=tree["plumbing"])) == {room.pk, yesterday_full.pk}


def test_matching_counts_towards_capacity(tree: dict[str, Category]) -> None:
    vendor = make_vendor([tree["plumbing"]], daily_capacity=1)
    intent_match(intent_id=IntentFactory(category=tree["plumbing"]).pk)
    second = IntentFactory(category=tree["plumbing"])

    assert intent_match(intent_id=second.pk) == []
    assert Vendor.objects.get(pk=vendor.pk).notices_today == 1


def test_matching_counts_a_new_day_from_one(tree: dict[str, Category]) -> None:
    today = timezone.localdate()
    vendor = make_vendor([tree["plumbing"]], daily_capacity=2)
    Vendor.objects.filter(pk=vendor.pk).update(
        notices_day=today - timezone.timedelta(days=1), notices_today=2
    )
    busy = make_vendor([tree["plumbing"]], daily_capacity=3)
    Vendor.objects.filter(pk=busy.pk).update(notices_day=today, notices_today=1)

    made = intent_match(intent_id=IntentFactory(category=tree["plumbing"]).pk)

    assert {notice.vendor_id for notice in made} == {vendor.pk, busy.pk}
    counted = dict(Vendor.objects.values_list("pk", "notices_today").filter(notices_day=today))
    assert counted == {vendor.pk: 1, busy.pk: 2}


def test_buyer_block_list(tree: dict[str, Category]) -> None:
    blocked = make_vendor([tree["plumbing"]])
    welcome = make_vendor([tree["plumbing"]])
    intent = IntentFactory(category=tree["plumbing"])
    vendor_block(buyer=intent.buyer, vendor=blocked)

    assert matched(intent) == {welcome.pk}
    # Another buyer's block does not matter.
    assert blocked.pk in matched(IntentFactory(category=tree["plumbing"]))


def test_invited_intent_reaches_only_named_vendors(tree: dict[str, Category]) -> None:
    invited = make_vendor([tree["catering"]], regions=["FR"])  # named, even off-profile
    make_vendor([tree["plumbing"]])
    intent = IntentFactory(category=tree["plumbing"], visibility=Intent.Visibility.INVITED)
    intent.invited_vendors.set([invited])

    candidates = match_candidates(intent, limit=10)
    assert [candidate.vendor_id for candidate in candidates] == [invited.pk]
    assert "invited by the buyer" in candidates[0].reasons


def test_keywords_narrow_and_rank(tree: dict[str, Category]) -> None:
    boilers = make_vendor([tree["plumbing"]], keywords=["boilers", "heating"])
    roofs = make_vendor([tree["plumbing"]], keywords=["roofs"])
    generalist = make_vendor([tree["plumbing"]])
    intent = IntentFactory(
        category=tree["plumbing"], title="New boiler", description="Our gas boiler broke."
    )

    candidates = match_candidates(intent, limit=10)

    assert [candidate.vendor_id for candidate in candidates] == [boilers.pk, generalist.pk]
    assert roofs.pk not in matched(intent)
    assert "keywords: boiler" in candidates[0].reasons


def test_ranking_by_reputation_then_freshness_and_the_cap(tree: dict[str, Category]) -> None:
    now = timezone.now()
    star = make_vendor([tree["plumbing"]])
    good = make_vendor([tree["plumbing"]])
    fresh = make_vendor([tree["plumbing"]])
    stale = make_vendor([tree["plumbing"]])
    Vendor.objects.filter(pk=star.pk).update(rating_mean=Decimal("4.90"), rating_count=10)
    Vendor.objects.filter(pk=good.pk).update(rating_mean=Decimal("4.10"), rating_count=3)
    Vendor.objects.filter(pk=fresh.pk).update(last_seen_at=now)
    Vendor.objects.filter(pk=stale.pk).update(last_seen_at=now - timezone.timedelta(days=30))
    intent = IntentFactory(category=tree["plumbing"], max_vendors=3)

    ranked = [candidate.vendor_id for candidate in match_candidates(intent, limit=10)]
    assert ranked == [star.pk, good.pk, fresh.pk, stale.pk]

    notices = intent_match(intent_id=intent.pk)
    assert {notice.vendor_id for notice in notices} == {star.pk, good.pk, fresh.pk}


def test_match_reasons_are_stored_on_the_notice(tree: dict[str, Category]) -> None:
    vendor = make_vendor(
        [tree["plumbing"]],
        regions=["DE"],
        deal_size_min=Decimal("10"),
        deal_size_max=Decimal("1000"),
        deal_size_currency="EUR",
    )
    intent = IntentFactory(category=tree["plumbing"], country="DE")

    intent_match(intent_id=intent.pk)

    notice = Notice.objects.get(intent=intent, vendor=vendor)
    assert notice.reasons == ["category: plumbing", "region: DE", "budget overlaps"]
    assert notice.reasons_text == "category: plumbing · region: DE · budget overlaps"


def test_matching_twice_creates_the_same_rows(tree: dict[str, Category]) -> None:
    for _ in range(3):
        make_vendor([tree["plumbing"]])
    intent = IntentFactory(category=tree["plumbing"])

    first = intent_match(intent_id=intent.pk)
    second = intent_match(intent_id=intent.pk)
    events_dispatch()
    events_dispatch()

    assert len(first) == 3
    assert second == []
    assert Notice.objects.filter(intent=intent).count() == 3
    assert Event.objects.filter(type="intent.matched").count() == 3
    assert Intent.objects.get(pk=intent.pk).needs_matching is False


def test_edit_notices_only_new_vendors_and_tells_the_others(tree: dict[str, Category]) -> None:
    existing = make_vendor([tree["plumbing"]], regions=["DE"])
    later = make_vendor([tree["plumbing"]], regions=["*"])
    intent = IntentFactory(category=tree["plumbing"], country="DE")
    NoticeFactory(intent=intent, vendor=existing)
    intent_update(intent=intent, title="Bigger job")
    intent_match(intent_id=intent.pk)

    assert set(Notice.objects.filter(intent=intent).values_list("vendor_id", flat=True)) == {
        existing.pk,
        later.pk,
    }
    assert Event.objects.filter(vendor=existing, type="intent.updated").count() == 1
    assert not Event.objects.filter(vendor=existing, type="intent.matched").exists()
    assert Event.objects.filter(vendor=later, type="intent.matched").count() == 1


def test_closed_or_hidden_intent_is_not_matched(tree: dict[str, Category]) -> None:
    make_vendor([tree["plumbing"]])
    closed = IntentFactory(category=tree["plumbing"], status=Intent.Status.CLOSED)
    hidden = IntentFactory(category=tree["plumbing"], is_hidden=True)
    assert intent_match(intent_id=closed.pk) == []
    assert intent_match(intent_id=hidden.pk) == []


def test_budget_overlaps_is_said_only_when_the_budget_was_compared(
    tree: dict[str, Category],
) -> None:
    deal = {"deal_size_min": Decimal("100"), "deal_size_max": Decimal("900")}
    vendor = make_vendor([tree["plumbing"]], regions=["DE"], deal_size_currency="EUR", **deal)
    vendor.slug = "named"
    vendor.save()

    def reasons(**fields: Any) -> list[str]:
        intent = IntentFactory(category=tree["plumbing"], country="DE", **fields)
        if fields.get("visibility") == Intent.Visibility.INVITED:
            intent.invited_vendors.set([vendor])
        intent_match(intent_id=intent.pk)
        return Notice.objects.get(intent=intent, vendor=vendor).reasons

    assert "budget overlaps" in reasons()
    assert "budget overlaps" not in reasons(budget_min=None, budget_max=None)
    assert "budget overlaps" not in reasons(is_budget_hidden=True)
    far_beyond = {"budget_min": Decimal("5000"), "budget_max": Decimal("9000")}
    assert "budget overlaps" not in reasons(visibility=Intent.Visibility.INVITED, **far_beyond)


def test_matching_runs_on_the_29th_of_february(tree: dict[str, Category]) -> None:
    vendor = make_vendor([tree["plumbing"]], regions=["DE"])
    intent = IntentFactory(category=tree["plumbing"], country="DE")
    leap_day = datetime(2028, 2, 29, 12, tzinfo=UTC)

    with mock.patch("django.utils.timezone.now", return_value=leap_day):
        assert matched(intent) == {vendor.pk}


def test_a_vendor_noticed_again_hears_of_its_new_notice(tree: dict[str, Category]) -> None:
    vendor = make_vendor([tree["plumbing"]], regions=["DE"])
    intent = IntentFactory(category=tree["plumbing"], country="DE")
    (first,) = intent_match(intent_id=intent.pk)
    Notice.objects.filter(pk=first.pk).delete()  # as a block or an invitation withdrawn does

    (again,) = intent_match(intent_id=intent.pk)

    matched_events = Event.objects.filter(vendor=vendor, type="intent.matched")
    assert sorted(event.payload["notice"] for event in matched_events) == sorted(
        [str(first.pk), str(again.pk)]
    )


def test_an_unpaused_vendor_hears_of_open_intents_that_invite_it(
    tree: dict[str, Category],
) -> None:
    vendor = make_vendor([tree["catering"]], regions=["FR"], is_paused=True)
    invited = IntentFactory(
        category=tree["plumbing"], country="DE", visibility=Intent.Visibility.INVITED
    )
    invited.invited_vendors.set([vendor])
    other = IntentFactory(
        category=tree["plumbing"], country="DE", visibility=Intent.Visibility.INVITED
    )
    other.invited_vendors.set([VendorFactory()])
    assert intent_match(intent_id=invited.pk) == []  # paused

    vendor_update(vendor=vendor, is_paused=False)

    assert vendor_catch_up(vendor_id=vendor.pk) == 1
    assert list(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == [
        invited.pk
    ]


def test_a_new_vendor_hears_of_intents_already_open(tree: dict[str, Category]) -> None:
    open_before = IntentFactory(category=tree["taps"], country="DE")
    closed = IntentFactory(category=tree["taps"], status=Intent.Status.CLOSED)
    elsewhere = IntentFactory(category=tree["catering"])

    vendor = vendor_create(
        name="Late Joiner", email="late@joiner.test", categories=[tree["plumbing"]], regions=["DE"]
    ).vendor
    assert Vendor.objects.get(pk=vendor.pk).catch_up_requested_at is not None  # asked with it
    assert match_vendor(str(vendor.pk)) == 1  # the task sent after commit
    assert match_vendor(str(vendor.pk)) == 0  # its request done: a copy does nothing
    assert vendor_catch_up(vendor_id=vendor.pk) == 0  # and matching again: nothing new

    assert set(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == {
        open_before.pk
    }
    assert not Notice.objects.filter(intent__in=[closed, elsewhere]).exists()


def test_the_catch_up_reaches_intents_it_fits_behind_many_it_cannot_serve(
    tree: dict[str, Category],
) -> None:
    """Its limit is spent on intents the vendor may serve: place, deal size, room."""
    soon = timezone.now() + timedelta(days=1)
    for _ in range(CATCH_UP_LIMIT):
        IntentFactory(category=tree["plumbing"], country="DE", offers_close_at=soon)
    for _ in range(3):
        IntentFactory(
            category=tree["plumbing"],
            country="FR",
            offers_close_at=soon,
            currency="EUR",
            budget_min=None,
            budget_max=Decimal("10"),  # below the vendor's smallest deal
        )
    full = IntentFactory(
        category=tree["plumbing"], country="FR", offers_close_at=soon, max_vendors=1
    )
    NoticeFactory(intent=full)
    later = timezone.now() + timedelta(days=5)
    fits = IntentFactory(category=tree["plumbing"], country="FR", offers_close_at=later)
    hidden_budget = IntentFactory(
        category=tree["plumbing"],
        country="FR",
        offers_close_at=later,
        budget_min=None,
        budget_max=Decimal("10"),
        is_budget_hidden=True,  # not compared: it would leak
    )
    vendor = vendor_create(
        name="Plombier", email="p@plombier.test", categories=[tree["plumbing"]], regions=["FR"]
    ).vendor
    vendor_update(vendor=vendor, deal_size_min=Decimal("100"), deal_size_currency="EUR")

    assert vendor_catch_up(vendor_id=vendor.pk) == 2

    assert set(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == {
        fits.pk,
        hidden_budget.pk,
    }


def test_the_catch_up_reaches_intents_with_its_keywords_behind_many_without(
    tree: dict[str, Category],
) -> None:
    """Its limit is spent on intents that mention one of the vendor's keywords, and on
    the buyers' invitations (which the keyword rule does not bind)."""
    soon = timezone.now() + timedelta(days=1)
    for _ in range(CATCH_UP_LIMIT):
        IntentFactory(category=tree["plumbing"], country="DE", offers_close_at=soon)
    later = timezone.now() + timedelta(days=5)
    mentions = IntentFactory(
        category=tree["plumbing"],
        country="DE",
        offers_close_at=later,
        description="Two boilers to replace before winter.",
    )
    vendor = vendor_create(
        name="Boiler Co", email="b@boiler.test", categories=[tree["plumbing"]], regions=["DE"]
    ).vendor
    vendor_update(vendor=vendor, keywords=["boiler"])
    invited = IntentFactory(
        category=tree["catering"],
        visibility=Intent.Visibility.INVITED,
        offers_close_at=later + timedelta(days=1),
    )
    invited.invited_vendors.add(vendor)

    assert vendor_catch_up(vendor_id=vendor.pk) == 2

    assert set(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == {
        mentions.pk,
        invited.pk,
    }


def test_the_catch_up_skips_buyers_who_blocked_the_vendor(tree: dict[str, Category]) -> None:
    soon = timezone.now() + timedelta(days=1)
    vendor = make_vendor([tree["plumbing"]])
    blocker = IntentFactory(category=tree["plumbing"], offers_close_at=soon).buyer
    vendor_block(buyer=blocker, vendor=vendor)
    for _ in range(CATCH_UP_LIMIT):
        IntentFactory(category=tree["plumbing"], buyer=blocker, offers_close_at=soon)
    welcome = IntentFactory(
        category=tree["plumbing"], offers_close_at=timezone.now() + timedelta(days=5)
    )

    assert vendor_catch_up(vendor_id=vendor.pk) == 1

    assert list(Notice.objects.filter(vendor=vendor).values_list("intent_id", flat=True)) == [
        welcome.pk
    ]


@pytest.mark.parametrize(
    "words",
    [
        ["boiler"],
        ["it's", "back\\slash", "a | b", "boiler"],
        ["(", "!", "'"],
        ["tap | x"],  # one lexeme; as query text it would find the intent about taps
        ["", "boiler"],
    ],
)
def test_intents_mentioning_any_takes_lexemes_as_they_are(
    tree: dict[str, Category], words: list[str]
) -> None:
    # Quotes, backslashes and query operators are lexeme text, never query syntax.
    intent = IntentFactory(category=tree["plumbing"], description="Our boilers are old.")
    IntentFactory(category=tree["plumbing"], description="Taps only.")

    found = intent_ids_mentioning_any(Intent.objects.order_by("pk"), words, limit=10)

    assert found == ([intent.pk] if "boiler" in words else [])


def test_counting_capacity_updates_vendor_rows_in_place(tree: dict[str, Category]) -> None:
    # Each notice counts towards its vendor's capacity. On full pages the new row
    # version goes elsewhere and every index of the vendors (three GIN) gets an
    # entry; the room kept on each page (marketplace migration 0011) lets
    # PostgreSQL write it beside the old one (a HOT update), indexes untouched.
    require_postgresql()
    with connection.cursor() as cursor:  # a clear message if the migration did not run
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'marketplace_vendor'")
        assert cursor.fetchone()[0] == ["fillfactor=80"]
    plumbing_in_germany = f"{tree['plumbing'].pk}:DE"
    # As on a real table, the vendors matched are a few of each page's.
    Vendor.objects.bulk_create(
        VendorFactory.build(
            coverage=["DE"], match_keys=[plumbing_in_germany if number % 8 == 0 else "other"]
        )
        for number in range(8 * 40)
    )
    Vendor.categories.through.objects.bulk_create(
        Vendor.categories.through(vendor=vendor, category=tree["plumbing"])
        for vendor in Vendor.objects.filter(match_keys__contains=[plumbing_in_germany])
    )

    def hot_updates() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_hot_updated('marketplace_vendor'::regclass)"
            )
            return cursor.fetchone()[0]

    before = hot_updates()
    made = intent_match(
        intent_id=IntentFactory(category=tree["plumbing"], country="DE", max_vendors=200).pk
    )

    assert len(made) == 40
    assert hot_updates() - before == 40


def test_matching_an_open_intent_past_its_deadline_tells_nobody(
    category: Category, vendor: Vendor
) -> None:
    # Still open (the beat closes it within a minute); its matching waited past the deadline.
    intent = IntentFactory(category=category, needs_matching=True)
    Intent.objects.filter(pk=intent.pk).update(
        offers_close_at=timezone.now() - timedelta(seconds=5)
    )

    made = intent_match(intent_id=intent.pk)

    vendor.refresh_from_db()
    assert made == []
    assert not Notice.objects.filter(intent=intent).exists()
    assert not Event.objects.filter(type="intent.matched").exists()
    assert vendor.notices_today == 0  # nor is a notice of its day spent on it
    assert Intent.objects.get(pk=intent.pk).needs_matching is False
