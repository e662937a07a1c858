"""Demo data for the embedded default: categories, vendors, a buyer, intents with offers.

Safe to run again: what exists is reused. Each run issues every demo vendor a
fresh API key (and revokes the previous demo key), because a key can only be
shown when it is made.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.text import slugify

from intents.models import Intent
from intents.notices import intent_match
from intents.services import intent_create, intent_create_internal
from marketplace.models import ApiKey, Category, Membership, Organization, User, Vendor
from marketplace.organizations import organization_create, skill_profile_update
from marketplace.services import api_key_create, categories_load, vendor_create
from offers.models import Offer
from offers.proposals import proposal_submit
from offers.services import offer_submit

VENDORS = [
    (
        "Rohr & Söhne Plumbing",
        "plumbing@demo.intentcast.localhost",
        ["home-services"],
        ["DE", "AT"],
    ),
    ("Pixel Foundry", "web@demo.intentcast.localhost", ["it-services"], ["*"]),
    ("Feast & Co Catering", "catering@demo.intentcast.localhost", ["events"], ["DE", "FR", "NL"]),
]

QUIET_EMAIL = "django.core.mail.backends.dummy.EmailBackend"
DEMO_PASSWORD = "intentcast-demo"
DEMO_BUYER = ("demo", "demo@intentcast.localhost", DEMO_PASSWORD)
DEMO_ORGANIZATION = ("demo-co", "Demo Co")
DEMO_COLLEAGUE = ("colleague", "colleague@intentcast.localhost")
DEMO_RFP = "Automate the weekly sales report"

INTENTS = [
    {
        "title": "Replace a leaking kitchen tap",
        "description": "Mixer tap in a rented flat drips constantly. Need it replaced this month.",
        "category": "plumbing",
        "country": "DE",
        "postal_area": "10115",
        "budget_min": Decimal("100"),
        "budget_max": Decimal("300"),
        "currency": "EUR",
        "terms": [{"code": "no-marketing"}, {"code": "delete-after-award", "days": 30}],
        "offers": [("rohr-sohne-plumbing", Decimal("180.00"), "Tap and fitting included.")],
    },
    {
        "title": "A small website for my bakery",
        "description": "Five pages, opening hours, a menu I can edit myself, bilingual DE/EN.",
        "category": "web-development",
        "country": "",
        "is_remote": True,
        "budget_min": Decimal("1500"),
        "budget_max": Decimal("4000"),
        "currency": "EUR",
        "offers": [("pixel-foundry", Decimal("2800.00"), "Static site with a simple editor.")],
    },
    {
        "title": "Catering for 40 guests, garden party",
        "description": "Vegetarian-friendly buffet, drinks not needed. Saturday afternoon.",
        "category": "catering",
        "country": "DE",
        "budget_max": Decimal("2000"),
        "currency": "EUR",
        "offers": [("feast-co-catering", Decimal("1650.00"), "Buffet for 40, staff for 4 hours.")],
    },
]


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins and vendor API keys."

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's own notice and buyer e-mails would drown the logins below.
        with override_settings(EMAIL_BACKEND=QUIET_EMAIL), transaction.atomic():
            self._categories()
            keys = self._vendors()
            buyer = self._buyer()
            self._intents(buyer)
            self._organization(buyer)
        username, _email, password = DEMO_BUYER
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Demo buyer:  log in as {username} / {password}")
        self.stdout.write(
            f"  Colleague in {DEMO_ORGANIZATION[1]}: log in as {DEMO_COLLEAGUE[0]} / {DEMO_PASSWORD}"
        )
        for name, email, raw_key in keys:
            self.stdout.write(f"  Vendor {name}: log in as {email} / {DEMO_PASSWORD}")
            self.stdout.write(f"      API key: {raw_key}")

    def _categories(self) -> None:
        self.stdout.write("• categories")
        categories_load()

    def _vendors(self) -> list[tuple[str, str, str]]:
        self.stdout.write("• vendors")
        keys = []
        for name, email, category_slugs, regions in VENDORS:
            # By slug, as vendor_create makes it: the vendor may have changed its e-mail.
            vendor = Vendor.objects.filter(slug=slugify(name)).first()
            if vendor is None:
                categories = list(Category.objects.filter(slug__in=category_slugs))
                created = vendor_create(
                    name=name, email=email, categories=categories, regions=regions
                )
                vendor = created.vendor
                Vendor.objects.filter(pk=vendor.pk).update(is_verified=True)
                created.staff_user.set_password(DEMO_PASSWORD)
                created.staff_user.save(update_fields=["password"])
            if vendor.is_suspended:  # an operator's choice: left as it is, with no new key
                self.stdout.write(f"  {vendor.name} is suspended: no demo key")
                continue
            ApiKey.objects.filter(
                vendor=vendor, revoked_at__isnull=True, name__in=("demo", "first key")
            ).update(revoked_at=timezone.now())
            raw_key = api_key_create(vendor=vendor, name="demo").raw_key
            keys.append((vendor.name, email, raw_key))
        return keys

    def _buyer(self) -> User:
        self.stdout.write("• demo buyer")
        username, email, password = DEMO_BUYER
        buyer = User.objects.filter(username=username).first()
        if buyer is None:
            buyer = User.objects.create_user(username=username, email=email, password=password)
        return buyer

    def _intents(self, buyer: User) -> None:
        self.stdout.write("• intents and offers")
        for spec in INTENTS:
            spec = dict(spec)
            offers = spec.pop("offers")
            if Intent.objects.filter(buyer=buyer, title=spec["title"]).exists():
                continue
            spec["category"] = Category.objects.get(slug=spec["category"])
            intent = intent_create(
                buyer=buyer,
                offers_close_at=timezone.now() + timedelta(days=14),
                needed_by=timezone.localdate() + timedelta(days=30),
                **spec,
            )
            # Match now rather than after commit, so the demo offers below
            # come from vendors that were told about the intent.
            intent_match(intent_id=intent.pk)
            for vendor_slug, price, message in offers:
                vendor = Vendor.objects.get(slug=vendor_slug)
                if not Offer.objects.filter(intent=intent, vendor=vendor).exists():
                    offer_submit(
                        vendor=vendor,
                        intent=intent,
                        price=price,
                        currency=intent.currency,
                        delivery_date=timezone.localdate() + timedelta(days=10),
                        valid_until=timezone.localdate() + timedelta(days=20),
                        message=message,
                        accept_terms=True,
                    )

    def _organization(self, buyer: User) -> None:
        """An internal market: the demo buyer owns it; a colleague is matched and proposes."""
        self.stdout.write("• organization, internal RFP and proposal")
        slug, name = DEMO_ORGANIZATION
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            organization = organization_create(owner=buyer, name=name, slug=slug)
        username, email = DEMO_COLLEAGUE
        colleague = User.objects.filter(username=username).first()
        if colleague is None:
            colleague = User.objects.create_user(
                username=username, email=email, password=DEMO_PASSWORD
            )
        Membership.objects.get_or_create(organization=organization, user=colleague)
        skill_profile_update(user=colleague, skills=["python", "reporting", "automation"])
        if Intent.objects.filter(organization=organization, title=DEMO_RFP).exists():
            return
        intent = intent_create_internal(
            poster=buyer,
            organization=organization,
            title=DEMO_RFP,
            description="Every Monday someone spends two hours on the sales report. "
            "Automate it (python or anything) and share the points.",
            category=Category.objects.get(slug="it-services"),
            reward_amount=Decimal("300"),
            reward_is_points=True,
            offers_close_at=timezone.now() + timedelta(days=10),
        )
        intent_match(intent_id=intent.pk)
        proposal_submit(
            member=colleague,
            intent=intent,
            message="A scheduled script that pulls the numbers and mails the report.",
            approach="Python against the CRM export; a cron job.",
            estimate="2 days",
        )
