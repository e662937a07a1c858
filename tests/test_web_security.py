"""The web side: CSRF on every form, a Content-Security-Policy, login throttling, password rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from intents.models import Intent
from marketplace.accounts import signup_token
from marketplace.models import ApiKey, User, Vendor, WebhookEndpoint
from offers.models import Offer
from tests.factories import PASSWORD, OfferFactory, UserFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def state() -> dict[str, Any]:
    return {
        "users": list(User.objects.order_by("pk").values_list("pk", "password")),
        "intents": list(Intent.objects.order_by("pk").values()),
        "offers": list(Offer.objects.order_by("pk").values()),
        "keys": list(ApiKey.objects.order_by("pk").values()),
        "webhooks": list(WebhookEndpoint.objects.order_by("pk").values()),
        "vendors": list(Vendor.objects.order_by("pk").values()),
    }


@pytest.fixture
def buyer_offer(vendor: Vendor, open_intent: Intent) -> Offer:
    return OfferFactory(intent=open_intent, vendor=vendor)


# (path, who is logged in, a form body) for the site's forms.
FORMS = {
    "log in": ("/accounts/login/", None, {"username": "x", "password": PASSWORD}),
    "sign up": ("/signup/", None, {"email": "newcomer@example.test"}),
    "finish signing up": (
        "/signup/finish/{signup_token}/",
        None,
        {
            "username": "newcomer",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    ),
    "password reset": ("/accounts/password_reset/", None, {"email": "x@example.test"}),
    "log out": ("/accounts/logout/", "buyer", {}),
    "new intent": ("/intents/new/", "buyer", {"title": "Paint the hall"}),
    "accept offer": ("/offers/{offer}/accept/", "buyer", {}),
    "decline offer": ("/offers/{offer}/decline/", "buyer", {"reason": "too dear"}),
    "vendor profile": ("/vendor/", "staff", {"name": "Renamed"}),
    "new API key": ("/vendor/keys/", "staff", {"name": "ci"}),
    "new webhook": ("/vendor/webhooks/", "staff", {"url": "http://127.0.0.1:9/h"}),
}


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_refuses_a_post_without_csrf_token(
    name: str, vendor: Vendor, buyer_offer: Offer
) -> None:
    path, who, body = FORMS[name]
    client = Client(enforce_csrf_checks=True)
    if who == "buyer":
        client.force_login(buyer_offer.intent.buyer)
    elif who == "staff":
        client.force_login(UserFactory(vendor=vendor))
    before = state()

    token = signup_token("newcomer@example.test")
    response = client.post(path.format(offer=buyer_offer.pk, signup_token=token), body)

    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert state() == before


def test_a_form_post_with_its_token_goes_through(vendor: Vendor) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(vendor=vendor))
    client.get("/vendor/keys/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = client.post("/vendor/keys/", {"name": "ci", "csrfmiddlewaretoken": token})

    assert response.status_code in (200, 302)
    assert ApiKey.objects.filter(vendor=vendor, name="ci").exists()


def test_every_post_form_in_the_templates_carries_a_csrf_token() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        posts = len(re.findall(r'<form[^>]*method="post"', text, flags=re.IGNORECASE))
        assert text.count("{% csrf_token %}") >= posts, template


def test_templates_run_no_inline_script() -> None:
    """The Content-Security-Policy allows scripts from our origin only."""
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text, re.IGNORECASE), template
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), template
        assert "javascript:" not in text.lower(), template


@pytest.mark.parametrize("path", ["/", "/signup/", "/accounts/login/", "/api/v1/vendor/"])
def test_pages_carry_the_content_security_policy(client: Client, path: str) -> None:
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(item.strip().partition(" ")[::2] for item in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/nope/", 404),
        ("/?q=%00", 400),  # refused before any view: a NUL byte
        ("/admin/?created_at__year=99999", 400),
        ("/api/v1/intents/?x=%00", 400),
    ],
)
def test_error_answers_carry_the_policy_and_the_frame_denial(
    client: Client, path: str, status: int
) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(path)

    assert response.status_code == status
    assert "frame-ancestors 'none'" in response.get("Content-Security-Policy", "")
    assert response.get("X-Frame-Options") == "DENY"
    assert "no-store" in response.get("Cache-Control", "")  # a logged-in person's


def test_an_api_request_too_large_is_answered_with_the_policy(client: Client) -> None:
    response = client.post(
        "/api/v1/offers/", "x" * (settings.API_MAX_REQUEST_BYTES + 1), "application/json"
    )

    assert response.status_code == 413
    assert "frame-ancestors 'none'" in response.get("Content-Security-Policy", "")


def test_only_the_api_docs_allow_redocs_inline_styles(client: Client) -> None:
    policy = client.get("/api/v1/docs/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy + ";"


# --- password guessing (django-axes) -----------------------------------------------


def login(client: Client, username: str, password: str, address: str = "203.0.113.7") -> Any:
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_login_is_locked_after_five_failures_with_a_clear_message(settings: Any) -> None:
    user = UserFactory(username="grace")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, "grace", "guess")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content

    locked = login(client, "grace", "guess")
    right_password_too = login(client, "grace", PASSWORD)

    for response in (locked, right_password_too):
        assert response.status_code == 429
        assert b"Too many failed log-in attempts" in response.content
        assert b"paused for\n  15 minutes" in response.content
    assert "_auth_user_id" not in client.session
    user.refresh_from_db()
    assert user.last_login is None


def test_lockout_is_per_username_and_address(settings: Any) -> None:
    UserFactory(username="grace")
    UserFactory(username="alan")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "grace", "guess")

    assert login(client, "alan", PASSWORD).status_code == 302
    assert login(Client(), "grace", PASSWORD, address="198.51.100.9").status_code == 302


def test_guesses_from_one_ipv6_subnet_count_together(settings: Any) -> None:
    """One IPv6 client holds a whole /64 (a home line, any rented server) and may pick a
    new source address per request: keyed on the full address, it could guess one
    username's password without limit."""
    UserFactory(username="grace")
    subnet = [f"2001:db8:1:2::{number + 1:x}" for number in range(settings.AXES_FAILURE_LIMIT)]
    for address in subnet:
        login(Client(), "grace", "guess", address=address)

    assert login(Client(), "grace", PASSWORD, address="2001:db8:1:2:ffff::9").status_code == 429
    assert login(Client(), "grace", PASSWORD, address="2001:db8:1:3::1").status_code == 302


