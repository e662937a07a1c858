"""The buyer owns their data: export and erasure, collected from every app.

Each app contributes its own part in ``AppConfig.ready()`` through
:func:`register` — the way Django's checks framework collects checks — so
this module never imports the apps above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.models import AuditEntry, User, Vendor, VendorBlock
from marketplace.services import vendor_update

# An exporter adds its nodes to the document being built (and may enrich
# nodes added by a lower layer, e.g. offers attach to each Demand).
Exporter = Callable[[User, dict[str, Any]], None]
Eraser = Callable[[User], None]

CONTEXT = [
    "https://schema.org/",
    {
        "ic": "urn:intentcast:vocab#",
        "status": "ic:status",
        "offersReceived": "ic:offersReceived",
        "questions": "ic:questions",
        "termsAgreements": "ic:termsAgreements",
        "terms": "ic:terms",
        "auditLog": "ic:auditLog",
        "blockedVendors": "ic:blockedVendors",
        "pseudonym": "ic:pseudonym",
        "experience": "ic:experience",
        "outcome": "ic:outcome",
        "proposals": "ic:proposals",
        "rewards": "ic:rewards",
        # Keyed by a buyer's own words (a criterion named "ID" or "Type" would be read as
        # a node's @id or @type): kept as JSON, not read as linked data.
        "ic:criteriaAnswers": {"@type": "@json"},
        "@version": 1.1,
    },
]


@dataclass(frozen=True)
class Part:
    name: str
    export: Exporter | None
    erase: Eraser | None
    order: int  # erasers run from the highest layer down


_parts: dict[str, Part] = {}


def register(
    *, name: str, export: Exporter | None = None, erase: Eraser | None = None, order: int = 0
) -> None:
    _parts[name] = Part(name=name, export=export, erase=erase, order=order)


def audit(*, user_id: Any, action: str, detail: str) -> AuditEntry:
    """Log what was done with the person's data (by id: the caller may not have the row)."""
    return AuditEntry.objects.create(user_id=user_id, action=action, detail=detail[:300])


def person_node(user: User) -> dict[str, Any]:
    return {
        "@type": "Person",
        "@id": f"urn:intentcast:person:{user.pk}",
        "identifier": user.get_username(),
        "email": user.email,
        "name": user.get_full_name() or user.get_username(),
        "memberOf": [],
    }


def export_user_data(user: User) -> dict[str, Any]:
    """One JSON-LD document (schema.org) with everything the person created or received."""
    document: dict[str, Any] = {"@context": CONTEXT, **person_node(user)}
    for part in sorted(_parts.values(), key=lambda part: part.order):
        if part.export is not None:
            part.export(user, document)
    audit(user_id=user.pk, action=AuditEntry.Action.DATA_EXPORTED, detail="Exported all your data.")
    return document


def _export_marketplace(user: User, document: dict[str, Any]) -> None:
    document |= {
        "auditLog": [
            {
                "@type": "Action",
                "name": entry.get_action_display(),
                "description": entry.detail,
                "startTime": entry.created_at.isoformat(),
            }
            for entry in user.audit_entries.all()
        ],
        "blockedVendors": [
            {"@type": "Organization", "name": block.vendor.name, "identifier": block.vendor.slug}
            for block in VendorBlock.objects.filter(buyer=user).select_related("vendor")
        ],
    }


# An erased account's address: no mail can reach it (RFC 2606's .invalid).
ERASED_EMAIL_DOMAIN = "@deleted.invalid"


def _erase_marketplace(user: User) -> None:
    # The login guard keeps a log of log-ins and failures under what was typed: the
    # username or the e-mail address, in any case.
    typed = Q(username__iexact=user.get_username()) | Q(username__iexact=user.email)
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(typed).delete()
    if user.vendor_id is not None:
        _vendor_lets_go_of(user)
    marker = f"deleted-{user.pk}-{timezone.now():%Y%m%d%H%M%S}"
    user.username = marker
    user.email = f"{marker}{ERASED_EMAIL_DOMAIN}"
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    # A new, unusable password also changes the session hash: every session
    # of this account stops being valid at once.
    user.set_unusable_password()
    user.save()
    AuditEntry.objects.filter(user=user).delete()
    VendorBlock.objects.filter(buyer=user).delete()
    admin_log_forget(User, [user.pk])


def _vendor_lets_go_of(user: User) -> None:
    """A vendor's staff member is erased: their address stops being the vendor's contact.

    The vendor's e-mails go to the longest-standing staff member left instead. With none
    left, the vendor is paused: nobody could log in to answer, or to pause it, while
    its notices kept taking places among the vendors each buyer's intent reaches.
    """
    vendor = Vendor.objects.get(pk=user.vendor_id)
    left = (
        User.objects.filter(vendor=vendor, is_active=True)
        .exclude(pk=user.pk)
        .order_by("date_joined", "pk")
        .first()
    )
    changes: dict[str, object] = {}
    if vendor.contact_email.lower() == user.email.lower():
        changes["contact_email"] = left.email if left is not None else ""
    if left is None:
        changes["is_paused"] = True
    if changes:
        # As any change of the profile: a new contact address withdraws the verified badge.
        vendor_update(vendor=vendor, **changes)


def admin_log_forget(model: type[Any], pks: Iterable[Any]) -> None:
    """Delete the admin log's entries about these rows: each names its row (an intent's
    title, an offer's "vendor → title"), which may be the person's words."""
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        object_id__in=[str(pk) for pk in pks],
    ).delete()


register(name="marketplace", export=_export_marketplace, erase=_erase_marketplace, order=0)


def account_delete(*, user: User) -> None:
    """Erase the person: every app removes or anonymizes its part, then the account itself.

    Vendors keep their own records (offers, agreements), anonymized.
    """
    with transaction.atomic():
        # The person's row first, as a publication locks it before its intent: the two
        # wait for each other, and never deadlock.
        list(User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk"))
        for part in sorted(_parts.values(), key=lambda part: -part.order):
            if part.erase is not None:
                part.erase(user)
