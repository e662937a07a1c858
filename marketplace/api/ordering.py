"""``?ordering=``: a field the view allows, or a 400 naming the ones it does.

DRF's OrderingFilter drops a term it does not know and quietly falls back to
the default order; here a bad term is an error, like every other bad parameter.
A view may also order a term by an expression of its own
(``ordering_expressions``), as the intents do with a budget the buyer hid.
Missing values come last in either direction, and the primary key breaks
ties, so a page never repeats or skips a row of the one before.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, OrderBy, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request


class StrictOrderingFilter(OrderingFilter):
    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        raw = request.query_params.get(self.ordering_param, "")
        if not raw.strip():
            return self.get_default_ordering(view)
        terms = [term.strip() for term in raw.split(",")]
        valid = self.remove_invalid_fields(queryset, terms, view, request)
        if len(valid) != len(terms):
            names = [
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            ]
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Order by one of {', '.join(names)}; a leading “-” reverses."
                    ]
                }
            )
        return valid

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        expressions = getattr(view, "ordering_expressions", {})
        order_by: list[OrderBy] = []
        for term in ordering:
            descending = term.startswith("-")
            name = term.lstrip("-")
            expression = expressions.get(name, F(name))
            order_by.append(
                expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
            )
        return queryset.order_by(*order_by, "pk")

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """DRF's, with the terms the view takes: one or more, comma-separated."""
        parameters = super().get_schema_operation_parameters(view)
        names = getattr(view, "ordering_fields", None)
        if not isinstance(names, list | tuple):
            return parameters
        term = "-?(" + "|".join(re.escape(name) for name in names) + ")"
        for parameter in parameters:
            if parameter["name"] == self.ordering_param:
                parameter["description"] = (
                    f"Order by {', '.join(names)}; a leading “-” reverses, and terms"
                    " separated by commas order within each other."
                )
                parameter["schema"] = {"type": "string", "pattern": f"^{term}(,{term})*$"}
        return parameters
