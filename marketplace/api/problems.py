"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.errors import (
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    RETRY,
    THROTTLED,
    UNPROCESSABLE,
    DomainError,
    RequestRefused,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Relative URI references, as RFC 9457 allows.
PROBLEM_BASE = "/api/v1/problems/"

STATUS_OF_KIND = {
    "invalid": status.HTTP_400_BAD_REQUEST,
    CONFLICT: status.HTTP_409_CONFLICT,
    FORBIDDEN: status.HTTP_403_FORBIDDEN,
    NOT_FOUND: status.HTTP_404_NOT_FOUND,
    UNPROCESSABLE: status.HTTP_422_UNPROCESSABLE_ENTITY,
    THROTTLED: status.HTTP_429_TOO_MANY_REQUESTS,
    RETRY: status.HTTP_409_CONFLICT,
}
# A kind whose problem type is its own, not its status code's.
TYPE_OF_KIND = {RETRY: ("retry", "Send the same request again")}

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal server error",
}

SLUGS = {
    400: "invalid",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "throttled",
    500: "server-error",
}


def problem_body(
    status_code: int,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    slug, title = TYPE_OF_KIND.get(
        kind or "", (SLUGS.get(status_code, "error"), TITLES.get(status_code, "Error"))
    )
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    status_code: int,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> Response:
    body = problem_body(status_code, detail, errors=errors, kind=kind)
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_http_response(status_code: int, detail: str) -> HttpResponse:
    """The same shape, for code outside DRF's views (middleware)."""
    return HttpResponse(
        json.dumps(problem_body(status_code, detail)),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail tree → plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        return problem_response(
            STATUS_OF_KIND.get(exc.kind, 400),
            exc.message,
            errors=exc.errors,
            headers=headers,
            kind=exc.kind,
        )
    if isinstance(exc, RequestDataTooBig):
        return problem_response(413, "The request body is too large.")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    headers = {
        key: value
        for key, value in response.headers.items()
        if key in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        if not isinstance(errors, dict):
            errors = {"non_field_errors": errors}
        return problem_response(
            response.status_code,
            "The request is not valid; see errors.",
            errors=errors,
            headers=headers,
        )
    detail = _flatten(getattr(exc, "detail", str(exc)))
    if not isinstance(detail, str):
        detail = str(detail)
    return problem_response(response.status_code, detail, headers=headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


# Django's own error pages, for what never reaches a DRF view (an address no
# URL pattern matches, a rejected Host, a crash in middleware): problem
# details under /api/, the site's pages everywhere else.


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    reason = str(exception) if isinstance(exception, RequestRefused) else ""
    if _is_api(request):
        return problem_http_response(400, reason or "The request is not valid.")
    return render(request, "400.html", {"reason": reason}, status=400)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_http_response(403, "You may not do this.")
    return render(request, "403.html", {"reason": _own_reason(exception)}, status=403)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_address_unknown(request)
    return render(request, "404.html", {"reason": _own_reason(exception)}, status=404)


def problem_type(request: HttpRequest, slug: str) -> HttpResponse:
    """A problem's ``type`` leads to its documentation (RFC 9457 §3.1.1): the API docs'
    table of problem types."""
    if slug not in {*SLUGS.values(), *(own for own, _ in TYPE_OF_KIND.values())}:
        return api_address_unknown(request)
    return redirect(f"{reverse('api:docs')}#section/Problem-types")


@csrf_exempt  # it changes nothing: a POST gets the same 404, not a CSRF refusal
def api_address_unknown(request: HttpRequest, *args: object) -> HttpResponse:
    """Any other address under /api/: a problem document, with DEBUG on too (Django's
    handler404 is not used then, and its page is HTML)."""
    return problem_http_response(404, "There is nothing at this address.")


def _own_reason(exception: Exception) -> str:
    """The message a view gave its ``Http404`` or ``PermissionDenied`` ("No such intent of
    yours."); none for an address no URL pattern matches."""
    message = exception.args[0] if exception.args else ""
    return message if isinstance(message, str) else ""


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return problem_http_response(500, "Something went wrong on our side; it was logged.")
    return defaults.server_error(request)
