"""Matching an intent to vendors: notices, their events, and the e-mails to vendor staff.

Idempotency: the intent row is locked while its notices are made, and a
Notice is unique per (intent, vendor), so running the task twice — or again
after a worker died mid-way, whose transaction simply rolled back — makes no
second notice and emits no second ``intent.matched`` event.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, When
from django.utils import timezone

from intents.matching import (
    UNDER_CAPACITY_SQL,
    Candidate,
    match_candidates,
    related_category_ids,
    under_capacity,
)
from intents.models import Intent, Notice
from intents.payloads import intent_for_vendor
from intents.selectors import intent_ids_mentioning_any
from marketplace import clock
from marketplace.codes import WORLDWIDE
from marketplace.events import NewEvent, emit_many, emit_shared
from marketplace.links import absolute_url
from marketplace.mail import send_mail
from marketplace.models import Event, Membership, SkillProfile, User, Vendor, VendorBlock
from marketplace.queue import enqueue_on_commit
from marketplace.selectors import category_tree, vendor_mail_recipients

logger = logging.getLogger(__name__)

# One e-mail task per intent: the cap on vendors per intent is 200 (MAX_VENDORS_LIMIT).
EMAIL_BATCH = 200


def intent_match(*, intent_id: Any) -> list[NoticeMade]:
    """Notice the best matching vendors not yet noticed, up to the intent's cap."""
    with transaction.atomic():
        # The intent's row alone: locking its category too would queue every matching
        # and every new intent of that category behind this one.
        intent = (
            Intent.objects.select_for_update(of=("self",))
            .select_related("category")
            .get(pk=intent_id)
        )
        if not intent.takes_offers or intent.is_hidden:
            Intent.objects.filter(pk=intent.pk).update(needs_matching=False)
            return []
        room = intent.max_vendors - Notice.objects.filter(intent=intent).count()
        candidates = _claim_capacity(match_candidates(intent, limit=room))
        notices = _notices_insert(intent, candidates)
        vendor_notices = [notice for notice in notices if notice.vendor_id is not None]
        if vendor_notices:
            emit_shared(
                type="intent.matched",
                shared={"intent": intent_for_vendor(intent)},
                each=[
                    (
                        notice.vendor_id,
                        # Per notice: a vendor noticed again (unblocked, invited
                        # again) hears of its new notice.
                        f"intent.matched:{intent.pk}:{notice.pk}",
                        {"notice": str(notice.pk), "reasons": notice.reasons},
                    )
                    for notice in vendor_notices
                ],
            )
        if notices:
            # Vendors' staff and members alike are told by e-mail.
            ids = [str(notice.pk) for notice in notices]
            for start in range(0, len(ids), EMAIL_BATCH):
                enqueue_on_commit("intents.send_notice_emails", ids[start : start + EMAIL_BATCH])
        Intent.objects.filter(pk=intent.pk).update(needs_matching=False)
    return notices


class NoticeMade(NamedTuple):
    """A notice :func:`intent_match` saved (model instances cost more than the insert)."""

    pk: Any
    vendor_id: Any
    member_id: Any
    reasons: list[str]


