"""Vendors on the web: profile, API keys and webhook endpoints."""

from __future__ import annotations

import re
from html import escape, unescape
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from marketplace.events import emit, events_dispatch
from marketplace.models import ApiKey, Category, Vendor, WebhookDelivery, WebhookEndpoint
from marketplace.services import SUSPENDED, vendor_set_suspended
from marketplace.views import ENDPOINT_SENT_AGAIN, KEY_SENT_AGAIN, SECRET_SENT_AGAIN
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create, webhook_endpoint_update
from tests.factories import PASSWORD, CategoryFactory, UserFactory, VendorFactory
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client, vendor: Vendor) -> Client:
    client.force_login(UserFactory(vendor=vendor))
    return client


def test_profile_edit(staff_client: Client, vendor: Vendor, category: Category) -> None:
    painting = CategoryFactory(slug="painting")
    response = staff_client.post(
        "/vendor/",
        {
            "name": "Renamed GmbH",
            "contact_email": "hello@renamed.test",
            "categories": [category.pk, painting.pk],
            "regions": "de, fr",
            "keywords": "taps, boilers",
            "deal_size_min": "100",
            "deal_size_max": "900",
            "deal_size_currency": "EUR",
            "daily_capacity": "10",
            "is_paused": "on",
        },
    )
    assert response.status_code == 302
    vendor.refresh_from_db()
    assert vendor.name == "Renamed GmbH"
    assert vendor.regions == ["DE", "FR"]
    assert vendor.keywords == ["boilers", "taps"]
    assert vendor.is_paused is True
    assert set(vendor.categories.values_list("slug", flat=True)) == {"plumbing", "painting"}


def test_a_verified_vendor_renamed_is_told_its_badge_waits_for_an_operator(
    staff_client: Client, vendor: Vendor, category: Category
) -> None:
    Vendor.objects.filter(pk=vendor.pk).update(is_verified=True)
    vendor.categories.set([category])
    form = {
        "name": "Renamed GmbH",
        "contact_email": vendor.contact_email,
        "categories": [category.pk],
        "regions": "de",
        "keywords": "",
        "daily_capacity": "10",
    }

    response = staff_client.post("/vendor/", form, follow=True)

    assert b"not shown as verified until an operator checks them again" in response.content
    assert b"Not verified yet." in response.content
    vendor.refresh_from_db()
    assert vendor.is_verified is False


