"""Limits applied to API requests before any view reads them, the missing slash, and
the rate limit each answer reports."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import is_valid_path
from django.utils.http import escape_leading_slashes

from marketplace.api.problems import problem_http_response

API_PATH_PREFIX = "/api/"


class ApiRequestSizeLimitMiddleware:
    """Refuse an API request body over ``API_MAX_REQUEST_BYTES`` with a 413 problem.

    DRF's parsers read the body stream directly, which skips Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` check; so the API's (smaller) limit is
    enforced here, from ``Content-Length``, before anything is read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PATH_PREFIX):
            limit = settings.API_MAX_REQUEST_BYTES
            if _content_length(request) > limit:
                return problem_http_response(
                    413, f"The request body is larger than {limit // 1024} KiB."
                )
            urlconf = getattr(request, "urlconf", None)
            if (
                not request.path_info.endswith("/")
                and not is_valid_path(request.path_info, urlconf)
                and is_valid_path(f"{request.path_info}/", urlconf)
            ):
                # The address without its slash: 308 keeps the method and the body
                # (Django's 301 would turn a POST into a GET that loses the offer).
                # The address as Django's own redirect builds it: percent-encoded.
                response = HttpResponse(status=308)
                response["Location"] = escape_leading_slashes(
                    request.get_full_path(force_append_slash=True)
                )
                return response
        return self.get_response(request)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RateLimitHeadersMiddleware:
    """Each API answer says where the vendor stands against its rate limits (the one
    nearest to refusing, as ``ApiKeyRateThrottle`` counted this request): ``RateLimit-Limit``,
    ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds), as the IETF's RateLimit
    header fields draft names them. None on an answer nothing was counted for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            response["RateLimit-Limit"] = str(rate_limit.limit)
            response["RateLimit-Remaining"] = str(rate_limit.remaining)
            response["RateLimit-Reset"] = str(rate_limit.reset)
        return response
