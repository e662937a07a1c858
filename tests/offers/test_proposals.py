"""Proposals on internal RFPs: co-authors, the award with a reward split, dispositions."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from intents.models import Intent, Notice
from intents.services import intent_set_hidden
from marketplace.errors import DomainError
from marketplace.models import Event, Membership
from marketplace.organizations import membership_remove
from marketplace.privacy import account_delete, export_user_data
from offers import proposal_dispositions
from offers.buyer_mail import buyers_notify_due
from offers.models import Offer, ProposalCoauthor, Rating, RewardEntry
from offers.proposal_dispositions import (
    DISPOSITION_CLAIM,
    REASON_NO_DECISION,
    intent_remind_poster,
    proposal_send_disposition,
    proposals_awaiting_announcement,
    proposals_decline_undecided,
)
from offers.proposals import (
    AWARD_REVISED_SINCE,
    MAX_COAUTHORS,
    REASON_OTHER_PROPOSALS,
    REASON_POSTER_LEFT,
    coauthor_confirm,
    coauthor_decline,
    proposal_add_coauthor,
    proposal_decline,
    proposal_revise,
    proposal_submit,
    proposal_withdraw,
    proposals_award,
    proposals_award_preview,
    split_amount,
    validate_shares,
)
from offers.ratings import rating_create
from offers.services import (
    REASON_RFP_WITHDRAWN,
    intent_withdraw_and_decline_offers,
    intents_close_due,
    offer_accept,
)
from offers.tasks import (
    remind_posters,
    send_proposal_dispositions,
    sweep_departed_members,
    sweep_unannounced_proposals,
)
from tests.factories import (
    CategoryFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    internal_intent,
    org_member,
    proposal,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def market() -> dict[str, Any]:
    organization = OrganizationFactory(name="Acme")
    poster = org_member(organization)
    alice = org_member(organization)
    bob = org_member(organization)
    carol = org_member(organization)
    intent = internal_intent(organization, poster, reward_amount=Decimal("1000.00"))
    return {
        "organization": organization,
        "poster": poster,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "intent": intent,
    }


def _state(intent: Intent) -> tuple[Any, ...]:
    intent.refresh_from_db()
    return (
        intent.status,
        sorted(Offer.objects.filter(intent=intent).values_list("status", flat=True)),
        RewardEntry.objects.count(),
    )


# --- Submitting ------------------------------------------------------------------------


def test_a_member_proposes_without_a_price(market: dict[str, Any]) -> None:
    made = proposal_submit(
        member=market["alice"],
        intent=market["intent"],
        message="A reconciliation bot",
        approach="Python + the ledger API",
        estimate="5 person-days",
        delivery_date=timezone.localdate() + timedelta(days=10),
    )

    assert (made.member_id, made.vendor_id, made.price) == (market["alice"].pk, None, None)
    assert made.status == Offer.Status.SUBMITTED
    assert made.estimate == "5 person-days"


def test_outsiders_and_the_poster_cannot_propose(market: dict[str, Any]) -> None:
    for who in (UserFactory(), org_member(OrganizationFactory()), market["poster"]):
        with pytest.raises(DomainError) as refused:
            proposal_submit(member=who, intent=market["intent"], message="Me!")
        assert refused.value.kind == "forbidden"
    assert Offer.objects.count() == 0


def test_one_live_proposal_per_member(market: dict[str, Any]) -> None:
    proposal_submit(member=market["alice"], intent=market["intent"], message="One")

    with pytest.raises(DomainError) as refused:
        proposal_submit(member=market["alice"], intent=market["intent"], message="Two")
    with pytest.raises(IntegrityError), transaction.atomic():
        proposal(market["intent"], market["alice"])

    assert refused.value.kind == "conflict"
    assert Offer.objects.count() == 1


def test_an_offer_is_a_vendors_or_a_members_never_both(market: dict[str, Any]) -> None:
    vendor = VendorFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=market["intent"], vendor=vendor, member=market["alice"])
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=market["intent"], vendor=None, member=None, price=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=market["intent"], vendor=vendor, price=None)
    assert Offer.objects.count() == 0


def test_one_accepted_vendor_offer_per_intent_still_holds() -> None:
    first = OfferFactory(status=Offer.Status.ACCEPTED)

    with pytest.raises(IntegrityError), transaction.atomic():
        OfferFactory(intent=first.intent, status=Offer.Status.ACCEPTED)


def test_several_proposals_may_be_accepted_on_an_internal_intent(market: dict[str, Any]) -> None:
    proposal(market["intent"], market["alice"], status=Offer.Status.ACCEPTED)
    proposal(market["intent"], market["bob"], status=Offer.Status.ACCEPTED)

    assert Offer.objects.filter(status=Offer.Status.ACCEPTED).count() == 2


def test_the_vendor_accept_path_refuses_a_proposal(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])

    with pytest.raises(DomainError):
        offer_accept(offer=made, buyer=market["poster"])

    assert _state(market["intent"]) == ("open", ["submitted"], 0)


# --- Co-authors ----------------------------------------------------------------------


def test_co_authors_must_be_members(market: dict[str, Any]) -> None:
    with pytest.raises(DomainError) as refused:
        proposal_submit(
            member=market["alice"],
            intent=market["intent"],
            message="Together",
            coauthors=[UserFactory()],
        )

    assert "coauthors" in refused.value.errors
    assert Offer.objects.count() == 0


def test_each_co_author_is_asked_in_a_message_of_their_own(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    """Colleagues know each other by username: an address is its owner's to share."""
    with django_capture_on_commit_callbacks(execute=True):
        proposal_submit(
            member=market["alice"],
            intent=market["intent"],
            message="Together",
            coauthors=[market["bob"], market["carol"]],
        )

    asked = [m for m in mail.outbox if m.subject.startswith("Confirm your co-authorship")]
    assert sorted(m.to + m.cc + m.bcc for m in asked) == sorted(
        [[market["bob"].email], [market["carol"].email]]
    )