def test_profile_refuses_bad_region_and_keeps_values(staff_client: Client, vendor: Vendor) -> None:
    response = staff_client.post(
        "/vendor/",
        {"name": "X", "contact_email": "x@x.test", "regions": "QQ", "daily_capacity": "5"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "is not an ISO 3166 country code" in html
    assert 'value="QQ"' in html
    vendor.refresh_from_db()
    assert vendor.regions == ["DE"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("website", "https://example.com/" + "a" * 190, "at most 200 characters"),
        (
            "contact_email",
            "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com",
            "at most 254 characters",
        ),
        ("keywords", ", ".join(f"word{n}" for n in range(101)), "At most 100 keywords."),
        ("regions", ", ".join(["DE"] * 301), "At most 300 regions."),
    ],
)
def test_profile_refuses_what_does_not_fit_and_changes_nothing(
    staff_client: Client, vendor: Vendor, field: str, value: str, message: str
) -> None:
    """Longer than the column (a 500 on PostgreSQL before), or more than the API allows."""
    form = {
        "name": "Acme",
        "contact_email": "hello@acme.test",
        "regions": "DE",
        "daily_capacity": "10",
    }
    form[field] = value

    response = staff_client.post("/vendor/", form)

    assert response.status_code == 200
    assert message in response.content.decode()
    fresh = Vendor.objects.get(pk=vendor.pk)
    assert (fresh.name, fresh.website, fresh.keywords) == (
        vendor.name,
        vendor.website,
        vendor.keywords,
    )


def test_create_key_shown_once_then_revoke(staff_client: Client, vendor: Vendor) -> None:
    response = staff_client.post("/vendor/keys/", {"name": "production"})
    raw_key = re.search(r'value="(ic_[^"]+)"', response.content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/api/v1/vendor/").status_code == 200
    assert raw_key not in staff_client.get("/vendor/keys/").content.decode()

    key = ApiKey.objects.get(vendor=vendor, name="production")
    staff_client.post(f"/vendor/keys/{key.pk}/revoke/")

    assert api.get("/api/v1/vendor/").status_code == 401


def _form_token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def test_a_key_page_sent_again_makes_no_second_key(staff_client: Client, vendor: Vendor) -> None:
    """A reload of the answer (or Back, then send) posts the same form again."""
    sent = {
        "name": "production",
        "form_token": _form_token(staff_client.get("/vendor/keys/").content.decode()),
    }
    first = staff_client.post("/vendor/keys/", sent).content.decode()
    again = staff_client.post("/vendor/keys/", sent, follow=True).content.decode()

    assert 'id="new-key"' in first
    assert ApiKey.objects.filter(vendor=vendor, name="production").count() == 1
    assert escape(KEY_SENT_AGAIN) in again and 'id="new-key"' not in again
    fresh = {"name": "staging", "form_token": _form_token(first)}  # the answer's own form
    assert 'id="new-key"' in staff_client.post("/vendor/keys/", fresh).content.decode()
    assert ApiKey.objects.filter(vendor=vendor).count() == 2


def test_a_refused_key_page_goes_once_mended(staff_client: Client, vendor: Vendor) -> None:
    token = _form_token(staff_client.get("/vendor/keys/").content.decode())
    vendor_set_suspended(vendor=vendor, is_suspended=True)
    staff_client.post("/vendor/keys/", {"name": "production", "form_token": token})
    vendor_set_suspended(vendor=vendor, is_suspended=False)

    sent = staff_client.post("/vendor/keys/", {"name": "production", "form_token": token})

    assert 'id="new-key"' in sent.content.decode()
    assert ApiKey.objects.filter(vendor=vendor, name="production").count() == 1


def test_a_key_page_whose_send_failed_goes_again_as_a_first_send(
    staff_client: Client, vendor: Vendor, monkeypatch: Any
) -> None:
    """A crash made nothing: sent again, the page is not told it was sent already."""
    import marketplace.views as views_module

    token = _form_token(staff_client.get("/vendor/keys/").content.decode())
    sent = {"name": "production", "form_token": token}
    with monkeypatch.context() as broken:
        broken.setattr(views_module, "api_key_create", _raise_runtime_error)
        with pytest.raises(RuntimeError):
            staff_client.post("/vendor/keys/", sent)

    again = staff_client.post("/vendor/keys/", sent).content.decode()

    assert 'id="new-key"' in again
    assert ApiKey.objects.filter(vendor=vendor, name="production").count() == 1


def _raise_runtime_error(**kwargs: Any) -> None:
    raise RuntimeError("the database went away")


def test_an_endpoint_page_sent_again_adds_no_second_endpoint_nor_secret(
    staff_client: Client, vendor: Vendor
) -> None:
    token = _form_token(staff_client.get("/vendor/webhooks/").content.decode())
    sent = {"url": "https://hooks.example.com/in", "form_token": token}
    first = staff_client.post("/vendor/webhooks/", sent).content.decode()
    endpoint = WebhookEndpoint.objects.get(vendor=vendor)
    again = staff_client.post("/vendor/webhooks/", sent, follow=True).content.decode()

    assert endpoint.secret in first
    assert escape(ENDPOINT_SENT_AGAIN) in again and endpoint.secret not in again
    assert WebhookEndpoint.objects.get(vendor=vendor).secret == endpoint.secret


def test_a_new_signing_secret_sent_again_is_not_replaced(
    staff_client: Client, vendor: Vendor
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.com/in")
    page = staff_client.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode()
    sent = {"action": "rotate", "form_token": _form_token(page)}
    first = staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", sent).content.decode()
    rotated = WebhookEndpoint.objects.get(pk=endpoint.pk)
    again = staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", sent, follow=True)

    assert rotated.secret != endpoint.secret and rotated.secret in first
    assert escape(SECRET_SENT_AGAIN) in again.content.decode()
    assert rotated.secret not in again.content.decode()
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == rotated.secret
    assert rotated.previous_secret == endpoint.secret  # the copied one keeps working


def test_cannot_revoke_another_vendors_key(staff_client: Client) -> None:
    other_key = ApiKey.objects.create(vendor=VendorFactory(), prefix="abc123", hashed_key="x")
    assert staff_client.post(f"/vendor/keys/{other_key.pk}/revoke/").status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_buyer_without_vendor_is_forbidden(client: Client) -> None:
    client.force_login(UserFactory())
    assert client.get("/vendor/").status_code == 403
    assert client.get("/vendor/keys/").status_code == 403


def test_webhook_endpoint_on_the_web(staff_client: Client, vendor: Vendor) -> None:
    with webhook_receiver() as receiver:
        response = staff_client.post(
            "/vendor/webhooks/", {"url": receiver.url + "/in", "event_types": ["offer.accepted"]}
        )
        html = response.content.decode()
        endpoint = WebhookEndpoint.objects.get(vendor=vendor)
        assert endpoint.secret in html  # shown once …
        assert endpoint.secret not in staff_client.get("/vendor/webhooks/").content.decode()

        staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", {"action": "test"})
        assert len(receiver.received) == 1
        page = staff_client.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode()
        assert "webhook.test" in page and receiver.received[0].headers["webhook-id"] in page

    staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", {"action": "disable"})
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active is False
    unconfirmed = staff_client.post(
        f"/vendor/webhooks/{endpoint.pk}/", {"action": "delete"}, follow=True
    )
    assert "Tick the box to confirm the deletion." in unconfirmed.content.decode()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", {"action": "delete", "confirm": "delete"})
    assert not WebhookEndpoint.objects.exists()


def test_a_webhook_endpoint_is_changed_on_the_web_keeping_its_secret_and_log(
    staff_client: Client, vendor: Vendor
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.test/old")
    emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="before")
    events_dispatch()
    page = staff_client.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode()
    assert 'value="https://hooks.example.test/old"' in page
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and "csrf" not in title  # the page's name, nothing else

    staff_client.post(
        f"/vendor/webhooks/{endpoint.pk}/",
        {
            "action": "update",
            "url": "https://hooks.example.test/new",
            "description": "staging",
            "event_types": ["offer.accepted", "offer.declined"],
        },
    )

    changed = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (changed.url, changed.description, changed.event_types) == (
        "https://hooks.example.test/new",
        "staging",
        ["offer.accepted", "offer.declined"],
    )
    assert changed.secret == endpoint.secret
    assert changed.deliveries.count() == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"url": "http://127.0.0.1:9000/x"}, "private, loopback or link-local"),
        ({"url": "not a url"}, "Enter a valid URL."),
        (
            {"url": "https://hooks.example.test/in", "event_types": ["bogus"]},
            "Select a valid choice.",
        ),
    ],
)
def test_a_bad_change_to_a_webhook_endpoint_is_refused_next_to_its_field(
    staff_client: Client, vendor: Vendor, settings: object, form: dict, message: str
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.test/old")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # type: ignore[attr-defined]

    response = staff_client.post(f"/vendor/webhooks/{endpoint.pk}/", {"action": "update", **form})

    assert response.status_code == 200
    assert message in response.content.decode()
    unchanged = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (unchanged.url, unchanged.event_types) == ("https://hooks.example.test/old", [])
    # The new endpoint form shows its refusal next to the events, too.
    if "event_types" in form:
        added = staff_client.post("/vendor/webhooks/", form).content.decode()
        assert message in added and WebhookEndpoint.objects.count() == 1


def test_a_failed_delivery_is_sent_again_from_the_web_with_its_webhook_id(
    staff_client: Client, vendor: Vendor
) -> None:
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 200]
        endpoint = webhook_endpoint_create(vendor=vendor, url=receiver.url + "/in")
        emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="once")
        events_dispatch()
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        webhook_deliver(delivery_id=delivery.pk)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(  # as after its last retry
            status=WebhookDelivery.Status.FAILED, next_attempt_at=None
        )
        page = staff_client.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode()
        assert 'value="redeliver"' in page

        response = staff_client.post(
            f"/vendor/webhooks/{endpoint.pk}/",
            {"action": "redeliver", "delivery": str(delivery.pk)},
            follow=True,
        )

        assert "Sent again: 200" in response.content.decode()
        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.message_id] * 2
        assert (
            WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.SUCCEEDED
        )


