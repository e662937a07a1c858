"""Accounts on the web: signing up through a link e-mailed to the address, and
password resets. Neither tells anyone whether an address has an account.

Signing up asks first for the address alone and always answers "check your
e-mail". A task then mails the address either a link to finish signing up or,
when it already has an account, a note to its owner. The request stores
nothing and does the same work either way (one e-mail counted and enqueued),
so neither its answer nor its timing tells the two apart. The link (signed,
3 days) leads to the username and password: whoever chooses the password has
proven the address, so nobody can set up an account in someone else's name
for them to confirm, and nothing waits to be cleaned up. While the address has
an account, its links make none. A username chosen at sign-up never holds an @
(a vendor's staff log in with their address: "that username exists" would tell).

A password reset likewise only enqueues its e-mail (Django's form, sent by a task).

Each kind of e-mail goes to one address at most ``MAILS_PER_ADDRESS_HOUR``
times an hour (a fixed window), so the forms cannot bury one address in mail.
There is no limit per client address (none is known reliably behind a proxy).

A login's address, for the lockout of a username from one address (django-axes),
is :func:`login_address`.
"""

from __future__ import annotations

import ipaddress
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from marketplace.counters import count_in_windows
from marketplace.errors import CONFLICT, INVALID, DomainError
from marketplace.links import absolute_url
from marketplace.mail import send_mail
from marketplace.models import User
from marketplace.queue import enqueue_on_commit

LINK_MAX_AGE = timedelta(days=3)
LINK_SALT = "marketplace.accounts.signup"
MAILS_PER_ADDRESS_HOUR = 5
HOUR = 3600
MAIL_COUNTER_PREFIX = "account-mails:"
SIGNUP, PASSWORD_RESET = "signup", "password-reset"
LINK_SPENT = "An account already uses this address: log in, or reset your password."
LINK_BAD = "This link is not valid or has expired (links work for 3 days). Sign up again."
USERNAME_TAKEN = "A user with that username already exists."
USERNAME_ADDRESS = "A username cannot hold an @."


def normalized_email(email: str) -> str:
    return User.objects.normalize_email(email.strip())


def has_account(email: str) -> bool:
    return User.objects.filter(email__iexact=email).exists()


def signup_request(*, email: str) -> None:
    """Start signing up ``email``: its e-mail is enqueued after commit, whatever it holds."""
    email = normalized_email(email)
    if account_mail_counted(SIGNUP, email):
        enqueue_on_commit("marketplace.send_signup_mail", email)


def signup_send_mail(*, email: str) -> None:
    """The link to finish signing up, or, to an address with an account, a note (the task)."""
    if has_account(email):
        subject = "Someone tried to sign up with your address"
        body = (
            "Someone, probably you, tried to sign up to Intentcast with this address, "
            "which already has an account. No new account was made.\n\n"
            f"Log in: {absolute_url('login')}\n"
            f"Forgot your password? Set a new one: {absolute_url('password_reset')}\n\n"
            "If it was not you, do nothing: your account is unchanged.\n"
        )
    else:
        token = signup_token(email)
        subject = "Finish signing up to Intentcast"
        body = (
            "To finish signing up to Intentcast, choose your username and password here "
            f"(the link works for {LINK_MAX_AGE.days} days):\n\n"
            f"  {absolute_url('signup-finish', token)}\n\n"
            "If it was not you, do nothing: no account was made.\n"
        )
    send_mail(
        subject=subject,
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )


def signup_token(email: str) -> str:
    """The signed, timestamped token of a sign-up link for ``email``."""
    return signing.dumps(email, salt=LINK_SALT, compress=True)


def signup_link_email(*, token: str) -> str:
    """The address a sign-up link was mailed to; DomainError when it is bad, old or spent."""
    try:
        email = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired too
        raise DomainError(LINK_BAD, kind=INVALID) from None
    if has_account(email):
        raise DomainError(LINK_SPENT, kind=CONFLICT)
    return email


def signup_complete(*, token: str, username: str, password: str) -> User:
    """Make the account the link was mailed for, with the username and password chosen."""
    if "@" in username:
        raise DomainError(USERNAME_ADDRESS, errors={"username": [USERNAME_ADDRESS]})
    email = signup_link_email(token=token)
    user = User(username=username, email=email)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # The form checked both; another request took one meanwhile.
        if User.objects.filter(username__iexact=username).exists():
            raise DomainError(
                USERNAME_TAKEN, kind=CONFLICT, errors={"username": [USERNAME_TAKEN]}
            ) from None
        raise DomainError(LINK_SPENT, kind=CONFLICT) from None
    return user


def password_reset_request(*, email: str) -> None:
    """Enqueue a password reset's e-mail after commit, whatever the address holds."""
    email = normalized_email(email)
    if account_mail_counted(PASSWORD_RESET, email):
        enqueue_on_commit("marketplace.send_password_reset", email)


def password_reset_send(*, email: str) -> None:
    """Django's password reset e-mail to each active account of ``email`` (the task)."""
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        site = urlsplit(settings.SITE_URL)
        form.save(
            domain_override=site.netloc,
            use_https=site.scheme == "https",
            from_email=settings.DEFAULT_FROM_EMAIL,
        )


def account_mail_counted(kind: str, email: str) -> bool:
    """Count one ``kind`` e-mail to ``email``; False once the address had its share this
    hour. True, uncounted, when Redis does not answer."""
    key = f"{MAIL_COUNTER_PREFIX}{kind}:{email.lower()}:{this_hour()}"
    counts = count_in_windows([(key, HOUR + 1)])
    return counts is None or counts[0] <= MAILS_PER_ADDRESS_HOUR


def this_hour() -> int:
    """The number of the hour-long window now (since the epoch)."""
    return int(time.time() // HOUR)


def login_address(request: HttpRequest) -> str | None:
    """The client a login attempt came from, as far as it can be trusted.

    Behind ``TRUSTED_PROXIES`` proxies, each appending the address it was reached
    from to ``X-Forwarded-For``, that is the entry the outermost proxy added;
    whatever a client wrote there itself stays to its left, unread. Without a
    proxy, or with fewer entries than proxies (a request that went round them),
    the socket's peer. An IPv6 client is its /64 (:func:`client_of`).
    """
    proxies = settings.TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if proxies and len(forwarded) >= proxies:
        address = _bare_address(forwarded[-proxies])
        if address is not None:
            return client_of(address)
    peer = request.META.get("REMOTE_ADDR")
    return client_of(peer) if peer else peer


def client_of(address: str) -> str:
    """One client's address: an IPv6 one as its /64, the least a line or a server is
    given (it picks any address in it at will, and so could guess a password from a new
    one each time), written as that network's first address; an IPv4 one as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False).network_address)
    return str(ip)


def _bare_address(entry: str) -> str | None:
    """The IP address of an ``X-Forwarded-For`` entry, written with a port or not
    (``203.0.113.7:4711``, ``[2001:db8::1]:4711``); None for anything else."""
    for candidate in (entry, entry.rsplit(":", 1)[0].strip("[]") if ":" in entry else ""):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