def _notices_insert(intent: Intent, candidates: list[Candidate]) -> list[NoticeMade]:
    """Save a notice per candidate. On PostgreSQL, one statement, the rows as one JSON document.

    ``bulk_create`` builds a model instance per row and prepares every value in
    Python: for two hundred notices, more time than the database's own work.
    """
    listed = intent.is_listed_for_vendors
    made = [
        NoticeMade(uuid.uuid4(), candidate.vendor_id, candidate.member_id, candidate.reasons)
        for candidate in candidates
    ]
    if not made:
        return []
    now = timezone.now()
    if connection.vendor != "postgresql":
        Notice.objects.bulk_create(
            Notice(
                id=notice.pk,
                intent=intent,
                vendor_id=notice.vendor_id,
                member_id=notice.member_id,
                reasons=notice.reasons,
                score=candidate.score,
                listed=listed and notice.vendor_id is not None,
                closes_at=intent.offers_close_at,
                created_at=now,
            )
            for notice, candidate in zip(made, candidates, strict=True)
        )
        return made
    table = connection.ops.quote_name(Notice._meta.db_table)
    # The rows travel as one JSON document: psycopg quotes a list element by element,
    # which for two hundred notices cost more than the insert itself.
    rows = [
        [
            str(notice.pk),
            notice.vendor_id and str(notice.vendor_id),
            notice.member_id,
            notice.reasons,
            candidate.score,
        ]
        for notice, candidate in zip(made, candidates, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, intent_id, vendor_id, member_id, reasons, score, state,"
            " attempts, created_at, listed, closes_at)"
            " SELECT (row->>0)::uuid, %s, (row->>1)::uuid, (row->>2)::bigint, row->3,"
            " (row->>4)::float8, %s, 0, %s, %s AND row->>1 IS NOT NULL, %s"
            " FROM jsonb_array_elements(%s::jsonb) AS row",
            [
                intent.pk,
                Notice.State.PENDING,
                now,
                listed,
                intent.offers_close_at,
                json.dumps(rows),
            ],
        )
    return made


def _claim_capacity(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates whose vendor was still under today's capacity, each such vendor's
    notice already counted towards it. The vendors' rows are locked in id order until
    commit, so two matchings at once cannot both take a vendor's last place. Members
    have no capacity.

    NO KEY locks: the vendor's own writes that only point at its row (an offer, an
    event) need not wait for this matching.
    """
    vendor_ids = sorted({str(c.vendor_id) for c in candidates if c.vendor_id is not None})
    if not vendor_ids:
        return candidates
    today = clock.today()
    if connection.vendor == "postgresql":
        # One statement (the ids as one JSON document) where the ORM takes two, each
        # quoting two hundred ids: a fifth of a fan-out's time went to that.
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_CAPACITY_SQL, {"ids": json.dumps(vendor_ids), "today": today})
            claimed = {str(vendor_id) for (vendor_id,) in cursor.fetchall()}
    else:
        claimed = {
            str(vendor_id)
            for vendor_id in Vendor.objects.select_for_update(no_key=True)
            .filter(pk__in=vendor_ids)
            .filter(under_capacity(today))
            .order_by("pk")
            .values_list("pk", flat=True)
        }
        Vendor.objects.filter(pk__in=claimed).update(
            notices_today=Case(When(notices_day=today, then=F("notices_today") + 1), default=1),
            notices_day=today,
        )
    return [c for c in candidates if c.vendor_id is None or str(c.vendor_id) in claimed]


# The capacity rule, and its count, in SQL. The lock's recheck of the rule
# sees a concurrent matching's count once that one commits.
_CLAIM_CAPACITY_SQL = f"""
UPDATE marketplace_vendor AS v
SET notices_today = CASE WHEN v.notices_day = %(today)s THEN v.notices_today + 1 ELSE 1 END,
    notices_day = %(today)s
FROM (SELECT id FROM marketplace_vendor
      WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(%(ids)s::jsonb))
        AND {UNDER_CAPACITY_SQL}
      ORDER BY id
      FOR NO KEY UPDATE) AS claimed