def test_an_unconfirmed_co_authored_proposal_cannot_be_accepted(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        made = proposal_submit(
            member=market["alice"],
            intent=market["intent"],
            message="Together",
            coauthors=[market["bob"]],
        )
    asked = [m for m in mail.outbox if m.to == [market["bob"].email]]

    with pytest.raises(DomainError) as refused:
        proposals_award(intent=market["intent"], poster=market["poster"], shares={made.pk: 100})

    assert len(asked) == 1 and asked[0].subject.startswith("Confirm your co-authorship")
    assert refused.value.kind == "conflict"
    assert market["bob"].username in refused.value.message
    assert _state(market["intent"]) == ("open", ["submitted"], 0)


def test_confirmed_co_authors_share_the_proposals_reward_equally(market: dict[str, Any]) -> None:
    made = proposal_submit(
        member=market["alice"],
        intent=market["intent"],
        message="Together",
        coauthors=[market["bob"], market["carol"]],
    )
    coauthor_confirm(member=market["bob"], proposal=made)
    coauthor_confirm(member=market["bob"], proposal=made)  # twice: no change
    coauthor_decline(member=market["carol"], proposal=made)

    entries = proposals_award(
        intent=market["intent"], poster=market["poster"], shares={str(made.pk): "100"}
    )

    assert ProposalCoauthor.objects.filter(offer=made).count() == 1
    assert sorted((e.member_id, e.amount, e.percent) for e in entries) == sorted(
        [
            (market["alice"].pk, Decimal("500.00"), Decimal("50.0000")),
            (market["bob"].pk, Decimal("500.00"), Decimal("50.0000")),
        ]
    )


def test_only_the_named_co_author_confirms(market: dict[str, Any]) -> None:
    made = proposal_submit(
        member=market["alice"], intent=market["intent"], message="x", coauthors=[market["bob"]]
    )

    with pytest.raises(DomainError):
        coauthor_confirm(member=market["carol"], proposal=made)

    assert ProposalCoauthor.objects.get().confirmed_at is None


# --- The award and its split -----------------------------------------------------------


def test_the_poster_accepts_several_and_splits_the_reward(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    intent = market["intent"]
    first = proposal(intent, market["alice"])
    second = proposal(intent, market["bob"])
    third = proposal(intent, market["carol"])

    with django_capture_on_commit_callbacks(execute=True):
        entries = proposals_award(
            intent=intent,
            poster=market["poster"],
            shares={str(first.pk): "66.67", str(second.pk): Decimal("33.33")},
        )

    assert {(e.member_id, e.amount, e.percent) for e in entries} == {
        (market["alice"].pk, Decimal("666.70"), Decimal("66.6700")),
        (market["bob"].pk, Decimal("333.30"), Decimal("33.3300")),
    }
    assert sum(e.amount for e in RewardEntry.objects.all()) == Decimal("1000.00")
    first.refresh_from_db()
    third.refresh_from_db()
    assert (first.status, first.reward_percent) == ("accepted", Decimal("66.67"))
    assert (third.status, third.decline_reason) == ("declined", REASON_OTHER_PROPOSALS)
    intent.refresh_from_db()
    assert intent.status == Intent.Status.AWARDED
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects[market["alice"].email].endswith("accepted")
    assert subjects[market["carol"].email].endswith("declined")
    assert REASON_OTHER_PROPOSALS in next(
        m.body for m in mail.outbox if m.to == [market["carol"].email]
    )
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "shares",
    [
        pytest.param(lambda a, b: {a: "60", b: "30"}, id="sum-below-100"),
        pytest.param(lambda a, b: {a: "70", b: "40"}, id="sum-above-100"),
        pytest.param(lambda a, b: {a: "110", b: "-10"}, id="negative"),
        pytest.param(lambda a, b: {a: "100", b: "0"}, id="zero-share"),
        pytest.param(lambda a, b: {a: "33.333", b: "66.667"}, id="three-decimals"),
        pytest.param(lambda a, b: {a: "fifty", b: "50"}, id="not-a-number"),
        pytest.param(lambda a, b: {}, id="nothing"),
        pytest.param(
            lambda a, b: {a: "50", "00000000-0000-0000-0000-000000000000": "50"},
            id="unknown-proposal",
        ),
        pytest.param(lambda a, b: {a: "50", "not-a-uuid": "50"}, id="not-an-id"),
    ],
)
def test_an_invalid_split_is_refused_and_changes_nothing(
    market: dict[str, Any], shares: Any
) -> None:
    intent = market["intent"]
    first = proposal(intent, market["alice"])
    second = proposal(intent, market["bob"])

    with pytest.raises(DomainError) as refused:
        proposals_award(
            intent=intent, poster=market["poster"], shares=shares(str(first.pk), str(second.pk))
        )

    assert "shares" in refused.value.errors
    assert _state(intent) == ("open", ["submitted", "submitted"], 0)


def test_a_split_naming_another_intents_or_a_withdrawn_proposal_is_refused(
    market: dict[str, Any],
) -> None:
    intent = market["intent"]
    mine = proposal(intent, market["alice"])
    withdrawn = proposal(intent, market["bob"], status=Offer.Status.WITHDRAWN)
    elsewhere = proposal(internal_intent(market["organization"], market["poster"]), market["carol"])

    for other in (withdrawn, elsewhere):
        with pytest.raises(DomainError):
            proposals_award(
                intent=intent,
                poster=market["poster"],
                shares={str(mine.pk): "50", str(other.pk): "50"},
            )

    assert _state(intent) == ("open", ["submitted", "withdrawn"], 0)


def test_the_award_preview_refuses_what_the_award_would_refuse(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    live = proposal(intent, market["alice"])
    declined = proposal(intent, market["bob"], status=Offer.Status.DECLINED)
    elsewhere = proposal(internal_intent(market["organization"], market["poster"]), market["carol"])
    waiting = proposal_submit(
        member=market["carol"], intent=intent, message="Us", coauthors=[market["bob"]]
    )
    client.force_login(market["poster"])

    for other, told in (
        (declined, "A declined proposal cannot be accepted."),
        (elsewhere, f"“{elsewhere.pk}” is not a proposal on this RFP."),
        (waiting, f"Waiting for co-authors to confirm: {market['bob'].username}."),
    ):
        split = {f"share-{live.pk}": "50", f"share-{other.pk}": "50"}
        preview = client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split, follow=True)
        page = preview.content.decode()
        assert "Yes, award and split the reward" not in page
        assert escape(told) in page, told

    assert _state(intent) == ("open", ["declined", "submitted", "submitted"], 0)


def test_a_refused_split_comes_back_with_the_shares_as_typed_and_why(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    made = [proposal(intent, market[name]) for name in ("alice", "bob", "carol")]
    typed = dict(zip((str(p.pk) for p in made), ("50", "30", "10"), strict=True))
    client.force_login(market["poster"])

    refused = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/", {f"share-{pk}": v for pk, v in typed.items()}
    )

    page = refused.content.decode()
    boxes = {pk: re.search(rf'<input[^>]*name="share-{pk}"[^>]*>', page).group(0) for pk in typed}
    assert refused.status_code == 400
    assert 'id="award-refusal"' in page and "add up to 90%" in page
    assert all(f'value="{typed[pk]}"' in box for pk, box in boxes.items()), boxes
    assert all('aria-describedby="share-rule award-refusal"' in box for box in boxes.values())
    assert _state(intent) == ("open", ["submitted", "submitted", "submitted"], 0)


def test_the_rfp_form_marks_every_mistake_at_once(client: Client) -> None:
    organization = OrganizationFactory(name="Acme")
    client.force_login(org_member(organization))

    page = client.post(
        f"/orgs/{organization.slug}/rfps/new/",
        {
            "title": "Speed up CI", "description": "", "category": CategoryFactory().pk,
            "reward_amount": "500", "reward_is_points": "on",
            "offers_close_at": "2020-01-01T10:00", "max_members": "25",
        },
    ).content.decode()  # fmt: skip

    assert not Intent.objects.exists()
    assert 'id="id_description_error"' in page
    assert 'id="id_offers_close_at_error"' in page
    assert "The deadline for offers must be in the future." in page


def test_a_proposal_id_in_capitals_is_the_same_proposal(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    first, second = proposal(intent, market["alice"]), proposal(intent, market["bob"])
    split = {f"share-{str(first.pk).upper()}": "60", f"share-{second.pk}": "40"}
    client.force_login(market["poster"])

    preview = client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split).content.decode()
    client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split | {"confirm": "1"})

    assert "Yes, award and split the reward" in preview and "Declined with" not in preview
    assert _state(intent) == ("awarded", ["accepted", "accepted"], 2)
    first.refresh_from_db()
    assert first.reward_percent == Decimal("60")
    with pytest.raises(DomainError, match="not valid"):
        validate_shares({str(first.pk).upper(): "50", str(first.pk): "50"})


def test_only_the_poster_awards(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])

    with pytest.raises(DomainError) as refused:
        proposals_award(intent=market["intent"], poster=market["bob"], shares={made.pk: "100"})

    assert refused.value.kind == "forbidden"
    assert _state(market["intent"]) == ("open", ["submitted"], 0)


def test_a_second_award_is_refused_in_the_rfp_s_own_words(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])
    proposals_award(intent=market["intent"], poster=market["poster"], shares={made.pk: "100"})

    with pytest.raises(DomainError) as refused:
        proposals_award(intent=market["intent"], poster=market["poster"], shares={made.pk: "100"})

    assert refused.value.message == "This RFP is awarded; no proposal can be accepted."


def test_a_points_reward_is_split_to_the_cent() -> None:
    organization = OrganizationFactory()
    poster = org_member(organization)
    members = [org_member(organization) for _ in range(3)]
    intent = internal_intent(
        organization, poster, reward_amount=Decimal("100"), reward_is_points=True, currency="XXX"
    )
    made = [proposal(intent, member) for member in members]

    entries = proposals_award(
        intent=intent,
        poster=poster,
        shares={
            str(p.pk): share for p, share in zip(made, ("33.33", "33.33", "33.34"), strict=True)
        },
    )

    assert sorted(entry.amount for entry in entries) == [
        Decimal("33.33"),
        Decimal("33.33"),
        Decimal("33.34"),
    ]
    assert all(entry.is_points for entry in entries)


def test_split_amount_hands_out_every_cent() -> None:
    assert split_amount(Decimal("10.00"), [Decimal(1)] * 3) == [
        Decimal("3.34"),
        Decimal("3.33"),
        Decimal("3.33"),
    ]
    assert sum(split_amount(Decimal("0.05"), [Decimal("50"), Decimal("50")])) == Decimal("0.05")


# --- No black hole ------------------------------------------------------------------