def test_another_vendors_delivery_cannot_be_sent_again(
    staff_client: Client, vendor: Vendor
) -> None:
    mine = webhook_endpoint_create(vendor=vendor, url="https://hooks.example.test/mine")
    other = VendorFactory()
    theirs = webhook_endpoint_create(vendor=other, url="https://hooks.example.test/theirs")
    emit(vendor_id=other.pk, type="intent.closed", payload={}, dedupe_key="theirs")
    events_dispatch()
    delivery = WebhookDelivery.objects.get(endpoint=theirs)

    for value in (str(delivery.pk), "not-a-uuid"):
        response = staff_client.post(
            f"/vendor/webhooks/{mine.pk}/", {"action": "redeliver", "delivery": value}
        )
        assert response.status_code == 404
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 0


def test_testing_a_disabled_endpoint_sends_nothing_and_says_why(
    staff_client: Client, vendor: Vendor
) -> None:
    with webhook_receiver() as receiver:
        endpoint = webhook_endpoint_create(vendor=vendor, url=receiver.url + "/in")
        webhook_endpoint_update(endpoint=endpoint, is_active=False)

        response = staff_client.post(
            f"/vendor/webhooks/{endpoint.pk}/", {"action": "test"}, follow=True
        )

        assert "The endpoint is disabled; enable it first." in response.content.decode()
        assert receiver.received == []
        assert not WebhookDelivery.objects.exists()


