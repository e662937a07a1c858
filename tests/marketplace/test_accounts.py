"""Signing up through an e-mailed link, and password resets: neither tells whether an
address has an account."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import signing
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace.accounts import (
    LINK_SALT,
    LINK_SPENT,
    MAILS_PER_ADDRESS_HOUR,
    USERNAME_TAKEN,
    signup_complete,
    signup_token,
)
from marketplace.errors import CONFLICT, DomainError
from marketplace.models import User
from marketplace.services import vendor_create
from tests.conftest import require_postgresql
from tests.factories import PASSWORD, UserFactory
from tests.offers.test_concurrency import race

PASSPHRASE = "a-long-passphrase-1"
FINISH_LINK = re.compile(r"https://intentcast\.test(/signup/finish/([^/\s]+)/)")


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def ask(client: Client, capture: Any, email: str) -> Any:
    """The sign-up's first step, its e-mail sent (the task runs eagerly after commit)."""
    with capture(execute=True):
        return client.post("/signup/", {"email": email})


def finish(client: Client, path: str, username: str = "ada", password: str = PASSPHRASE) -> Any:
    return client.post(path, {"username": username, "password1": password, "password2": password})


def link_in(message: Any) -> str:
    return FINISH_LINK.search(message.body)[1]


@pytest.mark.django_db
def test_signing_up_mails_a_link_and_the_link_makes_the_account(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    response = ask(client, capture, "ada@example.test")

    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    assert not User.objects.exists()  # nothing is stored before the address is proven
    sent = client.get("/signup/sent/").content.decode()
    assert "Check your e-mail" in sent
    assert "within 3 days" in sent
    (message,) = mailoutbox
    assert message.to == ["ada@example.test"]
    assert "works for 3 days" in message.body

    page = client.get(link_in(message))
    assert page.status_code == 200
    assert "ada@example.test" in page.content.decode()
    response = finish(client, link_in(message))

    assert response.status_code == 302
    assert response["Location"] == "/intents/new/"
    user = User.objects.get()
    assert (user.username, user.email, user.is_active) == ("ada", "ada@example.test", True)
    assert user.check_password(PASSPHRASE)
    assert client.get("/intents/new/").status_code == 200  # logged in


@pytest.mark.django_db
def test_an_address_with_an_account_gets_the_same_answer_and_its_owner_a_note(
    capture: Any, mailoutbox: list[Any]
) -> None:
    UserFactory(username="owner", email="owner@example.test")

    known = ask(Client(), capture, "OWNER@example.test")
    unknown = ask(Client(), capture, "newcomer@example.test")

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert User.objects.count() == 1
    note, link = mailoutbox
    assert note.to == ["OWNER@example.test"]
    assert "already has an account" in note.body
    assert "https://intentcast.test/accounts/password_reset/" in note.body
    assert not FINISH_LINK.search(note.body)
    assert link.to == ["newcomer@example.test"]
    assert FINISH_LINK.search(link.body)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/signup/", lambda email: {"email": email}),
        ("/accounts/password_reset/", lambda email: {"email": email}),
    ],
    ids=["sign-up", "password reset"],
)
def test_the_request_does_the_same_work_whatever_the_address_holds(
    path: str, body: Any, capture: Any
) -> None:
    UserFactory(email="owner@example.test")

    def queries_and_callbacks(email: str) -> tuple[list[str], int]:
        with CaptureQueriesContext(connection) as queries, capture() as callbacks:
            response = Client().post(path, body(email))
        assert response.status_code == 302
        return [query["sql"] for query in queries], len(callbacks)

    # No query reads the accounts: the e-mail's task decides, after the answer.
    assert queries_and_callbacks("owner@example.test") == ([], 1)
    assert queries_and_callbacks("nobody@example.test") == ([], 1)


