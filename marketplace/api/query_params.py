"""Query parameters an endpoint does not read are a 400, as unknown body fields are.

Left alone, a misspelt filter (``?categroy=``) answers the whole list as if it had
filtered, and a filter given twice quietly keeps one of its values.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings


class KnownQueryParams:
    """For an API view: refuse a query parameter it does not read, or one given twice.

    A read takes its paginator's, filters' and ordering's parameters; every method
    takes ``extra_query_params`` (a view that reads its own, as the event feed).
    Checked after authentication, so a caller without a key still gets its 401.
    """

    extra_query_params: tuple[str, ...] = ()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):  # type: ignore[attr-defined]
            return  # DRF's 405 (with Allow) says more than any parameter could
        known = self.known_query_params(request)
        errors: dict[str, list[str]] = {}
        for name in request.query_params:
            if name not in known:
                reads = ", ".join(sorted(known)) or "none"
                errors[name] = [f"Not a parameter of this endpoint (it reads: {reads})."]
            elif len(request.query_params.getlist(name)) > 1:
                errors[name] = ["Give it once."]
            elif request.query_params[name] == "":
                # Read as "no filter" by django-filter: a client that meant one is told.
                errors[name] = ["Give a value, or leave the parameter out."]
        if errors:
            raise ValidationError(errors)

    def known_query_params(self, request: Request) -> set[str]:
        known = set(self.extra_query_params)
        if api_settings.URL_FORMAT_OVERRIDE:
            known.add(api_settings.URL_FORMAT_OVERRIDE)
        if request.method not in SAFE_METHODS:
            return known
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            known |= {paginator.page_query_param, paginator.page_size_query_param} - {None}
        for backend in getattr(self, "filter_backends", []):
            filterset_class = getattr(self, "filterset_class", None)
            if issubclass(backend, DjangoFilterBackend) and filterset_class is not None:
                known |= set(filterset_class.base_filters)
            elif issubclass(backend, OrderingFilter):
                known.add(backend.ordering_param)
        return known
