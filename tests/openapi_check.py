"""Real API answers checked against the OpenAPI 3.0.3 document the site serves.

The components are turned into JSON Schema (draft 4) with OpenAPI 3.0.3's own reading
of ``nullable``: it adds null to the ``type`` given at its own level, and to nothing
else (a ``nullable`` beside ``allOf`` adds nothing: every member must still hold), as
strict generated clients read it. A ``format`` is an annotation, as in JSON Schema.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from rest_framework.test import APIClient

SKIPPED = ("readOnly", "writeOnly", "example", "nullable", "discriminator", "xml")


def served_schema() -> dict[str, Any]:
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _converted(node: Any) -> Any:
    if isinstance(node, list):
        return [_converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SKIPPED:
            continue
        if key == "$ref":
            out[key] = value.replace("#/components/schemas/", "#/definitions/")
        elif key == "properties":
            out[key] = {name: _converted(sub) for name, sub in value.items()}
        else:
            out[key] = _converted(value)
    if node.get("nullable") is True and "type" in node:
        out["type"] = [node["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def schema_errors(component: str, instance: Any) -> list[str]:
    """Why ``instance`` is not a ``component`` of the served schema; none when it is one."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "definitions": {
            name: _converted(sub) for name, sub in served_schema()["components"]["schemas"].items()
        },
        "$ref": f"#/definitions/{component}",
    }
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:200]}"
        for error in jsonschema.Draft4Validator(schema).iter_errors(instance)
    ]
