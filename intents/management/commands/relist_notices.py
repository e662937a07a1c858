"""``manage.py relist_notices``"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from intents.services import notices_relist_drifted


class Command(BaseCommand):
    help = (
        "Repair the notices whose 'listed' flag or deadline copy no longer match their intent "
        "(run once after a deploy during which older code changed intents)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        relisted = notices_relist_drifted()
        self.stdout.write(f"{relisted} intent(s) relisted.")
