"""Races between writers that row locks settle: matching, blocks, ratings. PostgreSQL only."""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

import intents.notices as notices_module
import marketplace.webhooks as webhooks_module
import offers.proposals as proposals_module
import offers.ratings as ratings_module
from intents.models import Intent, Notice
from intents.notices import MATCH_GRACE, intent_match, intents_to_match_again
from intents.services import buyer_block_vendor
from marketplace.errors import DomainError
from marketplace.models import Membership, Vendor, WebhookEndpoint
from marketplace.services import vendor_update
from marketplace.webhooks import webhook_endpoint_create, webhook_endpoint_update
from offers.models import Offer, Rating
from offers.proposals import (
    coauthor_confirm,
    proposal_decline,
    proposal_submit,
    proposals_member_left,
)
from offers.ratings import rating_create
from tests.conftest import require_postgresql
from tests.factories import (
    CategoryFactory,
    IntentFactory,
    OfferFactory,
    OrganizationFactory,
    VendorFactory,
    internal_intent,
    org_member,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def in_threads(*actions: Callable[[], Any]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(action: Callable[[], Any]) -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_concurrent_matchings_do_not_notice_a_vendor_past_its_daily_capacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    # Two categories: the two matchings share nothing but the vendor's row.
    plumbing, heating = CategoryFactory(), CategoryFactory()
    vendor = VendorFactory(categories=[plumbing, heating], daily_capacity=1)
    first, second = IntentFactory(category=plumbing), IntentFactory(category=heating)
    # Both workers have selected their candidates before either claims the vendor's capacity.
    selected = threading.Barrier(2)
    real_claim = notices_module._claim_capacity

    def claim_after_both_selected(candidates: list) -> list:
        with contextlib.suppress(threading.BrokenBarrierError):
            selected.wait(timeout=5)
        return real_claim(candidates)

    monkeypatch.setattr(notices_module, "_claim_capacity", claim_after_both_selected)

    errors = in_threads(
        lambda: intent_match(intent_id=first.pk), lambda: intent_match(intent_id=second.pk)
    )

    assert errors == []
    vendor.refresh_from_db()
    assert Notice.objects.filter(vendor=vendor).count() == 1
    assert vendor.notices_today <= vendor.daily_capacity


def test_two_ratings_of_one_vendor_at_once_both_count_in_its_reputation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    vendor = VendorFactory()
    accepted = [
        OfferFactory(intent=IntentFactory(status=Intent.Status.AWARDED), vendor=vendor,
                     status=Offer.Status.ACCEPTED)
        for _ in range(2)
    ]  # fmt: skip
    aggregated = threading.Barrier(2)
    real_set = ratings_module.vendor_set_reputation

    def set_after_both_aggregated(**kwargs: Any) -> None:
        # Serialized by the vendor's row lock, the second waits here in vain.
        with contextlib.suppress(threading.BrokenBarrierError):
            aggregated.wait(timeout=5)
        real_set(**kwargs)

    monkeypatch.setattr(ratings_module, "vendor_set_reputation", set_after_both_aggregated)

    errors = in_threads(
        lambda: rating_create(buyer=accepted[0].intent.buyer, offer=accepted[0], stars=5),
        lambda: rating_create(buyer=accepted[1].intent.buyer, offer=accepted[1], stars=1),
    )

    assert errors == []
    assert Rating.objects.filter(vendor=vendor).count() == 2
    vendor.refresh_from_db()
    assert vendor.rating_count == 2
    assert vendor.rating_mean == Decimal("3.00")


def test_a_vendor_blocked_while_matching_runs_is_not_noticed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    category = CategoryFactory()
    vendor = VendorFactory(categories=[category])
    intent = IntentFactory(category=category)
    selected, blocked = threading.Event(), threading.Event()
    real_insert = notices_module._notices_insert

    def insert_after_the_block(intent: Intent, candidates: list) -> list:
        selected.set()
        blocked.wait(timeout=5)  # a fixed block may wait for this transaction instead
        return real_insert(intent, candidates)

    monkeypatch.setattr(notices_module, "_notices_insert", insert_after_the_block)
    matcher = threading.Thread(
        target=lambda: (intent_match(intent_id=intent.pk), connection.close())
    )
    matcher.start()
    assert selected.wait(timeout=10)

    buyer_block_vendor(buyer=intent.buyer, vendor=vendor)  # the buyer's request, committed
    blocked.set()
    matcher.join(timeout=30)

    assert not Notice.objects.filter(intent=intent, vendor=vendor).exists()


def _both_read_then(vendor: Vendor, *patches: dict[str, Any]) -> list[BaseException]:
    """Each request reads the vendor's row (as the profile view and the API do), and
    only once all have read it does each call vendor_update with its changes."""
    all_read = threading.Barrier(len(patches))

    def request(changes: dict[str, Any]) -> Callable[[], Any]:
        def run() -> None:
            as_read = Vendor.objects.get(pk=vendor.pk)
            all_read.wait(timeout=5)
            vendor_update(vendor=as_read, **changes)

        return run

    return in_threads(*(request(changes) for changes in patches))


def test_two_profile_edits_at_once_both_keep_their_change() -> None:
    require_postgresql()
    vendor = VendorFactory(regions=["DE"], keywords=[])

    errors = _both_read_then(vendor, {"regions": ["FR"]}, {"keywords": ["pumps"]})

    assert errors == []
    vendor.refresh_from_db()
    assert (vendor.regions, vendor.keywords) == (["FR"], ["pumps"])


def test_what_matching_reads_follows_the_categories_after_two_edits_at_once() -> None:
    require_postgresql()
    plumbing, heating = CategoryFactory(), CategoryFactory()
    vendor = VendorFactory(categories=[plumbing], regions=["DE"])

    errors = _both_read_then(vendor, {"categories": [heating]}, {"regions": ["FR"]})

    assert errors == []
    vendor.refresh_from_db()
    assert list(vendor.categories.values_list("pk", flat=True)) == [heating.pk]
    assert vendor.regions == ["FR"]
    assert vendor.match_keys == [f"{heating.pk}:FR"]


def test_a_draft_published_from_another_tab_while_it_is_deleted_is_not_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A filtered delete() reads the rows, then deletes by id: a publication committed in
    between was deleted with them, its vendors told of an intent that no longer was."""
    require_postgresql()
    from django.db.models.deletion import Collector

    from intents.services import intent_delete_draft, intent_publish

    draft = IntentFactory(status=Intent.Status.DRAFT)
    published: list[bool] = []
    other_tab: list[threading.Thread] = []
    collect = Collector.collect

    def publish() -> None:
        try:
            intent_publish(intent=Intent.objects.get(pk=draft.pk))
            published.append(True)
        except Exception:
            published.append(False)
        finally:
            connection.close()

    def collect_while_the_other_tab_publishes(self: Collector, *args: Any, **kwargs: Any) -> Any:
        result = collect(self, *args, **kwargs)
        if not other_tab:
            other_tab.append(threading.Thread(target=publish))
            other_tab[0].start()
            other_tab[0].join(timeout=1)  # done at once, unless the draft's row is locked
        return result

    monkeypatch.setattr(Collector, "collect", collect_while_the_other_tab_publishes)

    with contextlib.suppress(Exception):
        intent_delete_draft(intent=draft, buyer=draft.buyer)
    other_tab[0].join(timeout=30)

    exists = Intent.objects.filter(pk=draft.pk).exists()
    assert published in ([True], [False])
    assert exists == published[0], "a published intent was deleted" if published[0] else ""


def test_an_offer_in_flight_while_the_buyer_s_e_mail_is_claimed_is_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The offer marks the intent unread, then is inserted: an e-mail that reads "now" in
    between, and whose claim waits for the offer's commit, tells it, or leaves it due."""
    require_postgresql()
    import time
    from datetime import timedelta

    from django.core import mail

    import offers.services as offer_services
    from offers.buyer_mail import buyer_notify, intents_with_news_for_buyer
    from offers.services import offer_submit

    category = CategoryFactory()
    vendor = VendorFactory(categories=[category])
    intent = IntentFactory(category=category)
    Notice.objects.create(intent=intent, vendor=vendor, reasons=["category"])
    Intent.objects.filter(pk=intent.pk).update(
        buyer_emailed_at=timezone.now() - timedelta(hours=3),
        buyer_activity_at=timezone.now() - timedelta(hours=2),  # other news: due
    )
    intent.refresh_from_db()
    taken = threading.Event()
    real_take = offer_services.intent_take_offer

    def take_then_pause(**kwargs: Any) -> None:
        real_take(**kwargs)  # marks the intent unread; its row stays locked until commit
        taken.set()
        time.sleep(0.5)  # the rest of the offer's transaction, its INSERT among it

    monkeypatch.setattr(offer_services, "intent_take_offer", take_then_pause)

    def submit() -> None:
        offer_submit(vendor=vendor, intent=intent, price=Decimal("500"), currency=intent.currency)

    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: errors.extend(in_threads(submit)))
    thread.start()
    assert taken.wait(10)
    buyer_notify(intent_id=intent.pk)  # reads "now", then waits on the offer's lock
    thread.join(30)

    assert errors == []
    told = any("1 new offer" in message.body for message in mail.outbox)
    assert told or intents_with_news_for_buyer().filter(pk=intent.pk).exists()


def test_two_publications_at_once_keep_the_buyer_within_the_open_intents_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    import intents.services as intent_services
    from intents.services import intent_publish

    monkeypatch.setattr(intent_services, "OPEN_AT_ONCE", 2)
    already_open = IntentFactory(status=Intent.Status.OPEN)
    buyer = already_open.buyer
    drafts = [IntentFactory(buyer=buyer, status=Intent.Status.DRAFT) for _ in range(2)]
    # Each publication has counted the buyer's open intents before either commits,
    # unless the first one's count holds the second back.
    counted = threading.Barrier(2)
    refuse = intent_services._refuse_publishing_at_will

    def refuse_then_wait(buyer_id: Any) -> None:
        refuse(buyer_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait(timeout=2)

    monkeypatch.setattr(intent_services, "_refuse_publishing_at_will", refuse_then_wait)

    errors = in_threads(
        *(
            lambda draft=draft: intent_publish(intent=Intent.objects.get(pk=draft.pk))
            for draft in drafts
        )
    )

    assert [str(error) for error in errors] == [
        "You have 2 intents open: close or withdraw one first."
    ]
    assert Intent.objects.filter(buyer=buyer, status=Intent.Status.OPEN).count() == 2


def test_a_publication_that_waited_for_the_buyer_s_erasure_publishes_nothing() -> None:
    """The buyer's row lock puts the two one after the other; the erasure first, then
    the publication finds the account closed."""
    require_postgresql()
    from intents.services import intent_publish
    from marketplace.privacy import account_delete

    draft = IntentFactory(status=Intent.Status.DRAFT)
    stale = Intent.objects.get(pk=draft.pk)  # the publishing tab's copy
    account_delete(user=draft.buyer)

    with pytest.raises(DomainError, match="account is closed"):
        intent_publish(intent=stale)

    assert Intent.objects.get(pk=draft.pk).status == Intent.Status.DRAFT
    assert not Notice.objects.filter(intent=draft).exists()


def test_a_create_and_a_move_to_one_url_at_once_leave_one_endpoint_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    vendor = VendorFactory()
    existing = webhook_endpoint_create(vendor=vendor, url="http://127.0.0.1:9/hook-a")
    target = "http://127.0.0.1:9/hook-b"
    checked = threading.Barrier(2)  # both asked "none at this URL yet?" before either saves
    refuse_same_url = webhooks_module._refuse_same_url

    def refuse_then_wait(endpoints: Any, url: str) -> None:
        refuse_same_url(endpoints, url)
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(timeout=5)

    monkeypatch.setattr(webhooks_module, "_refuse_same_url", refuse_then_wait)

    errors = in_threads(
        lambda: webhook_endpoint_create(vendor=vendor, url=target),
        lambda: webhook_endpoint_update(endpoint=existing, url=target),
    )

    # Two endpoints there would each get every event, under two webhook-ids.
    assert WebhookEndpoint.objects.filter(vendor=vendor, url=target).count() == 1
    assert [(type(e), e.kind, e.errors) for e in errors] == [
        (DomainError, "conflict", {"url": ["You already have an endpoint at this URL."]})
    ]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_ask_for_an_intent_s_matching_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_postgresql()
    intent = IntentFactory()
    asked = timezone.now()
    Intent.objects.filter(pk=intent.pk).update(needs_matching=True, match_again_at=asked)
    both_read = threading.Barrier(2)  # both have read the due intents before either marks them

    def list_then_wait(rows: Any) -> list[Any]:
        read = [*rows]
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=5)
        return read

    monkeypatch.setattr(notices_module, "list", list_then_wait, raising=False)
    results: list[list[str]] = []

    def sweep() -> None:
        try:
            results.append(intents_to_match_again(now=asked + MATCH_GRACE))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # A beat running the sweep twice (two beats, a slow run overlapping the next) queues
    # the matching twice: the update that marks it is not a claim.
    assert sorted(len(ids) for ids in results) == [0, 1]


def test_a_decline_while_the_proposer_leaves_leaves_the_co_authors_told_what_became_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The leaver's live proposals are read locked: the poster's decline waits, then finds
    the proposal withdrawn; its co-authors hear "withdrawn" of a withdrawn one only."""
    require_postgresql()
    organization = OrganizationFactory()
    poster, alice, bob = (org_member(organization) for _ in range(3))
    together = proposal_submit(
        member=alice,
        intent=internal_intent(organization, poster),
        message="Together",
        coauthors=[bob],
    )
    coauthor_confirm(member=bob, proposal=together)
    Membership.objects.filter(organization=organization, user=alice).delete()
    mail.outbox.clear()
    read, declined = threading.Event(), threading.Event()

    def list_then_wait(rows: Any) -> list:
        rows = builtins.list(rows)
        if together.pk in rows and not read.is_set():
            read.set()
            declined.wait(timeout=3)  # a fixed read makes the decline wait for this instead
        return rows

    monkeypatch.setattr(proposals_module, "list", list_then_wait, raising=False)
    leaver = threading.Thread(
        target=lambda: (
            proposals_member_left(organization_id=organization.pk, member_id=alice.pk),
            connection.close(),
        )
    )
    leaver.start()
    assert read.wait(timeout=10)
    errors = in_threads(
        lambda: proposal_decline(poster=poster, proposal=together, reason="Too costly")
    )
    declined.set()
    leaver.join(timeout=30)

    status = Offer.objects.get(pk=together.pk).status
    told = [m for m in mail.outbox if "joint proposal" in m.subject]
    assert status == Offer.Status.WITHDRAWN and len(told) == 1
    assert [getattr(error, "kind", error) for error in errors] == ["conflict"]