WHERE v.id = claimed.id
RETURNING v.id
"""


# A catch-up asked for this long ago and still not done was lost (broker down, worker
# killed): the beat's sweep asks again. Most take a second or two.
CATCH_UP_GRACE = timedelta(minutes=2)


def catch_ups_awaiting(*, limit: int = 500) -> tuple[list[str], list[int]]:
    """Vendors and people whose catch-up was asked for and has not run (the outbox sweep).

    Each is marked asked again now: the next sweeps leave it alone for the grace
    (a queue running late gets one copy, not one a minute), and it goes behind
    those waiting longer (one that keeps failing does not hold up the others).
    """
    now = timezone.now()
    vendor_ids = _ask_again(Vendor, "pk", now, limit)
    user_ids = _ask_again(SkillProfile, "user_id", now, limit)
    return [str(pk) for pk in vendor_ids], user_ids


def _ask_again(
    model: type[Vendor] | type[SkillProfile], key: str, now: Any, limit: int
) -> list[Any]:
    """The ``key`` of each row waiting longer than the grace, oldest first, marked asked now."""
    waiting = model.objects.filter(catch_up_requested_at__lte=now - CATCH_UP_GRACE)
    keys = list(waiting.order_by("catch_up_requested_at").values_list(key, flat=True)[:limit])
    waiting.filter(**{f"{key}__in": keys}).update(catch_up_requested_at=now)
    return keys


# Matching asked for and not done this long after was lost (broker down, worker
# killed): the beat's sweep asks again; and again after MATCH_ASK_AGAIN while it waits.
MATCH_GRACE = timedelta(seconds=30)
MATCH_ASK_AGAIN = timedelta(minutes=5)


def matching_asked(now: datetime) -> dict[str, Any]:
    """The columns that ask for an intent's matching (the outbox), to save with the change
    that asks for it."""
    return {"needs_matching": True, "match_again_at": now + MATCH_GRACE}


def intents_to_match_again(*, now: datetime, limit: int = 500) -> list[str]:
    """Open intents whose matching was asked for and is overdue (the outbox sweep), oldest
    first, each marked asked again: not again before ``MATCH_ASK_AGAIN``."""
    due = Intent.objects.filter(needs_matching=True, status=Intent.Status.OPEN).filter(
        # Asked before the column was kept: by the time of the asking change.
        Q(match_again_at__lte=now)
        | Q(match_again_at__isnull=True, updated_at__lte=now - MATCH_GRACE)
    )
    with transaction.atomic():
        # Claimed under lock: a second sweep at the same time skips these rows, and one
        # after this commits finds them asked again.
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("match_again_at", "updated_at")
            .values_list("pk", flat=True)[:limit]
        )
        Intent.objects.filter(pk__in=ids).update(match_again_at=now + MATCH_ASK_AGAIN)
    return [str(pk) for pk in ids]


# Notices whose e-mail did not go — the broker was down when matching committed, or
# sending failed — are sent again by the beat after this grace, while recent and open.
NOTICE_EMAIL_GRACE = timedelta(minutes=5)
NOTICE_EMAIL_WINDOW = timedelta(days=3)
NOTICE_EMAIL_ATTEMPTS = 3  # in all, for a notice whose sending fails
NOTICE_EMAIL_CLAIM = timedelta(minutes=10)  # a worker's hold on a notice while it sends


def notices_due_for_email(*, limit: int = 1000) -> list[str]:
    """Ids of notices whose e-mail should go again (the outbox sweep); failed ones are pending again."""
    now = timezone.now()
    due = list(
        Notice.objects.filter(
            Q(state=Notice.State.PENDING)
            | Q(state=Notice.State.FAILED, attempts__lt=NOTICE_EMAIL_ATTEMPTS),
            Q(email_claimed_until__isnull=True) | Q(email_claimed_until__lt=now),
            created_at__lte=now - NOTICE_EMAIL_GRACE,
            created_at__gte=now - NOTICE_EMAIL_WINDOW,
            intent__status=Intent.Status.OPEN,
            intent__is_hidden=False,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    Notice.objects.filter(pk__in=due, state=Notice.State.FAILED).update(state=Notice.State.PENDING)
    return [str(pk) for pk in due]


def notice_send_email(*, notice_id: Any) -> None:
    """Tell the vendor's staff (or the member) by e-mail. At least once: sent, then marked
    delivered; claimed first, so two workers holding the same notice send it once."""
    now = timezone.now()
    claimed = (
        Notice.objects.filter(pk=notice_id, state=Notice.State.PENDING)
        .filter(Q(email_claimed_until__isnull=True) | Q(email_claimed_until__lt=now))
        .update(email_claimed_until=now + NOTICE_EMAIL_CLAIM)
    )
    if not claimed:
        return
    notice = Notice.objects.select_related(
        "intent", "intent__organization", "vendor", "member"
    ).get(pk=notice_id)
    if not _still_to_tell(notice):
        # Not to be sent any more: out of the sweep's way for good.
        Notice.objects.filter(pk=notice.pk, state=Notice.State.PENDING).update(
            state=Notice.State.FAILED, attempts=NOTICE_EMAIL_ATTEMPTS
        )
        return
    subject, body, recipients = (
        _member_notice_email(notice) if notice.member is not None else _vendor_notice_email(notice)
    )
    try:
        send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    except SoftTimeLimitExceeded:
        # The task's time is up, not the mail server's fault: let go, uncounted.
        Notice.objects.filter(pk=notice.pk).update(email_claimed_until=None)
        raise
    except Exception:
        logger.exception("E-mail for notice %s failed", notice.pk)
        Notice.objects.filter(pk=notice.pk, state=Notice.State.PENDING).update(
            attempts=F("attempts") + 1, state=Notice.State.FAILED, email_claimed_until=None
        )
        return
    Notice.objects.filter(pk=notice.pk, state=Notice.State.PENDING).update(
        attempts=F("attempts") + 1, state=Notice.State.DELIVERED
    )


def _vendor_notice_email(notice: Notice) -> tuple[str, str, list[str]]:
    recipients = vendor_mail_recipients(notice.vendor)
    intent = notice.intent
    body = (
        f"{intent.pseudonym} published an intent that matches {notice.vendor.name}:\n\n"
        f"  {intent.title}\n"
        f"  Offers close {intent.offers_close_at:%Y-%m-%d %H:%M} UTC\n"
        f"  Why you: {notice.reasons_text}\n\n"
        "Your integration reads it, and answers it, through the API with your API key:\n"
        f"  GET {absolute_url('api:intent-detail', intent.pk)}\n"
        f'  POST {absolute_url("api:offer-list")} with "intent": "{intent.pk}"\n\n'
        f"How, in the API's documentation: {absolute_url('api:docs')}\n"
    )
    return f"New intent for you: {intent.title}", body, recipients


def _still_to_tell(notice: Notice) -> bool:
    """An e-mail that waited (the broker was down, sending failed) goes only while it still
    applies: the intent taking offers and not hidden, the member still in the organization."""
    intent = notice.intent
    if not intent.takes_offers or intent.is_hidden:
        return False
    if notice.member is not None:
        return Membership.objects.filter(
            organization_id=intent.organization_id, user=notice.member
        ).exists()
    return not notice.vendor.is_suspended


def _member_notice_email(notice: Notice) -> tuple[str, str, list[str]]:
    intent = notice.intent
    organization = intent.organization
    body = (
        f"A colleague in {organization.name} posted an RFP that matches your skills:\n\n"
        f"  {intent.title}\n"
        f"  Reward: {intent.reward_text}\n"
        f"  Proposals close {intent.offers_close_at:%Y-%m-%d %H:%M} UTC\n"
        f"  Why you: {notice.reasons_text}\n\n"
        f"Read it and propose: {absolute_url('offers:rfp', organization.slug, intent.pk)}\n"
    )
    subject = f"An RFP for you in {organization.name}: {intent.title}"
    return subject, body, [notice.member.email]


def notice_mark_read(*, notice: Notice) -> Notice:
    Notice.objects.filter(pk=notice.pk, read_at__isnull=True).update(read_at=timezone.now())
    notice.refresh_from_db(fields=["read_at"])
    return notice


def member_notice_mark_read(*, intent: Intent, member: User) -> None:
    """The member opened an internal RFP they were matched to: their notice is read."""
    Notice.objects.filter(intent=intent, member=member, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def intent_events_no_longer_to_tell(events: list[Event]) -> set[int]:
    """The events about an intent its vendor may no longer read: a moderator hid it, or
    its buyer blocked the vendor (the notice is gone). Two queries, whatever the events.

    Their webhooks are dropped and the feed passes over them, as the notice e-mails are
    not sent. An offer's fate is told whatever became of its intent.
    """
    about: dict[int, uuid.UUID] = {}
    for event in events:
        if event.type.startswith("intent."):
            intent = event.payload.get("intent")
            intent_id = intent.get("id") if isinstance(intent, dict) else None
        elif event.type == "question.answered":
            question = event.payload.get("question")
            intent_id = question.get("intent") if isinstance(question, dict) else None
        else:
            continue
        try:
            about[event.id] = uuid.UUID(str(intent_id))
        except ValueError:
            continue  # names no intent: nothing here to refuse it for
    if not about:
        return set()
    hidden = dict(Intent.objects.filter(pk__in=set(about.values())).values_list("pk", "is_hidden"))
    vendor_of = {event.id: event.vendor_id for event in events}
    noticed = set(
        Notice.objects.filter(
            intent_id__in=set(about.values()), vendor_id__in=set(vendor_of.values())
        ).values_list("intent_id", "vendor_id")
    )
    return {
        event_id
        for event_id, intent_id in about.items()
        if intent_id in hidden  # an intent deleted since: nothing here to refuse it for
        and (hidden[intent_id] or (intent_id, vendor_of[event_id]) not in noticed)
    }


def emit_to_noticed_vendors(
    *, intent: Intent, type: str, payload: dict[str, Any], dedupe_key: str
) -> None:
    """Tell every vendor noticed about ``intent``; call inside the changing transaction.

    Members noticed about an internal intent get no vendor events, and nobody hears
    of an intent a moderator hid (its buyer may still edit it).
    """
    if intent.organization_id is not None or intent.is_hidden:
        return
    emit_many(
        NewEvent(vendor_id=vendor_id, type=type, payload=payload, dedupe_key=dedupe_key)
        for vendor_id in Notice.objects.filter(intent=intent, vendor__isnull=False).values_list(
            "vendor_id", flat=True
        )
    )


CATCH_UP_LIMIT = 100


def vendor_catch_up(*, vendor_id: Any, requested_only: bool = False) -> int:
    """A new or changed vendor profile: match it against intents already open.

    Runs the ordinary matching on each open intent the vendor could serve, so
    every rule, the cap and the ranking apply as if it had been there at
    publication. Returns how many notices this vendor got. The request recorded
    with it (``catch_up_requested_at``) is then done, unless another came meanwhile.
    ``requested_only`` (the task): nothing to do when no request waits, say the
    sweep's copy of one another run already did.
    """
    vendor = Vendor.objects.filter(pk=vendor_id).prefetch_related("categories").first()
    if vendor is None or (requested_only and vendor.catch_up_requested_at is None):
        return 0
    made = 0 if vendor.is_paused or vendor.is_suspended else _vendor_catch_up(vendor)
    _catch_up_done(vendor)
    return made


def _catch_up_done(row: Vendor | SkillProfile) -> None:
    """The request the catch-up read is done; one made meanwhile stays for its own run."""
    if row.catch_up_requested_at is not None:
        type(row).objects.filter(pk=row.pk, catch_up_requested_at=row.catch_up_requested_at).update(
            catch_up_requested_at=None
        )


def _vendor_catch_up(vendor: Vendor) -> int:
    category_ids: set[int] = set()
    tree = category_tree()
    for category in vendor.categories.all():
        category_ids |= related_category_ids(category.pk, tree)
    candidates = (
        Intent.objects.filter(
            # Public ones it may serve, and those whose buyer invited it by name.
            Q(visibility=Intent.Visibility.PUBLIC, category_id__in=category_ids)
            & _public_rules_for(vendor)
            | Q(
                visibility=Intent.Visibility.INVITED,
                pk__in=Intent.invited_vendors.through.objects.filter(vendor=vendor).values(
                    "intent_id"
                ),
            ),
            status=Intent.Status.OPEN,
            is_hidden=False,
            offers_close_at__gt=timezone.now(),
        )
        .exclude(notices__vendor=vendor)
        # Buyers who blocked the vendor never hear from it, nor do intents that keep it off.
        .exclude(buyer__in=VendorBlock.objects.filter(vendor=vendor).values("buyer_id"))
        .exclude(
            pk__in=Intent.blocked_vendors.through.objects.filter(vendor=vendor).values("intent_id")
        )
        # Room left under the cap: a full intent takes no one more.
        .alias(noticed=Count("notices"))
        .filter(noticed__lt=F("max_vendors"))
        .order_by("offers_close_at", "pk")
    )
    if vendor.keyword_lexemes:
        # The keyword rule binds public intents only: the buyer's invitations first.
        invited = candidates.filter(visibility=Intent.Visibility.INVITED)
        intent_ids = list(invited.values_list("pk", flat=True)[:CATCH_UP_LIMIT])
        if len(intent_ids) < CATCH_UP_LIMIT:
            intent_ids += intent_ids_mentioning_any(
                candidates.filter(visibility=Intent.Visibility.PUBLIC),
                vendor.keyword_lexemes,
                limit=CATCH_UP_LIMIT - len(intent_ids),
            )
    else:
        intent_ids = list(candidates.values_list("pk", flat=True)[:CATCH_UP_LIMIT])
    return _match_each(intent_ids, lambda notice: notice.vendor_id == vendor.pk)


def _public_rules_for(vendor: Vendor) -> Q:
    """The place and deal-size rules, from the vendor's side: the limit of the catch-up
    is spent on intents it may serve, not on the first hundred of its categories.

    With the keyword and block rules (in vendor_catch_up), every rule that depends on
    the vendor and the intent alone; matching still checks them all (and the cap,
    and today's capacity) on each intent it picks.
    """
    rules = Q()
    if WORLDWIDE not in vendor.coverage:
        # Coverage is country codes (a DE-BY region covers DE); remote-only work, worldwide.
        rules &= Q(country__in=vendor.coverage)
    if vendor.deal_size_currency:
        shown = Q(currency=vendor.deal_size_currency, is_budget_hidden=False)
        if vendor.deal_size_max is not None:
            rules &= ~(shown & Q(budget_min__gt=vendor.deal_size_max))
        if vendor.deal_size_min is not None:
            rules &= ~(shown & Q(budget_max__lt=vendor.deal_size_min))
    return rules


def member_catch_up(*, user_id: Any, requested_only: bool = False) -> int:
    """A person joined an organization or changed their skills: match them against its open RFPs.

    As :func:`vendor_catch_up`: the ordinary matching runs on each open internal
    intent of their organizations they were not noticed about (nor posted), so
    every rule, the cap and the ranking apply. Returns how many notices they got,
    and marks the request recorded on their skill profile done (as vendor_catch_up).
    """
    profile = SkillProfile.objects.filter(user_id=user_id).select_related("user").first()
    if profile is None:  # matching notices members for their skills only
        return 0
    if requested_only and profile.catch_up_requested_at is None:
        return 0
    made = _member_catch_up(profile) if profile.user.is_active and profile.skill_lexemes else 0
    _catch_up_done(profile)
    return made


def _member_catch_up(profile: SkillProfile) -> int:
    user, skills = profile.user, profile.skill_lexemes
    candidates = (
        Intent.objects.filter(
            organization__memberships__user=user,
            status=Intent.Status.OPEN,
            is_hidden=False,
            offers_close_at__gt=timezone.now(),
        )
        .exclude(buyer=user)
        .exclude(notices__member=user)
        .order_by("offers_close_at", "pk")
    )
    intent_ids = intent_ids_mentioning_any(candidates, skills, limit=CATCH_UP_LIMIT)
    return _match_each(intent_ids, lambda notice: notice.member_id == user.pk)


def _match_each(intent_ids: list[Any], is_theirs: Callable[[NoticeMade], bool]) -> int:
    """Run the matching on each intent; count the notices made that ``is_theirs``."""
    return sum(
        sum(is_theirs(notice) for notice in intent_match(intent_id=intent_id))
        for intent_id in intent_ids
    )