def test_webhook_form_refuses_bad_url(staff_client: Client, settings: object) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # type: ignore[attr-defined]
    response = staff_client.post("/vendor/webhooks/", {"url": "http://127.0.0.1:9000/x"})
    assert "private, loopback or link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_other_vendors_endpoint_is_404(staff_client: Client) -> None:
    theirs = WebhookEndpoint.objects.create(
        vendor=VendorFactory(), url="https://x.test", secret="s"
    )
    assert staff_client.get(f"/vendor/webhooks/{theirs.pk}/").status_code == 404
    assert (
        staff_client.post(f"/vendor/webhooks/{theirs.pk}/", {"action": "delete"}).status_code == 404
    )
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_a_person_changes_their_password_on_the_sites_own_pages(client: Client) -> None:
    person = UserFactory()
    client.force_login(person)

    my_data = client.get("/me/").content.decode()
    form = client.get("/accounts/password_change/").content.decode()
    done = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-Long-passphrase-7",
            "new_password2": "a-new-Long-passphrase-7",
        },
        follow=True,
    )

    assert 'href="/accounts/password_change/"' in my_data
    assert "/admin/" not in form  # not the admin's page
    assert "Password changed" in done.content.decode()
    person.refresh_from_db()
    assert person.check_password("a-new-Long-passphrase-7")


def test_a_suspended_vendors_staff_are_told_and_get_no_new_key_nor_test_delivery(
    staff_client: Client, vendor: Vendor
) -> None:
    with webhook_receiver() as receiver:
        endpoint = WebhookEndpoint.objects.create(
            vendor=vendor, url=receiver.url, secret="whsec_" + "A" * 32
        )
        vendor_set_suspended(vendor=vendor, is_suspended=True)
        keys_before = ApiKey.objects.filter(vendor=vendor).count()

        for path in ("/vendor/", "/vendor/keys/", "/vendor/webhooks/"):
            page = staff_client.get(path).content.decode()
            assert "This vendor is suspended" in page, path
        refused = staff_client.post("/vendor/keys/", {"name": "another"})
        tested = staff_client.post(
            f"/vendor/webhooks/{endpoint.pk}/", {"action": "test"}, follow=True
        )

        assert refused.status_code == 200
        assert escape(SUSPENDED) in refused.content.decode()  # the form's error
        assert "ic_" not in refused.content.decode()
        assert ApiKey.objects.filter(vendor=vendor).count() == keys_before
        assert escape(SUSPENDED) in tested.content.decode()  # the flash message
        assert receiver.received == []
        assert not endpoint.deliveries.exists()


