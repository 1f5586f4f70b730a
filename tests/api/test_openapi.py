"""The OpenAPI document is valid and describes every API route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


def test_openapi_document_is_valid(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_every_api_route_is_documented(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule in ("/", "/healthz")):
            continue
        if rule.rule.startswith(("/api/v1/docs", "/api/v1/openapi")):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI doc"


def test_protected_operations_declare_bearer_auth(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    mine = spec["paths"]["/api/v1/manifests/mine"]["get"]
    assert mine["security"] == [{"bearerAuth": []}]


def test_the_browsable_docs_load_their_assets_from_this_server(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "//cdn" not in html
    assert "unpkg" not in html
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html)
    assert script is not None
    assert client.get(script.group(1)).status_code == 200


def _responses(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # shared by the path's operations, not one
                continue
            for status, response in operation["responses"].items():
                yield f"{method.upper()} {path} {status}", status, response


def test_every_response_with_a_body_documents_its_schema(client: FlaskClient) -> None:
    # schemathesis (`make fuzz`) checks each body against its schema: prose alone
    # would let any body pass.
    spec = client.get("/api/v1/openapi.json").get_json()
    for where, status, response in _responses(spec):
        if status in ("204", "304") or "$ref" in response:
            continue
        content = response.get("content")
        assert content, f"{where} documents no body"
        for media_type, body in content.items():
            assert "schema" in body, f"{where} {media_type} has no schema"


def test_every_error_response_is_the_error_schema(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    error = {"$ref": "#/components/schemas/Error"}
    for where, status, response in _responses(spec):
        if not status.isdigit() or int(status) < 400 or "$ref" in response:
            continue
        assert response["content"] == {"application/json": {"schema": error}}, where