def test_behind_a_proxy_the_lockout_is_per_client_address_not_the_proxy_s(
    settings: Any,
) -> None:
    """Every login reaches the site from the proxy: keyed on it, five wrong passwords
    from anyone would lock the username out for everyone."""
    settings.TRUSTED_PROXIES = 1
    UserFactory(username="grace")

    def through_proxy(forwarded_for: str, password: str) -> Any:
        return Client().post(
            "/accounts/login/",
            {"username": "grace", "password": password},
            REMOTE_ADDR="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    for number in range(settings.AXES_FAILURE_LIMIT):
        # What the guesser writes itself is left of what the proxy adds: not read.
        through_proxy(f"192.0.2.{number}, 203.0.113.66", "guess")

    assert through_proxy("192.0.2.99, 203.0.113.66", PASSWORD).status_code == 429
    assert through_proxy("198.51.100.7", PASSWORD).status_code == 302  # grace herself


@pytest.mark.parametrize(
    ("forwarded_for", "seen_as"),
    [
        ("203.0.113.66:4711", "203.0.113.66"),  # a proxy that appends the port
        ("[2001:db8::1]:4711", "2001:db8::"),  # its /64
        ("::ffff:203.0.113.66", "203.0.113.66"),
        ("unknown", "10.0.0.2"),  # not an address: the proxy's own, not a 500
        ("", "10.0.0.2"),
    ],
)
def test_a_forwarded_entry_is_read_as_an_address_or_not_at_all(
    settings: Any, forwarded_for: str, seen_as: str
) -> None:
    settings.TRUSTED_PROXIES = 1
    UserFactory(username="grace")

    response = Client().post(
        "/accounts/login/",
        {"username": "grace", "password": "guess"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )

    assert response.status_code == 200  # the form again, with its message
    assert AccessAttempt.objects.get(username="grace").ip_address == seen_as


def test_without_a_trusted_proxy_a_forwarded_address_is_not_believed(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 0
    UserFactory(username="grace")
    for number in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            "/accounts/login/",
            {"username": "grace", "password": "guess"},
            REMOTE_ADDR="203.0.113.66",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",  # a new address each time, made up
        )

    assert login(Client(), "grace", PASSWORD, address="203.0.113.66").status_code == 429


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/me/delete/", lambda guess: {"password": guess}),  # without confirm: a pure check
        (
            "/accounts/password_change/",
            lambda guess: {
                "old_password": guess,
                "new_password1": "a-new-Long-passphrase-7",
                "new_password2": "a-new-Long-passphrase-7",
            },
        ),
    ],
)
def test_guessing_the_password_in_an_open_session_counts_towards_the_lockout(
    settings: Any, path: str, form: Any
) -> None:
    """A session left open is not enough to erase the account or change its password,
    and no place to guess the password without limit either."""
    user = UserFactory(username="grace")
    session = Client(REMOTE_ADDR="203.0.113.7")
    session.force_login(user)
    for number in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = session.post(path, form(f"guess-{number}"), REMOTE_ADDR="203.0.113.7")
        assert wrong.status_code in (200, 400)
        assert "This is not your password." in wrong.content.decode()

    locked = session.post(path, form("guess-last"), REMOTE_ADDR="203.0.113.7")
    right_too = session.post(path, form(PASSWORD), REMOTE_ADDR="203.0.113.7")

    for response in (locked, right_too):
        assert response.status_code == 429
        assert b"Too many failed log-in attempts" in response.content
    assert login(Client(), "grace", PASSWORD).status_code == 429  # nor log in from there
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and user.is_active