def test_staff_of_a_vendor_in_good_standing_see_no_suspension_notice(
    staff_client: Client,
) -> None:
    assert "suspended" not in staff_client.get("/vendor/keys/").content.decode()


def form_as_loaded(html: str) -> dict[str, list[str]]:
    """The form's values as the page shows them: what a browser sends back unchanged
    (every text box and hidden field, every ticked box, the chosen option)."""
    form: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        box = 'type="checkbox"' in tag
        if name and name.group(1) != "csrfmiddlewaretoken" and (not box or " checked" in tag):
            sent = value.group(1) if value else "on" if box else ""
            form.setdefault(name.group(1), []).append(unescape(sent))
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        form[name] = [unescape(text.strip())]
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        form[name] = re.findall(r'<option value="([^"]*)" selected>', options) or [""]
    return form


def test_saving_the_profile_page_keeps_what_the_api_saved_meanwhile(
    vendor: Vendor, category: Category, vendor_client: Any
) -> None:
    vendor.categories.set([category])
    Vendor.objects.filter(pk=vendor.pk).update(daily_capacity=250_000)  # before the bound
    staff = Client()
    staff.force_login(UserFactory(vendor=vendor))
    form = form_as_loaded(staff.get("/vendor/").content.decode())
    assert "is_paused" not in form and form["daily_capacity"] == ["250000"]

    paused = vendor_client(vendor).patch("/api/v1/vendor/", {"is_paused": True}, format="json")
    saved = staff.post("/vendor/", form | {"keywords": ["boilers"]})

    assert (paused.status_code, saved.status_code) == (200, 302), re.findall(
        r'class="error">([^<]*)', saved.content.decode()
    )
    vendor.refresh_from_db()
    assert (vendor.keywords, vendor.is_paused, vendor.daily_capacity) == (
        ["boilers"],
        True,
        250_000,
    )


def test_saving_an_endpoint_page_keeps_event_types_the_api_saved_meanwhile(
    vendor: Vendor, vendor_client: Any
) -> None:
    endpoint = webhook_endpoint_create(vendor=vendor, url="http://127.0.0.1:9/hook")
    staff = Client()
    staff.force_login(UserFactory(vendor=vendor))
    form = form_as_loaded(staff.get(f"/vendor/webhooks/{endpoint.pk}/").content.decode())

    narrowed = vendor_client(vendor).patch(
        f"/api/v1/webhooks/{endpoint.pk}/", {"event_types": ["offer.accepted"]}, format="json"
    )
    saved = staff.post(
        f"/vendor/webhooks/{endpoint.pk}/",
        form | {"action": ["update"], "description": ["production"]},
    )

    assert (narrowed.status_code, saved.status_code) == (200, 302)
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.event_types) == ("production", ["offer.accepted"])


def test_a_profile_page_opened_before_values_as_shown_were_sent_saves_all_it_says(
    vendor: Vendor, category: Category
) -> None:
    vendor.categories.set([category])
    Vendor.objects.filter(pk=vendor.pk).update(is_paused=True, website="https://old.example")
    staff = Client()
    staff.force_login(UserFactory(vendor=vendor))
    as_loaded = form_as_loaded(staff.get("/vendor/").content.decode())
    older_page = {
        name: value
        for name, value in as_loaded.items()
        if not name.startswith("initial-") and name != "is_paused"
    }  # it sent no values as shown; "Paused" unticked

    saved = staff.post("/vendor/", older_page | {"website": [""]})

    assert saved.status_code == 302
    vendor.refresh_from_db()
    assert (vendor.is_paused, vendor.website) == (False, "")