@pytest.mark.django_db
def test_the_first_step_refuses_a_bad_address_and_sends_nothing(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    response = ask(client, capture, "not an address")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mailoutbox == []


@pytest.mark.django_db
def test_the_last_step_refuses_weak_passwords_and_taken_usernames(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    UserFactory(username="ada")
    ask(client, capture, "ada@example.test")
    path = link_in(mailoutbox[0])

    weak = finish(client, path, username="ada2", password="ada2")
    taken = finish(client, path, username="ADA")

    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    assert taken.status_code == 200
    assert USERNAME_TAKEN in taken.content.decode()
    assert not User.objects.filter(email="ada@example.test").exists()
    assert finish(client, path, username="ada2").status_code == 302  # the link still works


@pytest.mark.django_db
def test_a_link_is_spent_once_its_address_has_an_account(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    ask(client, capture, "ada@example.test")
    ask(Client(), capture, "ada@example.test")  # asked twice: two links
    first, second = (link_in(message) for message in mailoutbox)
    finish(client, first)

    again = finish(Client(), second, username="someone-else")

    assert again.status_code == 400
    assert "An account already uses this address" in again.content.decode()
    assert list(User.objects.values_list("username", flat=True)) == ["ada"]


@pytest.mark.django_db
def test_a_bad_or_old_link_is_refused_and_makes_nothing(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    ask(client, capture, "ada@example.test")
    token = FINISH_LINK.search(mailoutbox[0].body)[2]

    class FourDaysAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 4 * 24 * 3600)

    old = FourDaysAgo(salt=LINK_SALT).sign_object("ada@example.test", compress=True)
    other_salt = signing.dumps("ada@example.test", salt="another purpose", compress=True)
    for bad in (old, token[:-2] + "xx", other_salt, "nonsense"):
        for response in (
            client.get(f"/signup/finish/{bad}/"),
            finish(client, f"/signup/finish/{bad}/"),
        ):
            assert response.status_code == 400, bad
            assert "not valid or has expired" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_each_kind_of_mail_goes_to_one_address_a_few_times_an_hour(
    capture: Any, mailoutbox: list[Any]
) -> None:
    UserFactory(email="owner@example.test")

    for _ in range(MAILS_PER_ADDRESS_HOUR + 2):
        assert ask(Client(), capture, "owner@example.test")["Location"] == "/signup/sent/"
        with capture(execute=True):
            response = Client().post("/accounts/password_reset/", {"email": "owner@example.test"})
        assert response["Location"] == "/accounts/password_reset/done/"
    ask(Client(), capture, "other@example.test")

    subjects = [message.subject for message in mailoutbox if message.to == ["owner@example.test"]]
    assert subjects.count("Someone tried to sign up with your address") == MAILS_PER_ADDRESS_HOUR
    assert len(subjects) == 2 * MAILS_PER_ADDRESS_HOUR  # the resets have their own share
    assert [message.to for message in mailoutbox].count(["other@example.test"]) == 1


@pytest.mark.django_db
def test_a_sign_up_is_mailed_when_redis_does_not_answer(
    client: Client, capture: Any, mailoutbox: list[Any], settings: Any
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: uncounted

    ask(client, capture, "ada@example.test")

    assert [message.to for message in mailoutbox] == [["ada@example.test"]]


@pytest.mark.django_db
def test_a_password_reset_mails_a_working_link_to_an_account_only(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    user = UserFactory(email="owner@example.test")

    with capture(execute=True):
        client.post("/accounts/password_reset/", {"email": "nobody@example.test"})
    assert mailoutbox == []
    with capture(execute=True):
        client.post("/accounts/password_reset/", {"email": "owner@example.test"})

    (message,) = mailoutbox
    path = re.search(r"https://intentcast\.test(/accounts/reset/\S+/)", message.body)[1]
    set_page = client.get(path, follow=True)
    response = client.post(
        set_page.redirect_chain[-1][0],
        {"new_password1": "a-new-passphrase-3", "new_password2": "a-new-passphrase-3"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-passphrase-3")
    assert not user.check_password(PASSWORD)


@pytest.mark.django_db
def test_a_new_password_set_by_the_e_mailed_link_lifts_the_lockout(
    client: Client, capture: Any, mailoutbox: list[Any], settings: Any
) -> None:
    """Locked out by wrong guesses (someone's, or their own), the owner proves the address
    through the link: the new password works at once, not after the pause."""
    user = UserFactory(username="grace", email="grace@example.test")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/accounts/login/", {"username": "grace", "password": "guess"})
    locked = Client().post("/accounts/login/", {"username": "grace", "password": PASSWORD})
    with capture(execute=True):
        client.post("/accounts/password_reset/", {"email": user.email})
    (message,) = mailoutbox
    path = re.search(r"https://intentcast\.test(/accounts/reset/\S+/)", message.body)[1]
    set_page = client.get(path, follow=True)
    client.post(
        set_page.redirect_chain[-1][0],
        {"new_password1": "a-new-passphrase-3", "new_password2": "a-new-passphrase-3"},
    )

    again = Client().post(
        "/accounts/login/", {"username": "grace", "password": "a-new-passphrase-3"}
    )

    assert locked.status_code == 429
    assert again.status_code == 302


@pytest.mark.django_db
def test_an_address_belongs_to_one_account_in_any_case() -> None:
    UserFactory(email="ada@example.test")

    with pytest.raises(IntegrityError):
        UserFactory(email="ADA@Example.test")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_link_used_at_once_makes_one_account() -> None:
    require_postgresql()
    token = signup_token("ada@example.test")

    successes, refusals = race(
        list(range(6)),
        lambda number: signup_complete(token=token, username=f"ada{number}", password=PASSPHRASE),
    )

    assert (len(successes), [error.message for error in refusals]) == (1, [LINK_SPENT] * 5)
    assert User.objects.filter(email="ada@example.test").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_username_chosen_at_once_makes_one_account() -> None:
    require_postgresql()
    tokens = [signup_token(f"racer{number}@example.test") for number in range(6)]

    successes, refusals = race(
        tokens, lambda token: signup_complete(token=token, username="ada", password=PASSPHRASE)
    )

    assert len(successes) == 1
    assert [error.errors for error in refusals] == [{"username": [USERNAME_TAKEN]}] * 5
    assert User.objects.filter(username="ada").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_address_in_two_cases_at_once_makes_one_account() -> None:
    require_postgresql()
    tokens = [
        signup_token(email)
        for email in ("ada@example.test", "ADA@example.test", "Ada@example.test")
    ]

    successes, refusals = race(
        tokens,
        lambda token: signup_complete(
            token=token, username=f"ada{tokens.index(token)}", password=PASSPHRASE
        ),
    )

    assert (len(successes), [error.message for error in refusals]) == (1, [LINK_SPENT] * 2)
    assert User.objects.filter(email__iexact="ada@example.test").count() == 1


def test_the_service_refuses_a_spent_link_without_the_form(db: None) -> None:
    UserFactory(email="ada@example.test")
    token = signup_token("ada@example.test")

    with pytest.raises(DomainError) as refused:
        signup_complete(token=token, username="ada2", password=PASSPHRASE)

    assert refused.value.message == LINK_SPENT


@pytest.mark.django_db
def test_the_admin_refuses_an_address_taken_in_another_case(admin_client: Client) -> None:
    UserFactory(email="ada@example.test")

    response = admin_client.post(
        "/admin/marketplace/user/add/",
        {
            "username": "ada2",
            "email": "ADA@example.test",
            "usable_password": "true",
            "password1": PASSPHRASE,
            "password2": PASSPHRASE,
        },
    )

    assert response.status_code == 200
    assert "A user with this e-mail address already exists." in response.content.decode()
    assert not User.objects.filter(username="ada2").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_deletes_accounts_an_earlier_sign_up_left_waiting() -> None:
    both_0014 = [
        ("marketplace", "0014_user_confirmation_pending"),
        ("marketplace", "0014_user_email_unique_any_case"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(both_0014)
    try:
        old_user = executor.loader.project_state(both_0014).apps.get_model("marketplace", "User")
        waiting = old_user.objects.create(
            username="waiting", email="waiting@example.test", confirmation_pending=True
        )
        old_user.objects.create(username="kept", email="kept@example.test")
        # What such an account may have had: a row pointing at it (deleted with it).
        executor.loader.project_state(both_0014).apps.get_model(
            "marketplace", "SkillProfile"
        ).objects.create(user_id=waiting.pk, skills=["pipes"])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(User.objects.values_list("username", flat=True)) == ["kept"]


@pytest.mark.django_db
def test_a_username_is_never_an_address_so_it_cannot_probe_one(
    client: Client, capture: Any, mailoutbox: list[Any]
) -> None:
    UserFactory(username="boss@acme.example", email="boss@acme.example")  # as vendor_create
    ask(client, capture, "ada@example.test")
    path = link_in(mailoutbox[0])

    taken = finish(client, path, username="boss@acme.example", password="a")
    free = finish(client, path, username="nobody@acme.example", password="a")

    for response in (taken, free):
        page = response.content.decode()
        assert response.status_code == 200
        assert "A username cannot hold an @." in page
        assert USERNAME_TAKEN not in page
    assert not User.objects.filter(email="ada@example.test").exists()


@pytest.mark.django_db
def test_an_address_in_any_case_shares_one_budget(capture: Any, mailoutbox: list[Any]) -> None:
    for number in range(MAILS_PER_ADDRESS_HOUR + 1):
        ask(Client(), capture, "ada@example.test" if number % 2 else "ADA@Example.test")

    assert len(mailoutbox) == MAILS_PER_ADDRESS_HOUR


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_vendors_made_at_once_for_one_address_make_one(category: Any) -> None:
    require_postgresql()

    successes, refusals = race(
        [f"Acme {number}" for number in range(4)],
        lambda name: vendor_create(
            name=name, email="ops@acme.example", categories=[category], regions=["DE"]
        ),
    )

    assert (len(successes), len(refusals)) == (1, 3)
    assert all(error.kind == CONFLICT for error in refusals)
    assert User.objects.filter(email="ops@acme.example").count() == 1


def test_the_service_refuses_an_address_as_username(db: None) -> None:
    with pytest.raises(DomainError) as refused:
        signup_complete(
            token=signup_token("ada@example.test"),
            username="boss@acme.example",
            password=PASSPHRASE,
        )

    assert refused.value.errors == {"username": ["A username cannot hold an @."]}
    assert not User.objects.exists()
