"""Signing up: confirmed by an e-mailed link, and never telling whether an address has an account."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from marketplace.errors import DomainError
from marketplace.models import User
from marketplace.signups import (
    CONFIRM,
    MAILS_PER_ADDRESS_HOUR,
    SignupTokenGenerator,
    signup_request,
    signup_send_mail,
    signups_delete_unconfirmed,
)
from tests.conftest import require_postgresql
from tests.factories import PASSWORD, UserFactory
from tests.offers.test_concurrency import race

PASSPHRASE = "a-long-passphrase-1"
LINK = re.compile(r"https://intentcast\.test(/signup/confirm/\S+)")


def sign_up(client: Client, capture: Any, username: str, email: str, password: str = PASSPHRASE):
    with capture(execute=True):
        return client.post(
            "/signup/",
            {"username": username, "email": email, "password1": password, "password2": password},
        )


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def confirmation_path(message: Any) -> str:
    return LINK.search(message.body)[1]


@pytest.mark.django_db
def test_a_new_address_gets_an_unconfirmed_account_and_a_link(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    response = sign_up(client, capture, "ada", "ada@example.test")

    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    user = User.objects.get(username="ada")
    assert (user.is_active, user.confirmation_pending) == (False, True)
    assert user.check_password(PASSPHRASE)
    (message,) = mailoutbox
    assert message.to == ["ada@example.test"]
    assert "as ada" in message.body
    assert "within 3 days" in message.body
    page = client.get("/signup/sent/").content.decode()
    assert "Check your e-mail" in page
    assert "within 3 days" in page


@pytest.mark.django_db
def test_an_address_with_an_account_is_not_told_apart(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    owner = UserFactory(username="owner", email="owner@example.test")
    before = User.objects.count()

    taken = sign_up(Client(), capture, "someone", "OWNER@example.test", "other-passphrase-2")
    new = sign_up(Client(), capture, "newcomer", "newcomer@example.test")

    # The same answer for both: a redirect to the same page.
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert User.objects.count() == before + 1  # the newcomer only
    assert not User.objects.filter(username="someone").exists()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)  # unchanged
    # The owner is told, with no link that would confirm anything.
    told, confirm = mailoutbox
    assert told.to == ["owner@example.test"]
    assert "already has an account" in told.body
    assert "/accounts/password_reset/" in told.body
    assert not LINK.search(told.body)
    assert confirm.to == ["newcomer@example.test"]


@pytest.mark.django_db
def test_the_form_never_says_an_address_is_taken(client: Client) -> None:
    UserFactory(email="owner@example.test")

    response = client.post(
        "/signup/",
        {"username": "x", "email": "owner@example.test", "password1": "1", "password2": "2"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "didn’t match" in page or "didn't match" in page
    assert "already" not in page
    assert "exists" not in page


@pytest.mark.django_db
def test_the_link_shows_the_account_and_confirms_only_on_post(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    sign_up(client, capture, "ada", "ada@example.test")
    path = confirmation_path(mailoutbox[0])

    page = client.get(path)
    assert page.status_code == 200
    assert "ada@example.test" in page.content.decode()
    assert "Confirm my account" in page.content.decode()
    assert User.objects.get(username="ada").confirmation_pending  # a GET confirms nothing

    response = client.post(path)
    assert response.status_code == 302
    assert response["Location"] == "/intents/new/"
    user = User.objects.get(username="ada")
    assert (user.is_active, user.confirmation_pending) == (True, False)
    assert client.get("/intents/new/").status_code == 200
    # Used: the link is dead.
    again = Client().post(path)
    assert again.status_code == 400
    assert "expired or was already used" in again.content.decode()


@pytest.mark.django_db
def test_an_unconfirmed_account_cannot_log_in_nor_reset_its_password(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    sign_up(client, capture, "ada", "ada@example.test")
    mailoutbox.clear()

    response = client.post("/accounts/login/", {"username": "ada", "password": PASSPHRASE})
    assert response.status_code == 200
    assert "Just signed up?" in response.content.decode()
    assert client.get("/intents/").status_code == 302
    client.post("/accounts/password_reset/", {"email": "ada@example.test"})
    assert mailoutbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/signup/confirm/bm90LWEtbnVtYmVy/abc-123/",  # not a number
        "/signup/confirm/OTk5OTk5/abc-123/",  # no such account
        "/signup/confirm/%%%/abc-123/",  # not base64
        "/signup/confirm/{uid}/{token}x/",  # a changed token
    ],
)
def test_a_bad_link_is_refused_and_changes_nothing(
    client: Client, capture: Any, mailoutbox: list[Any], path: str
) -> None:
    sign_up(client, capture, "ada", "ada@example.test")
    good = confirmation_path(mailoutbox[0])
    uid, token = good.strip("/").split("/")[-2:]

    response = client.post(path.format(uid=uid, token=token))

    assert response.status_code == 400
    assert "expired or was already used" in response.content.decode()
    assert User.objects.get(username="ada").confirmation_pending


@pytest.mark.django_db
def test_an_expired_link_is_refused(client: Client, capture: Any, mailoutbox: list[Any]) -> None:
    sign_up(client, capture, "ada", "ada@example.test")
    user = User.objects.get(username="ada")

    class FourDaysAgo(SignupTokenGenerator):
        def _now(self) -> datetime:
            return datetime.now() - timedelta(days=4)

    uid = confirmation_path(mailoutbox[0]).strip("/").split("/")[-2]
    response = client.post(f"/signup/confirm/{uid}/{FourDaysAgo().make_token(user)}/")

    assert response.status_code == 400
    assert User.objects.get(username="ada").confirmation_pending


@pytest.mark.django_db
def test_signing_up_again_replaces_the_unconfirmed_account(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    # Whoever signs up someone else's address first cannot keep it.
    sign_up(Client(), capture, "mallory", "ada@example.test", "mallorys-passphrase-9")
    sign_up(client, capture, "ada", "ada@example.test")

    first, second = mailoutbox
    assert Client().post(confirmation_path(first)).status_code == 400
    assert not User.objects.filter(username="mallory").exists()
    assert client.post(confirmation_path(second)).status_code == 302
    user = User.objects.get(email="ada@example.test")
    assert user.username == "ada"
    assert user.check_password(PASSPHRASE)


@pytest.mark.django_db
def test_an_unconfirmed_username_is_held_but_for_its_own_address(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    sign_up(client, capture, "ada", "ada@example.test")

    other = sign_up(Client(), capture, "ada", "someone@example.test")
    same = sign_up(Client(), capture, "ADA", "ada@example.test")

    assert other.status_code == 200
    assert "A user with that username already exists." in other.content.decode()
    assert same.status_code == 302
    assert list(User.objects.values_list("username", "email")) == [("ADA", "ada@example.test")]


@pytest.mark.django_db
def test_one_address_gets_a_few_mails_an_hour_at_most(capture: Any, mailoutbox: list[Any]) -> None:
    UserFactory(email="owner@example.test")

    for number in range(MAILS_PER_ADDRESS_HOUR + 3):
        response = sign_up(Client(), capture, f"someone{number}", "owner@example.test")
        assert response["Location"] == "/signup/sent/"

    assert len(mailoutbox) == MAILS_PER_ADDRESS_HOUR


@pytest.mark.django_db
def test_unconfirmed_accounts_are_deleted_once_their_link_expired() -> None:
    expired = UserFactory(is_active=False, confirmation_pending=True)
    fresh = UserFactory(is_active=False, confirmation_pending=True)
    old_confirmed = UserFactory()
    User.objects.filter(pk__in=[expired.pk, old_confirmed.pk]).update(
        date_joined=timezone.now() - timedelta(days=3, minutes=1)
    )

    assert signups_delete_unconfirmed() == 1

    assert set(User.objects.values_list("pk", flat=True)) == {fresh.pk, old_confirmed.pk}


@pytest.mark.django_db
def test_the_mail_task_sends_nothing_for_a_replaced_account() -> None:
    user = UserFactory(is_active=False, confirmation_pending=True)
    user_id = user.pk
    user.delete()

    signup_send_mail(kind=CONFIRM, user_id=user_id)

    assert mail.outbox == []


@pytest.mark.django_db
def test_a_username_taken_meanwhile_is_refused_by_the_service() -> None:
    UserFactory(username="ada")

    with pytest.raises(DomainError) as refused:
        signup_request(username="ada", email="ada@example.test", password=PASSPHRASE)

    assert refused.value.errors == {"username": ["A user with that username already exists."]}
    assert not User.objects.filter(email="ada@example.test").exists()


RACERS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_address_signed_up_at_once_makes_one_account() -> None:
    require_postgresql()

    successes, refusals = race(
        list(range(RACERS)),
        lambda number: signup_request(
            username=f"racer{number}", email="ada@example.test", password=PASSPHRASE
        ),
    )

    assert (len(successes), refusals) == (RACERS, [])
    assert User.objects.filter(email__iexact="ada@example.test").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_username_signed_up_at_once_makes_one_account() -> None:
    require_postgresql()

    successes, refusals = race(
        list(range(RACERS)),
        lambda number: signup_request(
            username="ada", email=f"racer{number}@example.test", password=PASSPHRASE
        ),
    )

    assert (len(successes), len(refusals)) == (1, RACERS - 1)
    assert {error.errors["username"][0] for error in refusals} == {
        "A user with that username already exists."
    }
    assert User.objects.filter(username="ada").count() == 1


@pytest.mark.django_db
def test_password_resets_and_sign_ups_share_the_address_limit(
    capture: Any, mailoutbox: list[Any]
) -> None:
    UserFactory(email="owner@example.test")

    for _ in range(MAILS_PER_ADDRESS_HOUR - 1):
        response = Client().post("/accounts/password_reset/", {"email": "owner@example.test"})
        assert response["Location"] == "/accounts/password_reset/done/"
    sign_up(Client(), capture, "someone", "owner@example.test")  # the last one this hour
    refused = Client().post("/accounts/password_reset/", {"email": "owner@example.test"})

    assert refused["Location"] == "/accounts/password_reset/done/"  # the same answer
    assert len(mailoutbox) == MAILS_PER_ADDRESS_HOUR
    assert [m.subject for m in mailoutbox].count("Someone tried to sign up with your address") == 1


@pytest.mark.django_db
def test_a_sign_up_is_mailed_when_redis_does_not_answer(
    client: Client, capture: Any, mailoutbox: list[Any], settings: Any
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = sign_up(client, capture, "ada", "ada@example.test")

    assert response["Location"] == "/signup/sent/"
    assert [message.to for message in mailoutbox] == [["ada@example.test"]]
