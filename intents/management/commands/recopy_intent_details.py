"""``manage.py recopy_intent_details``"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from intents.services import intents_recopy_drifted_details


class Command(BaseCommand):
    help = (
        "Repair the intents whose copy of their criteria and terms (what vendors read) no "
        "longer matches the rows (run once after a deploy during which older code changed them)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        repaired = intents_recopy_drifted_details()
        self.stdout.write(f"{repaired} intent(s) recopied.")