def test_withdrawing_the_rfp_declines_every_proposal_with_a_reason(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    proposal(market["intent"], market["alice"])
    proposal(market["intent"], market["bob"])

    with django_capture_on_commit_callbacks(execute=True):
        intent_withdraw_and_decline_offers(intent=market["intent"], buyer=market["poster"])

    assert set(Offer.objects.values_list("status", "decline_reason")) == {
        ("declined", REASON_RFP_WITHDRAWN)
    }
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [market["alice"].email, market["bob"].email]
    )


def test_declining_one_proposal_needs_a_reason(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])

    with pytest.raises(DomainError):
        proposal_decline(poster=market["poster"], proposal=made, reason="  ")
    proposal_decline(poster=market["poster"], proposal=made, reason="Out of scope")

    made.refresh_from_db()
    assert (made.status, made.decline_reason) == ("declined", "Out of scope")


@pytest.mark.parametrize(
    "reason, shown",
    [
        ("No\x00", "Null characters are not allowed."),
        ("x" * 301, "Ensure this value has at most 300 characters"),
        ("  ", "This field is required."),
    ],
)
def test_a_bad_decline_reason_on_the_web_is_told_and_changes_nothing(
    client: Client, market: dict[str, Any], reason: str, shown: str
) -> None:
    """A NUL byte reached PostgreSQL and made a 500; the form's checks now come first."""
    made, page = _post_on_a_proposal(client, market, "poster", "decline", {"reason": reason})

    assert shown in page
    made.refresh_from_db()
    assert (made.status, made.decline_reason) == ("submitted", "")


@pytest.mark.parametrize("username", ["bo\x00b", "b" * 151, ""])
def test_a_bad_co_author_name_on_the_web_is_told_and_changes_nothing(
    client: Client, market: dict[str, Any], username: str
) -> None:
    _, page = _post_on_a_proposal(client, market, "alice", "coauthors", {"username": username})

    assert "Add a co-author (username):" in page
    assert not ProposalCoauthor.objects.exists()


def _post_on_a_proposal(
    client: Client, market: dict[str, Any], who: str, action: str, data: dict[str, str]
) -> tuple[Offer, str]:
    """Alice's proposal; ``who`` posts ``data`` to one of its actions; the page shown after."""
    made = proposal(market["intent"], market["alice"])
    client.force_login(market[who])
    slug = market["organization"].slug
    response = client.post(f"/orgs/{slug}/proposals/{made.pk}/{action}/", data, follow=True)
    assert response.status_code == 200
    return made, response.content.decode()


def test_at_the_deadline_the_rfp_closes_and_the_poster_is_reminded_once_a_day(
    market: dict[str, Any],
) -> None:
    intent = market["intent"]
    proposal(intent, market["alice"])
    Intent.objects.filter(pk=intent.pk).update(
        offers_close_at=timezone.now() - timedelta(minutes=1)
    )

    closed = intents_close_due()
    first = remind_posters()
    again = remind_posters()  # a second run (or a second worker) sends nothing
    tomorrow = intent_remind_poster(
        intent_id=intent.pk, now=timezone.now() + timedelta(days=1, minutes=1)
    )

    assert closed == {"closed": 1, "expired": 0}
    assert (first, again, tomorrow) == (1, 0, True)
    reminders = [m for m in mail.outbox if m.to == [market["poster"].email]]
    assert len(reminders) == 2
    assert "1 proposal(s) wait for your decision" in reminders[0].subject


def test_no_reminder_once_decided(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])
    Intent.objects.filter(pk=market["intent"].pk).update(
        status=Intent.Status.CLOSED, closed_at=timezone.now()
    )
    proposals_award(intent=market["intent"], poster=market["poster"], shares={made.pk: "100"})

    assert remind_posters() == 0


# --- The web: the poster's award form --------------------------------------------------


def test_the_award_form_splits_and_refuses_a_bad_split(
    client: Client, market: dict[str, Any]
) -> None:
    intent = market["intent"]
    slug = market["organization"].slug
    first = proposal(intent, market["alice"])
    second = proposal(intent, market["bob"])
    client.force_login(market["poster"])

    page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/")
    bad = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/",
        {f"share-{first.pk}": "50", f"share-{second.pk}": "49"},
        follow=True,
    )
    unchanged = _state(intent)
    split = {f"share-{first.pk}": "75", f"share-{second.pk}": "25"}
    confirm = client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split)
    before_confirming = _state(intent)
    client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split | {"confirm": "1"})

    assert f'<label for="share-{first.pk}">' in page.content.decode()
    assert "add up to 99" in bad.content.decode()
    assert unchanged == ("open", ["submitted", "submitted"], 0)
    # The first POST only shows what will happen.
    assert "Yes, award and split the reward" in confirm.content.decode()
    assert "75" in confirm.content.decode() and market["alice"].username in confirm.content.decode()
    assert before_confirming == ("open", ["submitted", "submitted"], 0)
    assert _state(intent) == ("awarded", ["accepted", "accepted"], 2)


def test_a_proposal_made_after_the_award_preview_is_not_declined_unseen(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    first = proposal(intent, market["alice"])
    client.force_login(market["poster"])
    split = {f"share-{first.pk}": "100"}
    preview = client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split).content.decode()
    declined_seen = re.search(r'name="declined" value="([^"]*)"', preview).group(1)
    late = proposal(intent, market["bob"])  # while the poster reads the preview

    again = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/",
        split | {"declined": declined_seen, "confirm": "1"},
    ).content.decode()

    assert declined_seen == ""
    assert _state(intent) == ("open", ["submitted", "submitted"], 0)
    assert "A proposal was made or withdrawn since you looked" in again
    assert f"Declined with a reason, and told: {market['bob'].username}." in again
    # Confirmed as now shown, the award goes through.
    declined_now = re.search(r'name="declined" value="([^"]*)"', again).group(1)
    assert declined_now == str(late.pk)
    client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/",
        split | {"declined": declined_now, "confirm": "1"},
    )
    assert _state(intent) == ("awarded", ["accepted", "declined"], 1)


def test_a_proposal_revised_after_the_poster_read_it_is_not_accepted_unread(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug, alice = market["intent"], market["organization"].slug, market["alice"]
    first = proposal(intent, alice)
    client.force_login(market["poster"])
    page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/").content.decode()
    read = re.search(rf'name="revision-{first.pk}" value="(\d+)"', page).group(1)
    split = {f"share-{first.pk}": "100", f"revision-{first.pk}": read}
    preview = client.post(f"/orgs/{slug}/rfps/{intent.pk}/award/", split).content.decode()
    proposal_revise(member=alice, proposal=first, message="Something else entirely")

    confirmed = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/", split | {"declined": "", "confirm": "1"}
    ).content.decode()

    assert f'name="revision-{first.pk}" value="0"' in preview  # carried to the confirmation
    assert _state(intent) == ("open", ["submitted"], 0)
    # The RFP's page again, to read it: which proposal changed, the shares as typed.
    assert escape(AWARD_REVISED_SINCE.format(who=alice.username)) in confirmed
    assert "Something else entirely" in confirmed and "Revised 1×" in confirmed
    assert f'name="share-{first.pk}" value="100"' in confirmed
    # Read again (its new count), the award goes through.
    client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/",
        split | {f"revision-{first.pk}": "1", "declined": "", "confirm": "1"},
    )
    assert _state(intent) == ("awarded", ["accepted"], 1)


def test_the_award_preview_shows_amounts_in_the_currency_s_unit(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    first, second = proposal(intent, market["alice"]), proposal(intent, market["bob"])
    client.force_login(market["poster"])

    preview = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/award/",
        {f"share-{first.pk}": "33.33", f"share-{second.pk}": "66.67"},
    ).content.decode()

    assert f">333.30 {intent.currency}<" in preview and f">666.70 {intent.currency}<" in preview


def test_the_proposal_form_and_co_author_confirmation_on_the_web(
    client: Client, market: dict[str, Any]
) -> None:
    intent = market["intent"]
    slug = market["organization"].slug
    client.force_login(market["alice"])

    client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/propose/",
        {"message": "Bot", "estimate": "3 days", "coauthors": market["bob"].username},
    )
    made = Offer.objects.get()
    client.force_login(market["bob"])
    page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/")
    client.post(f"/orgs/{slug}/proposals/{made.pk}/coauthorship/", {"answer": "confirm"})

    assert made.member_id == market["alice"].pk
    assert "Confirm I am co-author" in page.content.decode()
    assert ProposalCoauthor.objects.get().confirmed_at is not None


