"""The admin pages load, search works, and the moderation actions act."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from intents.admin import IntentAdmin
from intents.models import Intent
from marketplace.errors import DomainError
from marketplace.events import emit, events_dispatch
from marketplace.models import Membership, User, Vendor, WebhookDelivery
from marketplace.services import api_key_create
from marketplace.webhooks import webhook_deliver, webhook_endpoint_create
from offers.admin import OfferAdmin
from offers.models import Offer, OfferRevision, Rating
from offers.services import offer_accept
from tests.factories import (
    IntentFactory,
    OfferFactory,
    OrganizationFactory,
    UserFactory,
    VendorFactory,
    noticed_intent,
)
from tests.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


# admin_client: pytest-django's, a logged-in superuser.


@pytest.mark.parametrize(
    "path",
    [
        "/admin/marketplace/user/",
        "/admin/marketplace/category/",
        "/admin/marketplace/vendor/",
        "/admin/marketplace/apikey/",
        "/admin/intents/intent/",
        "/admin/offers/offer/",
        "/admin/intents/notice/",
        "/admin/marketplace/event/",
        "/admin/marketplace/webhookendpoint/",
        "/admin/marketplace/webhookdelivery/",
        "/admin/marketplace/vendorblock/",
        "/admin/marketplace/organization/",
        "/admin/marketplace/membership/",
        "/admin/marketplace/invitation/",
        "/admin/marketplace/skillprofile/",
        "/admin/marketplace/experienceentry/",
        "/admin/offers/proposalcoauthor/",
        "/admin/offers/rewardentry/",
    ],
)
def test_changelists_load_with_search(admin_client: Client, path: str) -> None:
    OfferFactory()
    assert admin_client.get(path).status_code == 200
    assert admin_client.get(path, {"q": "x"}).status_code == 200


def test_suspend_action_stops_the_keys(admin_client: Client, vendor: Vendor) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
    assert api.get("/api/v1/vendor/").status_code == 200

    admin_client.post(
        "/admin/marketplace/vendor/",
        {"action": "suspend", "_selected_action": [str(vendor.pk)]},
    )

    assert Vendor.objects.get(pk=vendor.pk).is_suspended is True
    assert api.get("/api/v1/vendor/").status_code == 403


def test_verify_action(admin_client: Client, vendor: Vendor) -> None:
    admin_client.post(
        "/admin/marketplace/vendor/", {"action": "verify", "_selected_action": [str(vendor.pk)]}
    )
    assert Vendor.objects.get(pk=vendor.pk).is_verified is True


def test_hide_action_removes_intent_from_vendors(admin_client: Client, vendor: Vendor) -> None:
    intent = noticed_intent(vendor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(vendor=vendor).raw_key}")
    assert api.get(f"/api/v1/intents/{intent.pk}/").status_code == 200

    admin_client.post(
        "/admin/intents/intent/", {"action": "hide", "_selected_action": [str(intent.pk)]}
    )

    assert Intent.objects.get(pk=intent.pk).is_hidden is True
    assert api.get(f"/api/v1/intents/{intent.pk}/").status_code == 404


def test_redeliver_action_resends_with_the_same_id(admin_client: Client, vendor: Vendor) -> None:
    with webhook_receiver() as receiver:
        webhook_endpoint_create(vendor=vendor, url=receiver.url)
        emit(vendor_id=vendor.pk, type="intent.closed", payload={}, dedupe_key="admin")
        events_dispatch()
        delivery = WebhookDelivery.objects.get()
        webhook_deliver(delivery_id=delivery.pk)
        assert (
            admin_client.get(
                f"/admin/marketplace/webhookdelivery/{delivery.pk}/change/"
            ).status_code
            == 200
        )

        admin_client.post(
            "/admin/marketplace/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
        )

        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.message_id] * 2
    assert WebhookDelivery.objects.get().attempts == 2


def test_intent_form_offers_no_field_the_services_keep(admin_client: Client) -> None:
    intent = noticed_intent(VendorFactory())
    html = admin_client.get(f"/admin/intents/intent/{intent.pk}/change/").content.decode()

    assert 'name="title"' in html  # the form is there …
    for kept_by_services in ("criteria_for_vendors", "buyer_activity_at", "needs_matching"):
        assert f'name="{kept_by_services}"' not in html  # … without these inputs


def test_saving_an_intent_in_the_admin_writes_only_what_changed() -> None:
    intent = noticed_intent(VendorFactory())
    in_the_form = Intent.objects.get(pk=intent.pk)  # as loaded for the moderator's form
    news = timezone.now()
    Intent.objects.filter(pk=intent.pk).update(buyer_activity_at=news)  # an offer arrives
    in_the_form.title = "Rewire the workshop (moderated)"
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    IntentAdmin(Intent, admin.site).save_model(
        request, in_the_form, SimpleNamespace(changed_data=["title"]), change=True
    )

    saved = Intent.objects.get(pk=intent.pk)
    assert saved.title == "Rewire the workshop (moderated)"
    assert saved.buyer_activity_at == news  # the buyer still has news


def test_a_moderator_s_correction_is_a_revision_the_buyer_must_see_before_accepting(
    admin_client: Client,
) -> None:
    offer = OfferFactory(message="Call me on +49 151 000000")
    change = f"/admin/offers/offer/{offer.pk}/change/"
    moderator = User.objects.get(username="admin")

    admin_client.post(change, {"message": "[contact details removed]"})
    admin_client.post(change, {"message": "[contact details removed]"})

    [revision] = OfferRevision.objects.filter(offer=offer)
    assert (revision.changes, revision.moderator, revision.api_key) == (
        {"message": ["Call me on +49 151 000000", "[contact details removed]"]},
        moderator,
        None,
    )
    offer.refresh_from_db()
    assert offer.revision_count == 1  # the second save changed nothing: no revision
    with pytest.raises(DomainError) as refused:  # the buyer had read revision 0
        offer_accept(offer=offer, buyer=offer.intent.buyer, seen_revision=0)
    assert refused.value.kind == "conflict"
    assert "a moderator (admin) — message" in admin_client.get(change).content.decode()
    admin_client.cookies["tz"] = "Asia/Tokyo"  # the admin's own zone, named
    made = timezone.localtime(revision.created_at, ZoneInfo("Asia/Tokyo"))
    assert f"{made:%Y-%m-%d %H:%M} JST — a moderator" in admin_client.get(change).content.decode()
    buyer = Client()
    buyer.force_login(offer.intent.buyer)
    assert "corrected by a moderator" in buyer.get(f"/intents/{offer.intent_id}/").content.decode()


def test_an_offer_is_edited_in_the_admin_only_in_its_message(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = OfferFactory(message="Call me, idiot")
    page = admin_client.get(f"/admin/offers/offer/{offer.pk}/change/").content.decode()
    real_get_object = OfferAdmin.get_object

    def revised_meanwhile(self: OfferAdmin, *args: object, **kwargs: object) -> Offer | None:
        loaded = real_get_object(self, *args, **kwargs)
        # The vendor revises its offer after the admin read the row, before it saves.
        Offer.objects.filter(pk=offer.pk).update(revision_count=1, delivery_date=date(2031, 1, 2))
        return loaded

    monkeypatch.setattr(OfferAdmin, "get_object", revised_meanwhile)

    admin_client.post(
        f"/admin/offers/offer/{offer.pk}/change/",
        {"message": "[removed by a moderator]", "price": "1.00", "currency": "USD"},
    )

    offer.refresh_from_db()
    assert (offer.message, offer.price, offer.currency) == (
        "[removed by a moderator]",
        Decimal("250.00"),
        "EUR",
    )
    # The vendor's revision kept, and the moderator's correction counted as one more.
    assert (offer.revision_count, offer.delivery_date) == (2, date(2031, 1, 2))
    assert 'name="message"' in page and 'name="price"' not in page
    assert admin_client.get("/admin/offers/offer/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/offers/offer/{offer.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_the_admin_never_leaves_an_organization_without_an_owner(admin_client: Client) -> None:
    organization = OrganizationFactory()
    owner = Membership.objects.create(
        organization=organization, user=UserFactory(), role=Membership.Role.OWNER
    )
    member = Membership.objects.create(organization=organization, user=UserFactory())
    change = f"/admin/marketplace/membership/{owner.pk}/change/"

    demoted = admin_client.post(change, {"role": "member"})
    deleted = admin_client.post(
        f"/admin/marketplace/membership/{owner.pk}/delete/", {"post": "yes"}
    )
    bulk = admin_client.post(
        "/admin/marketplace/membership/",
        {"action": "delete_selected", "_selected_action": [owner.pk], "post": "yes"},
    )
    inline = admin_client.post(
        f"/admin/marketplace/organization/{organization.pk}/change/",
        {
            "name": organization.name,
            "slug": organization.slug,
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "2",
            "memberships-0-id": owner.pk,
            "memberships-0-organization": organization.pk,
            "memberships-0-user": owner.user_id,
            "memberships-0-role": "member",
            "memberships-1-id": member.pk,
            "memberships-1-organization": organization.pk,
            "memberships-1-user": member.user_id,
            "memberships-1-role": "member",
        },
    )

    assert demoted.status_code == 200 and "keeps at least one owner" in demoted.content.decode()
    assert deleted.status_code == 403
    assert bulk.status_code == 403
    assert inline.status_code == 200 and "keeps at least one owner" in inline.content.decode()
    assert sorted(Membership.objects.values_list("role", flat=True)) == ["member", "owner"]
    # With a second owner, either may go, but not both at once.
    second = Membership.objects.create(
        organization=organization, user=UserFactory(), role=Membership.Role.OWNER
    )
    both = admin_client.post(
        "/admin/marketplace/membership/",
        {"action": "delete_selected", "_selected_action": [owner.pk, second.pk], "post": "yes"},
        follow=True,
    )
    assert "Nothing deleted" in both.content.decode()
    assert Membership.objects.count() == 3
    assert admin_client.post(change, {"role": "member"}).status_code == 302
    assert Membership.objects.get(pk=owner.pk).role == "member"


def test_the_ratings_changelist_reads_as_many_queries_for_30_rows_as_for_1(
    admin_client: Client,
) -> None:
    def rate() -> None:
        vendor = VendorFactory()
        intent = IntentFactory(status=Intent.Status.AWARDED)
        offer = OfferFactory(intent=intent, vendor=vendor, status=Offer.Status.ACCEPTED)
        Rating.objects.create(offer=offer, vendor=vendor, stars=4, text="Fine")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/offers/rating/").status_code == 200
        return len(captured)

    rate()
    one = queries()
    for _ in range(29):
        rate()

    assert queries() == one
