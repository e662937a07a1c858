"""Fast loading through PostgreSQL's COPY (psycopg 3 ``cursor.copy()``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def _default_of(field: models.Field) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    if field.has_default():
        value = field.get_default()
        return json.dumps(value) if isinstance(field, models.JSONField) else value
    if field.null:
        return None
    if field.empty_strings_allowed and field.blank:
        return ""
    raise ValueError(f"{field.model.__name__}.{field.name} has no default: give it to copy_rows")


def copy_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY ``rows`` (values for ``fields``, by attname) into the model's table.

    Every other column gets the model field's default (now, for auto_now
    fields); auto-increment primary keys are left to the database. JSON
    values must already be JSON text.
    """
    given = [model._meta.get_field(name) for name in fields]
    others = [
        field
        for field in model._meta.concrete_fields
        if field.attname not in fields and not isinstance(field, models.AutoField)
    ]
    constants = tuple(_default_of(field) for field in others)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*given, *others])
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row((*row, *constants))
            count += 1
    return count


def reset_identity(model: type[models.Model]) -> None:
    """After COPY with explicit ids, let the identity column continue after the highest."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(MAX(id), 0) + 1, false)"
            f" FROM {connection.ops.quote_name(table)}",
            [table],
        )
