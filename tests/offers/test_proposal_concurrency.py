"""Two awards at once on one internal RFP: one split wins, the ledger is written once.

And the last owner cannot be demoted twice over by two admins racing, nor is a
proposer removed meanwhile awarded. PostgreSQL only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from intents.models import Intent
from marketplace import organizations
from marketplace.errors import DomainError
from marketplace.models import Membership
from marketplace.organizations import membership_remove, membership_set_role
from marketplace.privacy import account_delete
from offers import proposals as proposals_module
from offers.models import Offer, ProposalCoauthor, RewardEntry
from offers.proposals import proposals_award
from tests.conftest import require_postgresql
from tests.factories import OrganizationFactory, internal_intent, org_member, proposal
from tests.offers.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.postgres
def test_concurrent_awards_write_one_split() -> None:
    require_postgresql()
    organization = OrganizationFactory()
    poster = org_member(organization)
    intent = internal_intent(organization, poster, reward_amount=Decimal("90.00"))
    proposals = [proposal(intent, org_member(organization)) for _ in range(3)]
    splits = [{str(p.pk): "100"} for p in proposals]

    successes, refusals = race(
        splits, lambda shares: proposals_award(intent=intent, poster=poster, shares=shares)
    )

    assert (len(successes), len(refusals)) == (1, 2)
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.AWARDED
    assert Offer.objects.filter(intent=intent, status=Offer.Status.ACCEPTED).count() == 1
    assert RewardEntry.objects.filter(intent=intent).count() == 1


@pytest.mark.postgres
def test_two_owners_demoting_each_other_leave_one_owner() -> None:
    require_postgresql()
    organization = OrganizationFactory()
    first = org_member(organization, role="owner")
    second = org_member(organization, role="owner")
    pairs = [
        (first, Membership.objects.get(user=second)),
        (second, Membership.objects.get(user=first)),
    ]

    successes, refusals = race(
        pairs,
        lambda pair: membership_set_role(actor=pair[0], membership=pair[1], role="member"),
    )

    assert (len(successes), len(refusals)) == (1, 1)
    assert Membership.objects.filter(organization=organization, role="owner").count() == 1


@pytest.mark.postgres
def test_an_award_made_while_the_proposer_is_being_removed_pays_no_one_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The removal has deleted the membership and not committed yet; the award then
    runs. It must wait and see the proposer gone, not award from what it read before."""
    require_postgresql()
    organization = OrganizationFactory()
    owner = org_member(organization, role="owner")
    poster = org_member(organization)
    proposer = org_member(organization)
    intent = internal_intent(organization, poster, reward_amount=Decimal("100.00"))
    made = proposal(intent, proposer)
    deleted, commit = threading.Event(), threading.Event()
    real_removed = organizations.memberships_removed

    def hold_the_removal_open(memberships: Any) -> None:
        real_removed(memberships)
        deleted.set()
        commit.wait(timeout=10)

    monkeypatch.setattr(organizations, "memberships_removed", hold_the_removal_open)
    errors: list[BaseException] = []
    run = _starter(errors)

    removal = run(
        lambda: membership_remove(actor=owner, membership=Membership.objects.get(user=proposer))
    )
    assert deleted.wait(timeout=10)
    award = run(lambda: proposals_award(intent=intent, poster=poster, shares={str(made.pk): "100"}))
    # The award either finished (wrongly) or waits on a row lock: then let the removal commit.
    deadline = time.monotonic() + 5
    while award.is_alive() and not _someone_waits_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    commit.set()
    removal.join(timeout=30)
    award.join(timeout=30)

    assert not Membership.objects.filter(organization=organization, user=proposer).exists()
    assert not RewardEntry.objects.filter(member=proposer).exists()
    [refused] = errors
    assert isinstance(refused, DomainError)
    assert f"{proposer.get_username()} is no longer a member." in refused.errors["shares"]


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
def test_an_award_and_a_co_authors_account_deletion_wait_for_each_other_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The award holds the intent, its proposal and its authors' memberships; the
    co-author, whose own proposal the award will decline, deletes their account."""
    require_postgresql()
    organization = OrganizationFactory()
    org_member(organization, role="owner")
    poster = org_member(organization)
    proposer = org_member(organization)
    leaver = org_member(organization)
    intent = internal_intent(organization, poster, reward_amount=Decimal("100.00"))
    named = proposal(intent, proposer)
    ProposalCoauthor.objects.create(offer=named, member=leaver, confirmed_at=timezone.now())
    own = proposal(intent, leaver)  # not in the split: the award declines it
    locked, go = threading.Event(), threading.Event()
    real_mark = proposals_module.intent_mark_awarded

    def pause_holding_the_locks(**kwargs: Any) -> Any:
        locked.set()
        go.wait(timeout=10)
        return real_mark(**kwargs)

    monkeypatch.setattr(proposals_module, "intent_mark_awarded", pause_holding_the_locks)
    errors: list[BaseException] = []
    run = _starter(errors)

    award = run(
        lambda: proposals_award(intent=intent, poster=poster, shares={str(named.pk): "100"})
    )
    assert locked.wait(timeout=10)
    deletion = run(lambda: account_delete(user=leaver))
    deadline = time.monotonic() + 5
    while not _someone_waits_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    go.set()
    award.join(timeout=30)
    deletion.join(timeout=30)

    assert errors == []
    assert Intent.objects.get(pk=intent.pk).status == Intent.Status.AWARDED
    assert Offer.objects.get(pk=named.pk).status == Offer.Status.ACCEPTED
    assert Offer.objects.get(pk=own.pk).status == Offer.Status.DECLINED  # the award came first
    assert not Membership.objects.filter(user=leaver).exists()


def _starter(errors: list[BaseException]) -> Callable[[Callable[[], Any]], threading.Thread]:
    """Start an action in a thread of its own (its own connection); what it raises goes
    into ``errors``."""

    def run(action: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                action()
            except BaseException as error:
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    return run
