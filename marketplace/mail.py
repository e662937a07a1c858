"""Sending e-mail: Django's ``send_mail``, with a subject that is always one line.

A subject is built from what people typed (an intent's title, an organization's
name); a line break in it makes Django refuse the whole message (BadHeaderError),
so every e-mail about that thing would fail, again on each retry.
"""

from __future__ import annotations

from typing import Any

from django.core import mail


def send_mail(
    subject: str, message: str, from_email: str | None, recipient_list: Any, **options: Any
) -> int:
    return mail.send_mail(
        subject=" ".join(subject.split()),
        message=message,
        from_email=from_email,
        recipient_list=recipient_list,
        **options,
    )
