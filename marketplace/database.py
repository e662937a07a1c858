"""Connection care for PostgreSQL's prepared statements (``DATABASE_PREPARED_STATEMENTS``).

A migration that changes the type of a column a prepared statement reads makes
that statement fail ("cached plan must not change result type"), and psycopg
keeps using it on that connection until a rollback. The connection is then
closed at the end of the request or task (Django and Celery's Django fixup both
close a connection whose ``close_at`` has passed); the next one prepares afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import NotSupportedError
from django.db.backends.signals import connection_created
from django.dispatch import receiver

STALE_PLAN = "cached plan must not change result type"


def close_after_stale_plan(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as error:
        if STALE_PLAN in str(error):
            context["connection"].close_at = 0
        raise


@receiver(connection_created)
def watch_for_stale_plans(sender: Any, connection: Any, **kwargs: Any) -> None:
    # First, the outermost: Django's ``execute_wrapper()`` blocks pop the last one when
    # they end, and a connection may be opened inside such a block.
    if (
        connection.vendor == "postgresql"
        and close_after_stale_plan not in connection.execute_wrappers
    ):
        connection.execute_wrappers.insert(0, close_after_stale_plan)
