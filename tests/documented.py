"""Check a response body against the OpenAPI document, stricter than JSON Schema.

The document's object schemas allow extra keys (apispec sets no
additionalProperties), so a key a view adds but the schema forgets would still
validate. ``assert_documented`` also fails on any key the schema does not name.
"""

from __future__ import annotations

from typing import Any

from openapi_schema_validator import OAS30Validator


def assert_documented(spec: dict[str, Any], component: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    OAS30Validator(schema).validate(body)
    _no_undeclared_keys(spec, spec["components"]["schemas"][component], body, component)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _no_undeclared_keys(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> None:
    schema = _resolve(spec, schema)
    if isinstance(value, dict) and "properties" in schema:
        if "additionalProperties" not in schema:
            undeclared = set(value) - set(schema["properties"])
            assert not undeclared, f"{at} has undocumented keys {sorted(undeclared)}"
        for key, item in value.items():
            if key in schema["properties"]:
                _no_undeclared_keys(spec, schema["properties"][key], item, f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _no_undeclared_keys(spec, schema["items"], item, f"{at}[{index}]")
