from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from intents.models import Intent, Notice
from marketplace.models import Category, Membership, Organization, User, Vendor
from marketplace.organizations import skill_profile_update
from marketplace.services import region_coverage, vendor_match_keys
from offers.models import Offer

PASSWORD = "correct-horse-battery"
BUYER_EMAIL_DOMAIN = "people.example.test"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"buyer{n}")
    # Every factory-made person has an address on this domain, so the suite-wide
    # guard in tests/conftest.py can tell a leaked buyer identity at a glance.
    email = factory.LazyAttribute(lambda user: f"{user.username}@{BUYER_EMAIL_DOMAIN}")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"category-{n}")
    name = factory.LazyAttribute(lambda category: category.slug.replace("-", " ").title())


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor-{n}")
    contact_email = factory.LazyAttribute(lambda vendor: f"sales@{vendor.slug}.example.test")
    regions = factory.LazyFunction(lambda: ["DE"])
    coverage = factory.LazyAttribute(lambda vendor: region_coverage(vendor.regions))

    @factory.post_generation
    def categories(self, create: bool, extracted: list[Category] | None, **kwargs: object) -> None:
        if create and extracted:
            self.categories.set(extracted)
            # As the vendor services do: matching on PostgreSQL looks vendors up by these.
            self.match_keys = vendor_match_keys([c.pk for c in extracted], self.coverage)
            type(self).objects.filter(pk=self.pk).update(match_keys=self.match_keys)


def _stamp_if(reached: bool) -> datetime | None:
    return timezone.now() if reached else None


class IntentFactory(factory.django.DjangoModelFactory):
    """An open intent by default."""

    class Meta:
        model = Intent

    buyer = factory.SubFactory(UserFactory)
    pseudonym = factory.Sequence(lambda n: f"Calm Heron {100 + n}")
    title = factory.Sequence(lambda n: f"Intent {n}")
    description = "Need it done well."
    category = factory.SubFactory(CategoryFactory)
    quantity = Decimal("1")
    budget_min = Decimal("100.00")
    budget_max = Decimal("500.00")
    currency = "EUR"
    country = "DE"
    offers_close_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    status = Intent.Status.OPEN
    published_at = factory.LazyFunction(timezone.now)
    # The status's own stamp, as the services write it (the database insists).
    closed_at = factory.LazyAttribute(lambda i: _stamp_if(i.status == Intent.Status.CLOSED))
    awarded_at = factory.LazyAttribute(lambda i: _stamp_if(i.status == Intent.Status.AWARDED))
    withdrawn_at = factory.LazyAttribute(lambda i: _stamp_if(i.status == Intent.Status.WITHDRAWN))
    expired_at = factory.LazyAttribute(lambda i: _stamp_if(i.status == Intent.Status.EXPIRED))


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer
        skip_postgeneration_save = True  # the hook below writes the notice, not the offer

    intent = factory.SubFactory(IntentFactory)
    vendor = factory.SubFactory(VendorFactory)
    price = Decimal("250.00")
    currency = factory.LazyAttribute(lambda offer: offer.intent.currency)
    status = Offer.Status.SUBMITTED
    decided_at = factory.LazyAttribute(lambda o: _stamp_if(o.status != Offer.Status.SUBMITTED))

    @factory.post_generation
    def noticed(offer: Offer, create: bool, extracted: object, **kwargs: object) -> None:
        """A vendor offers on an intent it was told of: its notice, unless ``noticed=False``."""
        if create and offer.vendor_id is not None and extracted is not False:
            Notice.objects.get_or_create(
                intent=offer.intent,
                vendor=offer.vendor,
                defaults={
                    "reasons": ["category: plumbing"],
                    "listed": offer.intent.is_listed_for_vendors,
                    "closes_at": offer.intent.offers_close_at,
                },
            )


class NoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notice

    intent = factory.SubFactory(IntentFactory)
    vendor = factory.SubFactory(VendorFactory)
    reasons = factory.LazyFunction(lambda: ["category: plumbing", "region: DE"])
    # As matching sets it: the intent is in the vendor's default list.
    listed = factory.LazyAttribute(
        lambda notice: notice.vendor is not None and notice.intent.is_listed_for_vendors
    )
    closes_at = factory.LazyAttribute(lambda notice: notice.intent.offers_close_at)


def noticed_intent(vendor: Vendor, **fields: object) -> Intent:
    """An intent the vendor was matched to (so it may see and answer it)."""
    intent = IntentFactory(**fields)
    NoticeFactory(intent=intent, vendor=vendor)
    return intent


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


def org_member(
    organization: Organization,
    *,
    role: str = Membership.Role.MEMBER,
    skills: list[str] | None = None,
    **user_fields: object,
) -> User:
    """A new person in ``organization`` with the role and (optional) skills."""
    user = UserFactory(**user_fields)
    Membership.objects.create(organization=organization, user=user, role=role)
    if skills is not None:
        skill_profile_update(user=user, skills=skills)
    return user


def internal_intent(organization: Organization, poster: User, **fields: object) -> Intent:
    """An open internal RFP of ``organization`` (made directly, not matched)."""
    defaults: dict[str, object] = {
        "buyer": poster,
        "organization": organization,
        "visibility": Intent.Visibility.INTERNAL,
        "reward_amount": Decimal("1000.00"),
        "currency": "EUR",
        "country": "",
        "is_remote": True,
        "budget_min": None,
        "budget_max": None,
        "title": "Cut the month-end close from five days to two",
        "description": "Automate the reconciliation with python and sql.",
    }
    return IntentFactory(**(defaults | fields))


def proposal(intent: Intent, member: User, **fields: object) -> Offer:
    """A submitted proposal by ``member`` (no vendor, no price)."""
    return OfferFactory(
        intent=intent,
        vendor=None,
        member=member,
        price=None,
        currency=intent.currency,
        message=fields.pop("message", "I can do it."),
        **fields,
    )