def test_a_co_authorship_answer_that_is_neither_confirm_nor_decline_changes_nothing(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    made = proposal_submit(
        member=market["alice"], intent=intent, message="Bot", coauthors=[market["bob"]]
    )
    client.force_login(market["bob"])

    for answer in ({}, {"answer": ""}, {"answer": "maybe"}):
        page = client.post(
            f"/orgs/{slug}/proposals/{made.pk}/coauthorship/", answer, follow=True
        ).content.decode()
        assert "Choose to confirm or to decline the co-authorship." in page

    coauthor = ProposalCoauthor.objects.get(offer=made)
    assert (coauthor.member_id, coauthor.confirmed_at) == (market["bob"].pk, None)


def test_a_proposal_names_a_bounded_number_of_co_authors(market: dict[str, Any]) -> None:
    """Split among too many authors, a 0.01 % share rounded to 0 for some: a 500."""
    organization, intent = market["organization"], market["intent"]
    many = [org_member(organization) for _ in range(MAX_COAUTHORS + 1)]

    with pytest.raises(DomainError) as refused:
        proposal_submit(member=market["alice"], intent=intent, message="All of us", coauthors=many)
    assert refused.value.errors == {"coauthors": [f"At most {MAX_COAUTHORS} co-authors."]}
    assert Offer.objects.count() == 0

    made = proposal_submit(
        member=market["alice"], intent=intent, message="All of us", coauthors=many[:-1]
    )
    proposal_add_coauthor(member=market["alice"], proposal=made, coauthor=many[0])  # named already
    with pytest.raises(DomainError, match=f"at most {MAX_COAUTHORS} co-authors"):
        proposal_add_coauthor(member=market["alice"], proposal=made, coauthor=many[-1])
    assert ProposalCoauthor.objects.filter(offer=made).count() == MAX_COAUTHORS


def test_a_proposal_on_an_rfp_a_moderator_hid_leaves_the_members_page(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    Intent.objects.filter(pk=intent.pk).update(title="Reconciliation bot wanted")
    proposal_submit(member=market["alice"], intent=intent, message="Bot", coauthors=[market["bob"]])
    client.force_login(market["bob"])
    assert "Reconciliation bot wanted" in client.get(f"/orgs/{slug}/").content.decode()

    intent.refresh_from_db()
    intent_set_hidden(intent=intent, is_hidden=True)

    for member in ("alice", "bob"):
        client.force_login(market[member])
        assert "Reconciliation bot wanted" not in client.get(f"/orgs/{slug}/").content.decode()


def test_being_named_co_author_neither_hides_nor_replaces_ones_own_proposal(
    client: Client, market: dict[str, Any]
) -> None:
    intent, slug = market["intent"], market["organization"].slug
    own = proposal_submit(member=market["bob"], intent=intent, message="Bob's own plan")
    theirs = proposal_submit(
        member=market["alice"], intent=intent, message="Alice's plan", coauthors=[market["bob"]]
    )
    client.force_login(market["bob"])

    page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/").content.decode()

    assert "Your proposal" in page and "Bob&#x27;s own plan" in page
    assert f"/orgs/{slug}/proposals/{own.pk}/withdraw/" in page
    assert "Proposal by" in page and "(you are co-author)" in page and "Alice&#x27;s plan" in page
    assert f"/orgs/{slug}/proposals/{theirs.pk}/coauthorship/" in page
    assert f"/orgs/{slug}/proposals/{theirs.pk}/withdraw/" not in page
    # Confirmed, the co-authorship still leaves Bob's own proposal his to withdraw.
    client.post(f"/orgs/{slug}/proposals/{theirs.pk}/coauthorship/", {"answer": "confirm"})
    client.post(f"/orgs/{slug}/proposals/{own.pk}/withdraw/")
    own.refresh_from_db()
    assert own.status == Offer.Status.WITHDRAWN
    # With his own withdrawn he may propose again, co-author of a live one or not.
    assert (
        'action="/orgs/' + slug + f'/rfps/{intent.pk}/propose/"'
        in client.get(f"/orgs/{slug}/rfps/{intent.pk}/").content.decode()
    )


def test_a_refused_proposal_comes_back_with_what_was_written_and_the_errors(
    client: Client, market: dict[str, Any]
) -> None:
    intent = market["intent"]
    slug = market["organization"].slug
    client.force_login(market["alice"])
    written = {
        "message": "Reconcile nightly with a script",
        "approach": "Python against the ledger export",
        "coauthors": "nobody-here",
    }

    refused = client.post(f"/orgs/{slug}/rfps/{intent.pk}/propose/", written)
    empty = client.post(f"/orgs/{slug}/rfps/{intent.pk}/propose/", written | {"message": ""})

    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Not a member: nobody-here." in html
    assert 'id="id_coauthors_error"' in html
    assert "Reconcile nightly with a script" in html
    assert "Python against the ledger export" in html
    assert empty.status_code == 200
    assert 'id="id_message_error"' in empty.content.decode()
    assert "Python against the ledger export" in empty.content.decode()
    assert not Offer.objects.exists()


def test_a_decision_whose_email_failed_or_never_left_is_sent_by_the_sweep(
    market: dict[str, Any], monkeypatch: Any
) -> None:
    intent = market["intent"]
    failed = proposal(intent, market["alice"])
    proposal(intent, market["bob"])  # declined below; its task never ran (no commit here)
    withdrawn = proposal(intent, market["carol"])
    proposal_withdraw(member=market["carol"], proposal=withdrawn)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("the mail server is down")

    proposals_award(intent=intent, poster=market["poster"], shares={str(failed.pk): "100"})
    with monkeypatch.context() as patched:
        patched.setattr("offers.proposal_dispositions.send_mail", refuse)
        assert send_proposal_dispositions([str(failed.pk)]) == 0  # logged, claim given back
    # Not sent, and its hold given back.
    assert Offer.objects.get(pk=failed.pk).authors_notice_claimed_until is None
    assert sweep_unannounced_proposals() == 0  # within the grace: the first send may come
    Offer.objects.update(decided_at=timezone.now() - timedelta(minutes=6))

    assert sweep_unannounced_proposals() == 2

    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [market["alice"].email, market["bob"].email]
    )
    assert sweep_unannounced_proposals() == 0  # each once; a withdrawal is no decision


def test_a_decision_whose_sender_died_mid_send_is_sent_once_its_hold_lapses(
    market: dict[str, Any],
) -> None:
    intent = market["intent"]
    chosen = proposal(intent, market["alice"])
    proposals_award(intent=intent, poster=market["poster"], shares={str(chosen.pk): "100"})
    Offer.objects.filter(pk=chosen.pk).update(decided_at=timezone.now() - timedelta(minutes=6))
    # A worker claimed the e-mail and was killed before sending it.
    held = timezone.now() + DISPOSITION_CLAIM
    Offer.objects.filter(pk=chosen.pk).update(authors_notice_claimed_until=held)
    mail.outbox.clear()

    assert not proposals_awaiting_announcement().exists()  # still held: it may yet send
    assert proposal_send_disposition(proposal_id=chosen.pk) is False  # nor may another
    Offer.objects.filter(pk=chosen.pk).update(
        authors_notice_claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert sweep_unannounced_proposals() == 1

    assert [message.to for message in mail.outbox] == [[market["alice"].email]]
    stored = Offer.objects.get(pk=chosen.pk)
    assert stored.authors_notified_at is not None
    assert stored.authors_notice_claimed_until is None
    assert sweep_unannounced_proposals() == 0


def test_a_send_that_outlived_its_hold_still_marks_the_decision_told(
    market: dict[str, Any], monkeypatch: Any
) -> None:
    intent = market["intent"]
    chosen = proposal(intent, market["alice"])
    proposals_award(intent=intent, poster=market["poster"], shares={str(chosen.pk): "100"})
    real_send = proposal_dispositions._send_disposition

    def slow_send(sending: Offer) -> None:
        real_send(sending)
        # Meanwhile its hold ran out and another worker took the proposal.
        Offer.objects.filter(pk=sending.pk).update(
            authors_notice_claimed_until=timezone.now() + DISPOSITION_CLAIM
        )

    monkeypatch.setattr(proposal_dispositions, "_send_disposition", slow_send)

    assert proposal_send_disposition(proposal_id=chosen.pk) is True

    assert Offer.objects.get(pk=chosen.pk).authors_notified_at is not None


# --- The member's data, membership changes, races --------------------------------------


def test_a_members_proposals_and_rewards_are_in_their_export(market: dict[str, Any]) -> None:
    made = proposal(
        market["intent"], market["alice"], message="My idea", approach="A bot", estimate="2 days"
    )
    Offer.objects.filter(pk=made.pk).update(delivery_date=timezone.localdate())
    proposals_award(intent=market["intent"], poster=market["poster"], shares={made.pk: "100"})
    notice = Notice.objects.create(  # the "RFPs for you" entry that told her of it
        intent=market["intent"], member=market["alice"], reasons=["skill: data analysis"]
    )

    document = export_user_data(market["alice"])
    poster_document = export_user_data(market["poster"])

    assert [(p["description"], p["status"]) for p in document["proposals"]] == [
        ("My idea", "accepted")
    ]
    [exported] = document["proposals"]
    assert exported["availabilityStarts"] == timezone.localdate().isoformat()
    assert exported["ic:organization"] == "Acme"
    assert exported["ic:authors"] == [market["alice"].username]
    assert [(r["value"], r["currency"], r["ic:percent"]) for r in document["rewards"]] == [
        ("1000.00", "EUR", "100.0000")
    ]
    assert document["rewards"][0]["ic:proposal"] == exported["@id"]
    assert document["ic:matchedRfps"] == [
        {
            "@type": "Demand",
            "@id": f"urn:intentcast:intent:{market['intent'].pk}",
            "name": market["intent"].title,
            "ic:reasons": ["skill: data analysis"],
            "dateCreated": notice.created_at.isoformat(),
        }
    ]
    (demand,) = poster_document["seeks"]
    (received,) = demand["offersReceived"]
    assert received["offeredBy"] == {"@type": "Person", "name": market["alice"].username}
    # What the poster saw of it and decided, as on the RFP's page.
    assert (received["ic:approach"], received["ic:estimate"]) == ("A bot", "2 days")
    assert received["ic:rewardPercent"] == "100.00"
    assert received["ic:authors"] == [market["alice"].username]


def test_a_removed_member_loses_the_rfp(client: Client, market: dict[str, Any]) -> None:
    slug = market["organization"].slug
    client.force_login(market["alice"])
    before = client.get(f"/orgs/{slug}/rfps/{market['intent'].pk}/")

    Membership.objects.filter(user=market["alice"]).delete()
    after = client.get(f"/orgs/{slug}/rfps/{market['intent'].pk}/")

    assert (before.status_code, after.status_code) == (200, 404)
    with pytest.raises(DomainError):
        proposal_submit(member=market["alice"], intent=market["intent"], message="Still me")


def test_the_poster_cannot_co_author_on_their_own_rfp(market: dict[str, Any]) -> None:
    poster = market["poster"]
    with pytest.raises(DomainError) as refused:
        proposal_submit(
            member=market["alice"], intent=market["intent"], message="x", coauthors=[poster]
        )
    assert "coauthors" in refused.value.errors
    made = proposal(market["intent"], market["alice"])
    with pytest.raises(DomainError):
        proposal_add_coauthor(member=market["alice"], proposal=made, coauthor=poster)
    ProposalCoauthor.objects.create(offer=made, member=poster)  # named before this rule
    with pytest.raises(DomainError) as confirm_refused:
        coauthor_confirm(member=poster, proposal=made)
    assert confirm_refused.value.kind == "forbidden"
    assert ProposalCoauthor.objects.get().confirmed_at is None


def test_members_who_left_are_not_paid_and_do_not_block_the_award(
    market: dict[str, Any],
) -> None:
    intent = market["intent"]
    gone = proposal(intent, market["carol"])
    together = proposal_submit(
        member=market["alice"], intent=intent, message="x", coauthors=[market["bob"]]
    )
    Membership.objects.filter(user__in=[market["carol"], market["bob"]]).delete()

    with pytest.raises(DomainError) as refused:
        proposals_award(
            intent=intent,
            poster=market["poster"],
            shares={str(gone.pk): "50", str(together.pk): "50"},
        )
    assert refused.value.errors == {
        "shares": [f"{market['carol'].get_username()} is no longer a member."]
    }
    assert _state(intent) == ("open", ["submitted", "submitted"], 0)
    assert ProposalCoauthor.objects.filter(offer=together).exists()  # nothing changed

    entries = proposals_award(
        intent=intent, poster=market["poster"], shares={str(together.pk): "100"}
    )

    # Bob left before confirming: he no longer holds the award up, nor shares in it.
    assert [(e.member_id, e.amount) for e in entries] == [(market["alice"].pk, Decimal("1000.00"))]
    assert not ProposalCoauthor.objects.exists()


def test_leaving_the_organization_withdraws_ones_live_proposals_and_co_authorships(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    intent = market["intent"]
    own = proposal(intent, market["alice"])
    others = proposal_submit(
        member=market["bob"], intent=intent, message="x", coauthors=[market["alice"]]
    )
    elsewhere = OrganizationFactory()
    Membership.objects.create(organization=elsewhere, user=market["alice"])
    kept = proposal(internal_intent(elsewhere, org_member(elsewhere)), market["alice"])
    leaving = Membership.objects.get(organization=market["organization"], user=market["alice"])

    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(actor=market["alice"], membership=leaving)

    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {
        own.pk: Offer.Status.WITHDRAWN,
        others.pk: Offer.Status.SUBMITTED,
        kept.pk: Offer.Status.SUBMITTED,  # another organization's RFP
    }
    assert not ProposalCoauthor.objects.filter(offer=others).exists()


def test_a_poster_who_leaves_has_their_open_rfps_withdrawn_and_proposals_answered(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    intent = market["intent"]
    waiting = proposal(intent, market["alice"])
    leaving = Membership.objects.get(organization=market["organization"], user=market["poster"])

    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(actor=market["poster"], membership=leaving)

    intent.refresh_from_db()
    waiting.refresh_from_db()
    assert intent.status == Intent.Status.WITHDRAWN
    assert (waiting.status, waiting.decline_reason) == ("declined", REASON_POSTER_LEFT)


def test_a_poster_who_left_sees_the_rfp_in_my_intents_without_a_link_to_the_members_page(
    market: dict[str, Any], client: Client
) -> None:
    intent = market["intent"]
    leaving = Membership.objects.get(organization=market["organization"], user=market["poster"])
    membership_remove(actor=market["poster"], membership=leaving)
    client.force_login(market["poster"])

    page = client.get("/intents/").content.decode()

    assert intent.title in page
    assert "you left the organization" in page
    assert f"/intents/{intent.pk}/" not in page
    assert client.get(f"/intents/{intent.pk}/", follow=True).status_code == 404  # the link's end


def test_a_co_author_exports_the_proposals_they_co_authored(market: dict[str, Any]) -> None:
    made = proposal_submit(
        member=market["alice"],
        intent=market["intent"],
        message="Together",
        coauthors=[market["bob"]],
    )
    coauthor_confirm(member=market["bob"], proposal=made)

    document = export_user_data(market["bob"])

    assert [(p["@id"], p["ic:role"], p["description"]) for p in document["proposals"]] == [
        (f"urn:intentcast:offer:{made.pk}", "co-author", "Together")
    ]


def test_a_deleted_member_leaves_no_words_in_their_proposals(market: dict[str, Any]) -> None:
    live = proposal_submit(
        member=market["alice"], intent=market["intent"], message="ALICEMSG", approach="ALICEWAY",
        estimate="ALICEEST",
    )  # fmt: skip

    account_delete(user=market["alice"])

    live.refresh_from_db()
    assert (live.status, live.message, live.approach, live.estimate) == (
        Offer.Status.WITHDRAWN, "[deleted]", "", "",
    )  # fmt: skip


def test_a_new_proposal_marks_the_rfp_unread_for_the_poster(market: dict[str, Any]) -> None:
    proposal_submit(member=market["alice"], intent=market["intent"], message="Hi")

    market["intent"].refresh_from_db()
    assert market["intent"].is_unread is True


def test_an_account_deletion_withdraws_live_proposals(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])

    account_delete(user=market["alice"])

    made.refresh_from_db()
    assert made.status == Offer.Status.WITHDRAWN


def test_undecided_proposals_are_declined_14_days_after_the_deadline(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    intent = market["intent"]
    proposal(intent, market["alice"])
    Intent.objects.filter(pk=intent.pk).update(
        status=Intent.Status.CLOSED, closed_at=timezone.now() - timedelta(days=13)
    )
    assert proposals_decline_undecided() == 0

    Intent.objects.filter(pk=intent.pk).update(closed_at=timezone.now() - timedelta(days=15))
    with django_capture_on_commit_callbacks(execute=True):
        first = proposals_decline_undecided()
    again = proposals_decline_undecided()

    assert (first, again) == (1, 0)
    assert Offer.objects.get().decline_reason == REASON_NO_DECISION
    assert [m.to for m in mail.outbox] == [[market["alice"].email]]
    assert REASON_NO_DECISION in mail.outbox[0].body


# --- What a second look found -----------------------------------------------------------


@pytest.mark.parametrize("share", ["1e30", "9" * 29, "NaN", "-Infinity"])
def test_an_out_of_range_share_is_a_clear_error_on_the_award_form(
    client: Client, market: dict[str, Any], share: str
) -> None:
    intent = market["intent"]
    made = proposal(intent, market["alice"])
    client.force_login(market["poster"])

    response = client.post(
        f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/award/",
        {f"share-{made.pk}": share, "confirm": "1"},
        follow=True,
    )

    assert response.status_code == 400  # the form again, with why
    assert f"“{share}” is not a percentage" in response.content.decode()
    assert _state(intent) == ("open", ["submitted"], 0)


def test_a_share_with_a_decimal_comma_reads_as_the_form_allows(
    client: Client, market: dict[str, Any]
) -> None:
    intent = market["intent"]
    first = proposal(intent, market["alice"])
    second = proposal(intent, market["bob"])
    client.force_login(market["poster"])

    client.post(
        f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/award/",
        {f"share-{first.pk}": "33,5", f"share-{second.pk}": "66,5", "confirm": "1"},
    )

    first.refresh_from_db()
    assert (first.status, first.reward_percent) == ("accepted", Decimal("33.50"))


def test_only_the_poster_sees_the_award_preview_that_names_the_proposers(
    client: Client, market: dict[str, Any]
) -> None:
    intent = market["intent"]
    proposal(intent, market["alice"], message="secret plan")
    client.force_login(market["bob"])

    response = client.post(
        f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/award/",
        {"share-x": "100"},
        follow=True,
    )

    assert "Only the poster can award this RFP." in response.content.decode()
    assert market["alice"].username not in response.content.decode()


def test_a_co_author_cannot_drop_off_a_proposal_accepted_meanwhile(
    market: dict[str, Any],
) -> None:
    made = proposal_submit(
        member=market["alice"], intent=market["intent"], message="x", coauthors=[market["bob"]]
    )
    coauthor_confirm(member=market["bob"], proposal=made)
    as_the_page_loaded_it = Offer.objects.get(pk=made.pk)
    proposals_award(intent=market["intent"], poster=market["poster"], shares={str(made.pk): "100"})

    with pytest.raises(DomainError) as refused:
        coauthor_decline(member=market["bob"], proposal=as_the_page_loaded_it)

    assert refused.value.message == "This proposal is accepted."
    assert ProposalCoauthor.objects.filter(offer=made, member=market["bob"]).exists()
    assert RewardEntry.objects.filter(offer=made, member=market["bob"]).exists()


def test_the_authors_percentages_add_up_to_the_proposals_share(market: dict[str, Any]) -> None:
    made = proposal_submit(
        member=market["alice"],
        intent=market["intent"],
        message="x",
        coauthors=[market["bob"], market["carol"]],
    )
    coauthor_confirm(member=market["bob"], proposal=made)
    coauthor_confirm(member=market["carol"], proposal=made)

    entries = proposals_award(
        intent=market["intent"], poster=market["poster"], shares={str(made.pk): "100"}
    )

    assert sum(entry.amount for entry in entries) == Decimal("1000.00")
    assert sorted(entry.percent for entry in entries) == [
        Decimal("33.3333"),
        Decimal("33.3333"),
        Decimal("33.3334"),
    ]


def test_an_rfp_a_moderator_hid_is_not_on_the_members_dashboard(
    client: Client, market: dict[str, Any]
) -> None:
    Intent.objects.filter(pk=market["intent"].pk).update(is_hidden=True)
    client.force_login(market["alice"])

    response = client.get(f"/orgs/{market['organization'].slug}/dashboard/")

    assert response.status_code == 200
    assert market["intent"].title not in response.content.decode()


def test_the_dashboard_lists_what_awaits_a_decision_and_no_closed_rfp_with_none_left(
    client: Client, market: dict[str, Any]
) -> None:
    organization, poster = market["organization"], market["poster"]
    waiting = internal_intent(organization, poster, title="Closed, one proposal waiting")
    settled = internal_intent(organization, poster, title="Closed, every proposal answered")
    proposal(waiting, market["alice"])
    declined = proposal(settled, market["alice"])
    proposal_decline(poster=poster, proposal=declined, reason="Not now")
    Intent.objects.filter(pk__in=[waiting.pk, settled.pk]).update(
        status=Intent.Status.CLOSED, offers_close_at=timezone.now(), closed_at=timezone.now()
    )
    client.force_login(market["alice"])

    page = client.get(f"/orgs/{organization.slug}/dashboard/").content.decode()

    assert market["intent"].title in page  # open
    assert "Closed, one proposal waiting" in page
    assert "Closed, every proposal answered" not in page


def test_a_membership_deleted_in_the_admin_is_cleaned_up_as_one_left_on_the_site(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    org_member(market["organization"], role=Membership.Role.OWNER)
    waiting = proposal(market["intent"], market["alice"])
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    membership = Membership.objects.get(user=market["poster"], organization=market["organization"])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            f"/admin/marketplace/membership/{membership.pk}/delete/", {"post": "yes"}
        )

    assert response.status_code == 302
    market["intent"].refresh_from_db()
    waiting.refresh_from_db()
    assert market["intent"].status == Intent.Status.WITHDRAWN
    assert (waiting.status, waiting.decline_reason) == ("declined", REASON_POSTER_LEFT)


def test_a_clean_up_the_broker_lost_is_done_by_the_sweep(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    intent = market["intent"]
    waiting = proposal(intent, market["alice"])
    co_authored = proposal_submit(
        member=market["bob"], intent=intent, message="x", coauthors=[market["carol"]]
    )
    dave = org_member(market["organization"])
    daves_rfp = internal_intent(market["organization"], dave)
    elsewhere = OrganizationFactory()
    Membership.objects.create(organization=elsewhere, user=market["carol"])
    carols_rfp_elsewhere = internal_intent(elsewhere, market["carol"])
    # Three people gone with no clean-up asked for (the broker was down).
    Membership.objects.filter(
        organization=market["organization"], user__in=[market["alice"], market["carol"], dave]
    ).delete()

    with django_capture_on_commit_callbacks(execute=True):
        cleaned = sweep_departed_members()
    again = sweep_departed_members()

    assert (cleaned, again) == (3, 0)  # three people, once
    statuses = dict(
        Intent.objects.filter(
            pk__in=[intent.pk, daves_rfp.pk, carols_rfp_elsewhere.pk]
        ).values_list("pk", "status")
    )
    assert statuses == {
        intent.pk: Intent.Status.OPEN,
        daves_rfp.pk: Intent.Status.WITHDRAWN,
        carols_rfp_elsewhere.pk: Intent.Status.OPEN,  # carol is still in that organization
    }
    waiting.refresh_from_db()
    co_authored.refresh_from_db()
    assert (waiting.status, co_authored.status) == ("withdrawn", "submitted")
    assert not ProposalCoauthor.objects.filter(offer=co_authored).exists()


def test_the_only_member_of_an_organization_may_leave_it() -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role=Membership.Role.OWNER)

    membership_remove(
        actor=owner, membership=Membership.objects.get(user=owner, organization=organization)
    )

    assert not Membership.objects.filter(organization=organization).exists()


def test_the_last_owner_still_cannot_leave_others_behind(market: dict[str, Any]) -> None:
    owner = org_member(market["organization"], role=Membership.Role.OWNER)

    with pytest.raises(DomainError, match="last owner"):
        membership_remove(
            actor=owner,
            membership=Membership.objects.get(user=owner, organization=market["organization"]),
        )


def test_a_proposal_refused_as_a_whole_says_why(client: Client) -> None:
    # given an RFP whose deadline has passed though the close sweep has not run yet
    organization = OrganizationFactory()
    poster = org_member(organization)
    member = org_member(organization)
    rfp = internal_intent(organization, poster)
    Intent.objects.filter(pk=rfp.pk).update(offers_close_at=timezone.now() - timedelta(minutes=1))
    client.force_login(member)

    # when a colleague sends a proposal
    response = client.post(
        f"/orgs/{organization.slug}/rfps/{rfp.pk}/propose/",
        {"message": "A scheduled script that mails the report."},
    )

    # then nothing is saved, and the page tells them why (it shows the form again)
    html = response.content.decode()
    assert response.status_code == 200
    assert not Offer.objects.filter(intent=rfp).exists()
    assert "A scheduled script that mails the report." in html  # the form is shown again
    assert "The deadline for proposals has passed." in html


def test_a_reminder_whose_sending_failed_goes_on_the_next_run_and_others_still_go(
    market: dict[str, Any], monkeypatch: Any
) -> None:
    failing, other = market["intent"], internal_intent(market["organization"], market["bob"])
    for intent, author in ((failing, market["alice"]), (other, market["carol"])):
        proposal(intent, author)
        Intent.objects.filter(pk=intent.pk).update(
            status=Intent.Status.CLOSED,
            closed_at=timezone.now(),
            offers_close_at=timezone.now() - timedelta(minutes=1),
        )
    real_send = proposal_dispositions.send_mail

    def server_gone_for_the_poster(**kwargs: Any) -> int:
        if kwargs["recipient_list"] == [market["poster"].email]:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return real_send(**kwargs)

    monkeypatch.setattr(proposal_dispositions, "send_mail", server_gone_for_the_poster)
    first = remind_posters()
    monkeypatch.undo()
    second = remind_posters()  # the next hourly run, the mail server back

    assert (first, second) == (1, 1)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [market["bob"].email, market["poster"].email]
    )


def test_the_poster_hears_of_a_new_proposal_once_and_reading_the_rfp_page_is_enough(
    market: dict[str, Any],
) -> None:
    intent, poster = market["intent"], market["poster"]
    proposal_submit(member=market["alice"], intent=intent, message="I can do it")
    mail.outbox.clear()

    buyers_notify_due()  # news: told, as a proposal, with the RFP's own page

    [message] = mail.outbox
    assert message.subject == f"News on your RFP: {intent.title}"
    assert "1 new proposal" in message.body
    assert f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/" in message.body
    proposal_submit(member=market["bob"], intent=intent, message="Me too")
    client = Client()
    client.force_login(poster)
    page = client.get(f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/")
    assert "Me too" in page.content.decode()
    Intent.objects.filter(pk=intent.pk).update(  # two hours on: the hour's gap is over
        buyer_emailed_at=F("buyer_emailed_at") - timedelta(hours=2),
        buyer_activity_at=F("buyer_activity_at") - timedelta(hours=2),
    )
    mail.outbox.clear()

    buyers_notify_due()

    intent.refresh_from_db()
    assert (intent.is_unread, mail.outbox) == (False, [])  # read: no e-mail about it


def test_the_ledger_cuts_the_reward_once_over_all_authors(market: dict[str, Any]) -> None:
    """Largest remainder over every author, not per proposal and then per author: three
    cents at 50/50, the second proposal with two authors, are a cent each (0.015, 0.0075,
    0.0075 exactly), not 0.02 / 0.01 / 0.00."""
    intent = market["intent"]
    Intent.objects.filter(pk=intent.pk).update(reward_amount=Decimal("0.03"))
    intent.refresh_from_db()
    alone = proposal(intent, market["alice"])
    together = proposal(intent, market["bob"])
    ProposalCoauthor.objects.create(
        offer=together, member=market["carol"], confirmed_at=timezone.now()
    )
    shares = {str(alone.pk): "50", str(together.pk): "50"}

    preview, _declined = proposals_award_preview(
        intent=intent, poster=market["poster"], shares=shares
    )
    entries = proposals_award(intent=intent, poster=market["poster"], shares=shares)

    assert sorted((entry.member_id, entry.amount, entry.percent) for entry in entries) == sorted(
        [
            (market["alice"].pk, Decimal("0.01"), Decimal("50.0000")),
            (market["bob"].pk, Decimal("0.01"), Decimal("25.0000")),
            (market["carol"].pk, Decimal("0.01"), Decimal("25.0000")),
        ]
    )
    assert [(row[0].pk, row[2]) for row in preview] == [
        (alone.pk, Decimal("0.01")),
        (together.pk, Decimal("0.02")),
    ]  # the preview sums what the award writes


def test_a_reward_in_yen_is_cut_in_whole_yen(market: dict[str, Any]) -> None:
    """A yen has no cents: 1000 JPY in three equal shares is 334 / 333 / 333, not 333.34 /
    333.33 / 333.33 (a third of a yen cannot be paid)."""
    intent = market["intent"]
    Intent.objects.filter(pk=intent.pk).update(currency="JPY", reward_amount=Decimal(1000))
    intent.refresh_from_db()
    made = [proposal(intent, market[name]) for name in ("alice", "bob", "carol")]
    shares = {str(made[0].pk): "33.34", str(made[1].pk): "33.33", str(made[2].pk): "33.33"}

    preview, _declined = proposals_award_preview(
        intent=intent, poster=market["poster"], shares=shares
    )
    entries = proposals_award(intent=intent, poster=market["poster"], shares=shares)

    assert [entry.amount for entry in entries] == [Decimal(334), Decimal(333), Decimal(333)]
    assert [row[2] for row in preview] == [Decimal(334), Decimal(333), Decimal(333)]
    assert {entry.currency for entry in entries} == {"JPY"}


def test_an_award_reads_the_co_authors_once_however_many_proposals(
    market: dict[str, Any],
) -> None:
    intent = market["intent"]
    shares = {}
    for author, coauthor in (("alice", "bob"), ("bob", "carol"), ("carol", "alice")):
        made = proposal(intent, market[author])
        ProposalCoauthor.objects.create(
            offer=made, member=market[coauthor], confirmed_at=timezone.now()
        )
        shares[str(made.pk)] = "33.34" if not shares else "33.33"

    with CaptureQueriesContext(connection) as captured:
        entries = proposals_award(intent=intent, poster=market["poster"], shares=shares)

    assert len(entries) == 6
    reads = [
        query["sql"]
        for query in captured
        if query["sql"].startswith("SELECT") and 'FROM "offers_proposalcoauthor"' in query["sql"]
    ]
    # The prefetch for the checks and the ledger, and the unconfirmed ones' names.
    assert len(reads) == 2, reads


def test_the_authors_hear_each_one_s_part_of_the_reward_and_an_erased_one_nothing(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    """One send to the authors, a message each (a claim covers one send: a retry tells
    nobody twice),
    with each author's part as the ledger has it; one erased after the award, before the
    e-mail went, is not written to."""
    intent = market["intent"]
    Intent.objects.filter(pk=intent.pk).update(currency="JPY", reward_amount=Decimal(1000))
    intent.refresh_from_db()
    together = proposal(intent, market["alice"])
    for coauthor in ("bob", "carol"):
        ProposalCoauthor.objects.create(
            offer=together, member=market[coauthor], confirmed_at=timezone.now()
        )
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=False) as after_award:
        proposals_award(intent=intent, poster=market["poster"], shares={str(together.pk): "100"})
    account_delete(user=market["carol"])
    mail.outbox.clear()  # the erasure's own e-mails, if any
    for callback in after_award:
        callback()

    told = [m for m in mail.outbox if "accepted" in m.subject]
    # One message each: no author sees another's address.
    assert sorted(m.to for m in told) == sorted([[market["alice"].email], [market["bob"].email]])
    for message in told:
        assert f"{market['alice'].username}: 334 JPY (33.3334%)" in message.body
        assert f"{market['bob'].username}: 333 JPY (33.3333%)" in message.body


def test_an_accepted_proposal_has_no_vendor_to_rate(market: dict[str, Any]) -> None:
    made = proposal(market["intent"], market["alice"])
    proposals_award(intent=market["intent"], poster=market["poster"], shares={str(made.pk): "100"})
    made.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        rating_create(buyer=market["poster"], offer=made, stars=5)

    assert refused.value.message == "A colleague's proposal has no vendor to rate."
    assert not Rating.objects.exists()


@pytest.mark.parametrize("meanwhile", ["own live proposal", "rfp withdrawn"])
def test_a_proposal_refused_from_a_page_opened_before_says_why_and_keeps_the_text(
    market: dict[str, Any], client: Client, meanwhile: str
) -> None:
    """Sent from a page opened before (a second tab; the RFP withdrawn meanwhile): the page
    has no form to show the refusal beside, so it says why above and keeps the text."""
    intent = market["intent"]
    if meanwhile == "own live proposal":
        proposal_submit(member=market["alice"], intent=intent, message="First idea")
    else:
        intent_withdraw_and_decline_offers(intent=intent, buyer=market["poster"])
    client.force_login(market["alice"])

    response = client.post(
        f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/propose/",
        {"message": "My careful write-up", "approach": "Step by step"},
    )

    page = response.content.decode()
    reason = {
        "own live proposal": "You already have a live proposal on this RFP.",
        "rfp withdrawn": "This RFP is withdrawn; it takes no proposals.",
    }[meanwhile]
    assert escape(reason) in page
    assert "Your proposal was not sent" in page
    assert ">My careful write-up</textarea>" in page and ">Step by step</textarea>" in page
    assert not Offer.objects.filter(message="My careful write-up").exists()


def _joint_proposal_bob_confirmed(market: dict[str, Any]) -> Offer:
    """Alice's proposal with Bob (who confirmed) and Carol (who has not); no e-mail yet."""
    together = proposal_submit(
        member=market["alice"],
        intent=market["intent"],
        message="Together",
        coauthors=[market["bob"], market["carol"]],
    )
    coauthor_confirm(member=market["bob"], proposal=together)
    mail.outbox.clear()
    return together


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("withdraws", "withdrew it"),
        ("leaves", "its proposer left the organization"),
        ("erases their account", "its proposer deleted their account"),
    ],
)
def test_the_confirmed_co_authors_hear_why_their_joint_proposal_was_withdrawn(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any, how: str, why: str
) -> None:
    """No black hole: every proposal gets an answer, its co-authors' too."""
    alice, bob = market["alice"], market["bob"]
    together = _joint_proposal_bob_confirmed(market)

    with django_capture_on_commit_callbacks(execute=True):
        if how == "withdraws":
            proposal_withdraw(member=alice, proposal=together)
        elif how == "leaves":
            membership_remove(
                actor=alice,
                membership=Membership.objects.get(organization=market["organization"], user=alice),
            )
        else:
            account_delete(user=alice)

    assert Offer.objects.get(pk=together.pk).status == Offer.Status.WITHDRAWN
    told = [m for m in mail.outbox if "joint proposal" in m.subject]
    assert [m.to for m in told] == [[bob.email]]
    assert why in told[0].body and market["intent"].title in told[0].body


def test_a_proposer_revises_their_live_proposal_and_every_revision_is_kept(
    market: dict[str, Any], client: Client
) -> None:
    intent, alice = market["intent"], market["alice"]
    made = proposal_submit(member=alice, intent=intent, message="First idea", estimate="2 days")
    client.force_login(alice)
    page = client.get(f"/orgs/{market['organization'].slug}/rfps/{intent.pk}/").content.decode()
    revise = f"/orgs/{market['organization'].slug}/proposals/{made.pk}/revise/"

    refused = client.post(revise, {"revise-message": "  ", "revise-estimate": "3 days"})
    client.post(revise, {"revise-message": "Better idea", "revise-estimate": "2 days"})

    assert f'action="{revise}"' in page and "\nFirst idea</textarea>" in page
    refused_page = refused.content.decode()
    assert refused.status_code == 200 and 'id="id_revise-message_error"' in refused_page
    assert '<details class="revise" open>' in refused_page  # the error in view
    made.refresh_from_db()
    assert (made.message, made.estimate, made.revision_count) == ("Better idea", "2 days", 1)
    [revision] = made.revisions.all()
    assert revision.changes == {"message": ["First idea", "Better idea"]}
    assert Intent.objects.get(pk=intent.pk).buyer_activity_at is not None  # the poster hears


def test_only_the_proposer_revises_and_only_while_the_rfp_is_open(market: dict[str, Any]) -> None:
    intent = market["intent"]
    made = proposal_submit(member=market["alice"], intent=intent, message="First idea")

    with pytest.raises(DomainError) as by_another:
        proposal_revise(member=market["bob"], proposal=made, message="Mine now")
    Intent.objects.filter(pk=intent.pk).update(offers_close_at=timezone.now())
    with pytest.raises(DomainError) as too_late:
        proposal_revise(member=market["alice"], proposal=made, message="Late idea")

    assert by_another.value.kind == "forbidden" and too_late.value.kind == "conflict"
    assert Offer.objects.get(pk=made.pk).message == "First idea"


def test_a_revision_refused_from_a_page_opened_before_says_why_and_keeps_the_text(
    market: dict[str, Any], client: Client
) -> None:
    """Sent from a page opened before the poster declined the proposal: no revise form to
    show the refusal beside, so the page says why above and keeps the text."""
    intent, alice, slug = market["intent"], market["alice"], market["organization"].slug
    made = proposal_submit(member=alice, intent=intent, message="First idea")
    proposal_decline(poster=market["poster"], proposal=made, reason="Not this time")
    client.force_login(alice)

    page = client.post(
        f"/orgs/{slug}/proposals/{made.pk}/revise/",
        {"revise-message": "My careful rewrite", "revise-approach": "Step by step"},
    ).content.decode()

    assert "A declined proposal cannot be revised." in page
    assert "Your proposal was not sent" in page
    assert ">My careful rewrite</textarea>" in page and ">Step by step</textarea>" in page
    assert Offer.objects.get(pk=made.pk).message == "First idea"


def test_a_closed_rfp_offers_no_revise_form(market: dict[str, Any], client: Client) -> None:
    intent, alice, slug = market["intent"], market["alice"], market["organization"].slug
    made = proposal_submit(member=alice, intent=intent, message="First idea")
    client.force_login(alice)
    revise = f"/orgs/{slug}/proposals/{made.pk}/revise/"
    open_page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/").content.decode()
    Intent.objects.filter(pk=intent.pk).update(
        status=Intent.Status.CLOSED, offers_close_at=timezone.now(), closed_at=timezone.now()
    )

    closed_page = client.get(f"/orgs/{slug}/rfps/{intent.pk}/").content.decode()

    assert revise in open_page and revise not in closed_page


def test_a_refused_proposal_keeps_everything_typed_and_an_unchanged_revision_says_so(
    market: dict[str, Any], client: Client
) -> None:
    intent, alice, slug = market["intent"], market["alice"], market["organization"].slug
    made = proposal_submit(member=alice, intent=intent, message="First idea")
    client.force_login(alice)

    refused = client.post(
        f"/orgs/{slug}/rfps/{intent.pk}/propose/",
        {"message": "Again", "estimate": "5 person-days", "coauthors": market["bob"].username},
    ).content.decode()
    unchanged = client.post(
        f"/orgs/{slug}/proposals/{made.pk}/revise/", {"revise-message": "First idea"}, follow=True
    ).content.decode()

    assert ">5 person-days</textarea>" in refused
    assert f">{market['bob'].username}</textarea>" in refused
    assert "Nothing changed: the proposal stays as it was." in unchanged
    assert "Proposal revised." not in unchanged


def test_the_confirmed_co_authors_hear_that_their_joint_proposal_was_revised(
    market: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    alice, bob = market["alice"], market["bob"]
    together = _joint_proposal_bob_confirmed(market)

    with django_capture_on_commit_callbacks(execute=True):
        proposal_revise(member=alice, proposal=together, message="Together, better")
        proposal_revise(member=alice, proposal=together, message="Together, better")  # no change

    told = [m for m in mail.outbox if "was revised" in m.subject]
    assert [m.to for m in told] == [[bob.email]]
    assert alice.username in told[0].body