def test_the_right_password_in_an_open_session_clears_the_count_as_a_login_does(
    settings: Any,
) -> None:
    user = UserFactory(username="grace")
    session = Client(REMOTE_ADDR="203.0.113.7")
    session.force_login(user)

    def change(old: str, new: str) -> Any:
        form = {"old_password": old, "new_password1": new, "new_password2": new}
        return session.post("/accounts/password_change/", form, REMOTE_ADDR="203.0.113.7")

    for number in range(settings.AXES_FAILURE_LIMIT - 1):
        change(f"guess-{number}", "a-new-Long-passphrase-7")
    assert change(PASSWORD, "a-new-Long-passphrase-7").status_code == 302  # changed

    for number in range(settings.AXES_FAILURE_LIMIT - 1):
        assert change(f"guess-{number}", "another-Long-passphrase-8").status_code == 200
    assert login(Client(), "grace", "a-new-Long-passphrase-7").status_code == 302


def test_a_successful_login_resets_the_count(settings: Any) -> None:
    UserFactory(username="grace")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(Client(), "grace", "guess")
    assert login(Client(), "grace", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(Client(), "grace", "guess")
    assert login(Client(), "grace", PASSWORD).status_code == 302


# --- password rules ---------------------------------------------------------------


def finish_signup_path() -> str:
    token = signup_token("newcomer@example.test")
    return f"/signup/finish/{token}/"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", b"too short"),
        ("password", b"too common"),
        ("48151623424", b"entirely numeric"),
        ("newcomer-pw", b"too similar"),
    ],
)
def test_signup_refuses_weak_passwords(client: Client, password: str, message: bytes) -> None:
    response = client.post(
        finish_signup_path(),
        {"username": "newcomer", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert message in response.content
    assert not User.objects.filter(username="newcomer").exists()


def test_signup_takes_a_good_password(client: Client) -> None:
    response = client.post(
        finish_signup_path(),
        {
            "username": "newcomer",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert response.status_code == 302
    assert User.objects.filter(username="newcomer", email="newcomer@example.test").exists()


def test_a_logged_in_persons_pages_and_export_are_kept_by_no_cache(
    client: Client, open_intent: Intent
) -> None:
    client.force_login(open_intent.buyer)

    for path in ("/intents/", f"/intents/{open_intent.pk}/", "/me/", "/api/v1/me/export/"):
        response = client.get(path)
        assert response.status_code == 200, path
        cache_control = response.headers.get("Cache-Control", "")
        assert "no-store" in cache_control and "private" in cache_control, (path, cache_control)


def test_public_pages_are_not_marked_private(client: Client) -> None:
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
