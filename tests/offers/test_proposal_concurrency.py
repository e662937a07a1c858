"""Two awards at once on one internal RFP: one split wins, the ledger is written once.

And the last owner cannot be demoted twice over by two admins racing. PostgreSQL only.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from intents.models import Intent
from marketplace.models import Membership
from marketplace.organizations import membership_set_role
from offers.models import Offer, RewardEntry
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
