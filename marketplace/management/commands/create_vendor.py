"""``manage.py create_vendor --name NAME --email EMAIL --categories SLUG,SLUG --regions DE,FR``"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketplace.errors import DomainError
from marketplace.models import Category
from marketplace.services import vendor_create


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Command(BaseCommand):
    help = "Create a vendor and a staff user; prints a new API key alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--email", required=True, help="The staff user's e-mail (their login).")
        parser.add_argument("--categories", default="", help="Category slugs, comma-separated.")
        parser.add_argument("--regions", default="", help="ISO 3166 codes or *, comma-separated.")
        parser.add_argument("--slug", default="", help="Defaults to the name, slugified.")

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = _split(options["categories"])
        categories = list(Category.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {category.slug for category in categories})
        if missing:
            raise CommandError(f"Unknown category slugs: {', '.join(missing)}")
        try:
            created = vendor_create(
                name=options["name"],
                email=options["email"],
                categories=categories,
                regions=[region.upper() for region in _split(options["regions"])],
                slug=options["slug"],
            )
        except DomainError as error:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.errors.items())
            raise CommandError(f"{error.message} {details}".strip()) from error
        self.stderr.write(
            f"Created vendor {created.vendor.name} ({created.vendor.slug}) with staff user "
            f"{created.staff_user.get_username()} ({created.staff_user.email}), who sets a"
            " password with “Forgot your password?” on the login page, for the vendor's"
            " pages. The API key below is shown once:"
        )
        self.stdout.write(created.issued_key.raw_key)
