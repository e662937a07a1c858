"""The domain error type, and a request refused before any view.

Services raise :class:`DomainError`; the web layer shows it as a form message
and the API layer turns it into an RFC 9457 problem response with the status
that matches ``kind``.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest

INVALID = "invalid"  # the input breaks a rule -> 400
CONFLICT = "conflict"  # the object's state forbids it -> 409
FORBIDDEN = "forbidden"  # you may know it exists, not act on it -> 403
NOT_FOUND = "not_found"  # not visible to you -> 404
UNPROCESSABLE = "unprocessable"  # well-formed, but cannot be done as sent -> 422
THROTTLED = "throttled"  # done too often lately; again after ``retry_after`` seconds -> 429
# Not done, but the same request (its Idempotency-Key) may be sent again, after
# ``retry_after`` seconds -> 409, a problem type of its own: other 409s are final.
RETRY = "retry"


class DomainError(Exception):
    """A business rule refused the operation; nothing was changed."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = INVALID,
        errors: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.errors = errors or {}
        self.retry_after = retry_after

    @property
    def text(self) -> str:
        """The refusal and its per-field reasons, as one flash message."""
        details = [message for messages in self.errors.values() for message in messages]
        return " ".join([self.message, *details])


def with_article(word: str) -> str:
    """``word`` after its indefinite article, for a sentence's start: "An accepted", "A declined"."""
    return f"{'An' if word[:1] in 'aeiou' else 'A'} {word}"


class RequestRefused(BadRequest):
    """A request refused before any view, with a reason meant for whoever sent it: the
    400 (a page, or a problem document under /api/) says it, where a ``BadRequest`` of
    Django's own says only that the request is not valid."""
