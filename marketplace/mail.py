"""Sending e-mail: one message to each recipient, with a subject that is always one line.

A subject is built from what people typed (an intent's title, an organization's
name); a line break in it makes Django refuse the whole message (BadHeaderError),
so every e-mail about that thing would fail, again on each retry.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import transaction

logger = logging.getLogger(__name__)


def send_mail(subject: str, message: str, from_email: str | None, recipient_list: Any) -> int:
    """The same e-mail to each recipient, one message each (over one connection): none sees
    the others' addresses, which are each person's own to share (a vendor's staff, a
    proposal's authors). A failure part-way leaves the messages before it sent: a caller
    that tries again sends those twice (at least once, never an address shown)."""
    messages = [
        mail.EmailMessage(
            subject=" ".join(subject.split()),
            body=message,
            from_email=from_email,
            to=[recipient],
        )
        for recipient in dict.fromkeys(recipient_list)
    ]
    return mail.get_connection().send_messages(messages) or 0


def send_mail_after_commit(*, subject: str, message: str, recipient_list: list[str]) -> None:
    """Send once the caller's transaction commits, one message to each recipient. A
    failure is logged, never raised: what the request saved stands, and its answer is not
    an error after the commit."""

    def send() -> None:
        try:
            send_mail(
                subject=subject,
                message=message,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipient_list,
            )
        except Exception:
            logger.exception("An e-mail after commit was not sent: %s", " ".join(subject.split()))

    transaction.on_commit(send)


def write_to_support(why: str) -> str:
    """ "Write to <SUPPORT_EMAIL> to …" as a paragraph, or nothing when no address is set:
    the e-mails come from an address nobody reads."""
    if not settings.SUPPORT_EMAIL:
        return ""
    return f"\n\nWrite to {settings.SUPPORT_EMAIL} {why}."
