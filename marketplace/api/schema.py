"""What drf-spectacular cannot infer: the problem responses (RFC 9457) each operation may
give, and request bodies that refuse fields they do not know."""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings

from marketplace.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from marketplace.api.problems import PROBLEM_CONTENT_TYPE
from marketplace.api.serializers import StrictSerializer

PROBLEM_COMPONENT = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details: the one error shape of the API.",
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {},
            "description": "Messages per field, when the request was not valid.",
        },
    },
    "required": ["type", "title", "status", "detail"],
}

# Every operation may answer these.
ANY_OPERATION = {
    "400": "The request is not valid (a parameter, the body or a header); see `errors`.",
    "401": "No API key, or one that is not valid or was revoked.",
    "403": "You may know this exists but not act on it.",
    "404": "Not there, or not visible to you.",
    "406": "The Accept header asks for something other than JSON.",
    "429": "Too many requests from this vendor (its API keys count together); retry after"
    " `Retry-After` seconds.",
}
# Writes may also answer these.
WRITE_OPERATION = {
    "409": "The object's state does not allow this now.",
}
WITH_BODY = {
    "413": "The request body is too large.",
    "415": "The body is not `application/json`.",
}
IDEMPOTENT_OPERATION = {
    "409": "The state forbids it (problem type `conflict`); or a request with this"
    " Idempotency-Key is still being answered (type `retry`): send it again after"
    " `Retry-After` seconds.",
    "422": "This Idempotency-Key was used with a different request.",
}
HEADERS = {
    "401": {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": '`Bearer realm="api"`'}
    },
    "429": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."},
    },
}


def add_problem_responses(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: document each operation's problem responses."""
    result.setdefault("components", {}).setdefault("schemas", {})[PROBLEM_COMPONENT] = (
        PROBLEM_SCHEMA
    )
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            statuses = dict(ANY_OPERATION)
            headers = dict(HEADERS)
            security = operation.get("security", [])
            if security and all("cookieAuth" in requirement for requirement in security):
                # A person's web session, not an API key: no key's rate limits either.
                statuses["401"] = "Not logged in: this is for a person's web session."
                headers["401"] = {
                    "WWW-Authenticate": {
                        "schema": {"type": "string"},
                        "description": '`Session realm="intentcast"`',
                    }
                }
                del statuses["429"]
            if method in ("post", "put", "patch", "delete"):
                statuses |= WRITE_OPERATION
            if method in ("post", "put", "patch"):
                statuses |= WITH_BODY
            if any(
                parameter.get("name") == IDEMPOTENCY_HEADER
                for parameter in operation.get("parameters", [])
            ):
                statuses |= IDEMPOTENT_OPERATION
                headers["409"] = {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before sending the same request again"
                        " (a `retry` problem only).",
                    }
                }
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, _problem(status, description, headers))
    return result


def _problem(status: str, description: str, headers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}}
        },
    }
    if status in headers:
        response["headers"] = headers[status]
    return response


def mark_request_bodies_strict(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: every request body refuses unknown fields
    (``additionalProperties: false``; each is a StrictSerializer), and no component says
    so in StrictSerializer's own words (its docstring, inherited where a serializer has none)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if component.get("description") == StrictSerializer.__doc__:
            del component["description"]
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


def state_the_limits(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The description's rate limits as this server keeps them (the settings, now)."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    info = result["info"]
    info["description"] = (
        info["description"]
        .replace("{api_key_rate}", str(rates["api_key"]))
        .replace("{api_key_write_rate}", str(rates["api_key_write"]))
    )
    return result


def null_and_blank_as_served(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """What drf-spectacular writes that OpenAPI 3.0.3 reads otherwise than the server answers.

    - A nullable object field (``my_offer``) comes as ``allOf: [$ref]`` beside
      ``nullable``; 3.0.3's ``nullable`` adds null only to a ``type`` at its own level,
      and null fails the reference: the object is written out in place, nullable.
    - A URL that may be blank (``website``) comes as ``oneOf`` a URI or an empty
      string: an empty string is both (a format is no constraint), which ``oneOf``
      refuses: ``anyOf``.
    """
    components = result.get("components", {}).get("schemas", {})

    def mend(node: Any) -> Any:
        if isinstance(node, list):
            return [mend(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: mend(value) for key, value in node.items()}
        refs = node.get("allOf", [])
        if node.get("nullable") and "type" not in node and len(refs) == 1 and "$ref" in refs[0]:
            referred = components[refs[0]["$ref"].rsplit("/", 1)[1]]
            del node["allOf"]
            node = {**referred, **node}
        if "oneOf" in node and {"type": "string", "maxLength": 0} in node["oneOf"]:
            node["anyOf"] = node.pop("oneOf")
        return node

    for name, component in components.items():
        components[name] = mend(component)
    return result
