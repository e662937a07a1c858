"""Load the starter category tree into an empty (or partly filled) database.

Safe to run again: a category whose slug exists is kept as it is (an operator may have
renamed it in the admin). Operators shape the tree further in the Django admin.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from marketplace.models import Category
from marketplace.services import categories_load


class Command(BaseCommand):
    help = "Load the starter category tree (existing categories are kept as they are)."

    def handle(self, *args: Any, **options: Any) -> None:
        made = categories_load()
        total = Category.objects.count()
        self.stdout.write(f"{made} categories created; {total} in all.")
