from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from intents.models import Intent
from marketplace.models import Category, User, Vendor
from marketplace.services import vendor_set_suspended
from offers.models import Offer
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db


def last_line(output: StringIO) -> str:
    return output.getvalue().strip().splitlines()[-1]


def test_create_vendor_prints_a_working_key_on_the_last_line(category: Category) -> None:
    CategoryFactory(slug="painting")
    out, said = StringIO(), StringIO()
    call_command(
        "create_vendor",
        "--name", "Acme Plumbing",
        "--email", "ops@acme.test",
        "--categories", "plumbing,painting",
        "--regions", "DE,fr",
        stdout=out,
        stderr=said,
    )  # fmt: skip
    raw_key = last_line(out)
    staff = User.objects.get(email="ops@acme.test")
    assert f"staff user {staff.get_username()} (ops@acme.test)" in said.getvalue()
    assert "“Forgot your password?”" in said.getvalue()  # how that person logs in
    vendor = Vendor.objects.get(slug="acme-plumbing")
    assert vendor.regions == ["DE", "FR"]
    assert set(vendor.categories.values_list("slug", flat=True)) == {"plumbing", "painting"}
    assert User.objects.get(email="ops@acme.test").vendor == vendor
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/api/v1/vendor/").json()["slug"] == "acme-plumbing"


def test_create_vendor_refuses_unknown_category(db: None) -> None:
    with pytest.raises(CommandError, match="nope"):
        call_command("create_vendor", "--name", "A", "--email", "a@a.test", "--categories", "nope")
    assert not Vendor.objects.exists()


def test_create_vendor_refuses_bad_region(category: Category) -> None:
    with pytest.raises(CommandError, match="ISO 3166"):
        call_command(
            "create_vendor", "--name", "A", "--email", "a@a.test", "--categories", "plumbing",
            "--regions", "XX",
        )  # fmt: skip
    assert not Vendor.objects.exists()


def test_create_api_key(vendor: Vendor) -> None:
    out = StringIO()
    call_command("create_api_key", vendor.slug, stdout=out, stderr=StringIO())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {last_line(out)}")
    assert api.get("/api/v1/vendor/").status_code == 200


def test_create_api_key_unknown_vendor(db: None) -> None:
    with pytest.raises(CommandError):
        call_command("create_api_key", "nobody")


def test_create_api_key_refuses_a_suspended_vendor(vendor: Vendor) -> None:
    vendor_set_suspended(vendor=vendor, is_suspended=True)

    with pytest.raises(CommandError, match="suspended"):
        call_command("create_api_key", vendor.slug, stdout=StringIO(), stderr=StringIO())

    assert not vendor.api_keys.exists()


def test_seed_demo_is_idempotent_and_prints_working_keys(db: None) -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    assert Vendor.objects.count() == 3
    assert Intent.objects.filter(status=Intent.Status.OPEN, organization=None).count() == 3
    assert Offer.objects.filter(member=None).count() == 3
    # The demo organization: one internal RFP, matched to the colleague, with a proposal.
    internal = Intent.objects.get(organization__slug="demo-co")
    assert list(internal.notices.values_list("member__username", flat=True)) == ["colleague"]
    assert list(internal.offers.values_list("member__username", flat=True)) == ["colleague"]
    raw_key = out.getvalue().strip().splitlines()[-1].split()[-1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/api/v1/intents/").json()["count"] == 1


def test_seed_demo_leaves_a_suspended_demo_vendor_suspended_without_a_new_key(db: None) -> None:
    call_command("seed_demo", stdout=StringIO())
    suspended = Vendor.objects.order_by("slug").first()
    vendor_set_suspended(vendor=suspended, is_suspended=True)
    keys_before = set(suspended.api_keys.values_list("pk", "revoked_at"))

    out = StringIO()
    call_command("seed_demo", stdout=out)

    suspended.refresh_from_db()
    assert suspended.is_suspended
    assert f"{suspended.name} is suspended: no demo key" in out.getvalue()
    assert set(suspended.api_keys.values_list("pk", "revoked_at")) == keys_before


def test_load_categories_fills_a_new_database_and_keeps_an_operator_s_names(db: None) -> None:
    first, second = StringIO(), StringIO()

    call_command("load_categories", stdout=first)
    Category.objects.filter(slug="plumbing").update(name="Plumbing and heating")
    call_command("load_categories", stdout=second)

    total = Category.objects.count()
    assert first.getvalue().strip() == f"{total} categories created; {total} in all."
    assert second.getvalue().strip() == f"0 categories created; {total} in all."
    plumbing = Category.objects.select_related("parent").get(slug="plumbing")
    assert (plumbing.name, plumbing.parent.slug) == ("Plumbing and heating", "home-services")
    out = StringIO()
    call_command(
        "create_vendor", "--name", "Acme", "--email", "ops@acme.example",
        "--categories", "plumbing", "--regions", "DE", stdout=out,
    )  # fmt: skip
    assert out.getvalue().strip().splitlines()[-1]  # the vendor's key: its category exists
