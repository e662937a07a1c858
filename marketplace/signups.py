"""Signing up on the web, confirmed by a link e-mailed to the address.

Nobody learns from the sign-up form whether an address has an account: the
answer is always "check your inbox". A new address gets an account that waits
for confirmation (it cannot log in); an address with an account gets, instead,
an e-mail to its owner saying so. Either way the request does the same work
(one password hash, one e-mail enqueued after commit).

An unconfirmed account is nobody's yet: a later sign-up with its address
replaces it (so whoever registers someone else's address first cannot keep
it), and it is deleted once its link expired. Its username stays taken until
then, but for a sign-up with the same address.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from marketplace.counters import count_in_windows
from marketplace.errors import CONFLICT, DomainError
from marketplace.links import absolute_url
from marketplace.mail import send_mail
from marketplace.models import User
from marketplace.queue import enqueue_on_commit

# E-mails about an account to one address at most, an hour (sign-ups and password
# resets together): the forms cannot be used to flood an inbox.
MAILS_PER_ADDRESS_HOUR = 5
HOUR = 3600
MAIL_COUNTER_PREFIX = "account-mails:"
CONFIRM = "confirm"
ALREADY_REGISTERED = "already-registered"


class SignupTokenGenerator(PasswordResetTokenGenerator):
    """A confirmation link's token: it dies when the account logs in (confirmation
    logs it in), when its password changes, and after ``PASSWORD_RESET_TIMEOUT``."""

    key_salt = "marketplace.signups.SignupTokenGenerator"


signup_tokens = SignupTokenGenerator()


def link_days() -> int:
    """How many days a confirmation link works (Django's password-reset timeout)."""
    return round(settings.PASSWORD_RESET_TIMEOUT / 86400)


def username_taken(*, username: str, email: str | None) -> bool:
    """Another account holds the username; an unconfirmed one with this address does not
    (a sign-up replaces it)."""
    holders = User.objects.filter(username__iexact=username)
    if email:
        holders = holders.exclude(email__iexact=email, confirmation_pending=True)
    return holders.exists()


def signup_request(*, username: str, email: str, password: str) -> None:
    """Sign up ``email``: a new account waiting for confirmation, and its link e-mailed;
    or, when a confirmed account has the address, an e-mail telling its owner.

    Raises DomainError (conflict) only when the username was taken meanwhile.
    """
    with transaction.atomic():
        holder = User.objects.select_for_update().filter(email__iexact=email).first()
        if holder is not None and not holder.confirmation_pending:
            # As long as creating an account would take: the answer's timing tells nothing.
            make_password(password)
            _mail_on_commit(ALREADY_REGISTERED, holder)
            return
        if holder is not None:  # unconfirmed: replaced, and its link dies with it
            holder.delete()
        user = User(username=username, email=email, is_active=False, confirmation_pending=True)
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            # The form checked both; a sign-up at the same moment took one.
            if User.objects.filter(username__iexact=username).exists():
                raise DomainError(
                    "A user with that username already exists.",
                    kind=CONFLICT,
                    errors={"username": ["A user with that username already exists."]},
                ) from None
            return  # the same address signed up twice at once: the other one's link went
        _mail_on_commit(CONFIRM, user)


def _mail_on_commit(kind: str, user: User) -> None:
    if account_mail_allowed(user.email):
        enqueue_on_commit("marketplace.send_signup_mail", kind, user.pk)


def account_mail_allowed(email: str) -> bool:
    """Count one e-mail about an account to ``email``; False once the address had its
    share this hour. True, uncounted, when Redis does not answer."""
    window = int(time.time() // HOUR)
    counts = count_in_windows([(f"{MAIL_COUNTER_PREFIX}{email.lower()}:{window}", HOUR + 1)])
    return counts is None or counts[0] <= MAILS_PER_ADDRESS_HOUR


def signup_send_mail(*, kind: str, user_id: Any) -> None:
    """The confirmation link, or the note that the address has an account (the task)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:  # replaced by a later sign-up, or deleted
        return
    if kind == CONFIRM:
        if not user.confirmation_pending:
            return
        link = absolute_url(
            "signup-confirm",
            urlsafe_base64_encode(force_bytes(user.pk)),
            signup_tokens.make_token(user),
        )
        days = link_days()
        subject = "Confirm your Intentcast account"
        body = (
            f"Someone, probably you, signed up to Intentcast as {user.username} with this address.\n\n"
            f"To confirm the account, open this link within {days} days:\n\n  {link}\n\n"
            "If it was not you, do nothing: the account is deleted when the link expires.\n"
        )
    else:
        subject = "Someone tried to sign up with your address"
        body = (
            "Someone, probably you, tried to sign up to Intentcast with this address, "
            "which already has an account. No new account was made.\n\n"
            f"Log in: {absolute_url('login')}\n"
            f"Forgot your password? Set a new one: {absolute_url('password_reset')}\n\n"
            "If it was not you, do nothing: your account is unchanged.\n"
        )
    send_mail(
        subject=subject,
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def signup_pending_user(*, uidb64: str, token: str) -> User | None:
    """The unconfirmed account a confirmation link is for, if the link is still good."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.filter(pk=int(pk), confirmation_pending=True).first()
    except (ValueError, OverflowError):
        return None
    if user is None or not signup_tokens.check_token(user, token):
        return None
    return user


def signup_confirm(*, user: User) -> User:
    """The address is confirmed: the account may log in from now on."""
    updated = User.objects.filter(pk=user.pk, confirmation_pending=True).update(
        confirmation_pending=False, is_active=True
    )
    if not updated:
        raise DomainError("This link was already used.", kind=CONFLICT)
    user.refresh_from_db()
    return user


def signups_delete_unconfirmed() -> int:
    """Delete the accounts whose confirmation link expired unused (the beat's task)."""
    cutoff = timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    deleted, _ = User.objects.filter(confirmation_pending=True, date_joined__lt=cutoff).delete()
    return deleted
