"""``manage.py create_api_key VENDOR_SLUG``"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketplace.errors import DomainError
from marketplace.models import Vendor
from marketplace.services import api_key_create


class Command(BaseCommand):
    help = "Create another API key for a vendor; prints the key alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("vendor_slug")
        parser.add_argument("--name", default="", help="A label to tell keys apart.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            vendor = Vendor.objects.get(slug=options["vendor_slug"])
        except Vendor.DoesNotExist:
            raise CommandError(f"No vendor with slug “{options['vendor_slug']}”.") from None
        try:
            issued = api_key_create(vendor=vendor, name=options["name"])
        except DomainError as error:
            raise CommandError(error.text) from None
        self.stderr.write(f"New API key for {vendor.name}, shown once:")
        self.stdout.write(issued.raw_key)
