"""Every error is JSON with a status, a stable code and a message; never a 500."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import World

Auth = Callable[[str], dict[str, str]]


def _assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body  # type: ignore[no-any-return]


def test_unknown_path_is_a_json_404(client: FlaskClient) -> None:
    _assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/auth/token")
    _assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/token", data="{not json", headers={"Content-Type": "application/json"}
    )
    _assert_error(response, 400, "malformed_body")


def test_wrong_content_type_is_a_415(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/token", data="username=a", content_type="application/x-www-form-urlencoded"
    )
    _assert_error(response, 415, "unsupported_media_type")


def test_unknown_fields_are_rejected_by_name(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "a", "password": "b", "device_id": "c", "is_admin": True},
    )
    body = _assert_error(response, 422, "validation_error")
    assert "is_admin" in body["errors"]


def test_a_json_array_instead_of_an_object_is_a_validation_error(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/token", json=["username", "password"])
    _assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("value", [None, 12, ["x"], {"a": 1}, ""])
def test_wrongly_typed_fields_are_validation_errors(client: FlaskClient, value: object) -> None:
    response = client.post(
        "/api/v1/auth/token", json={"username": value, "password": "b", "device_id": "c"}
    )
    body = _assert_error(response, 422, "validation_error")
    assert "username" in body["errors"]


def test_an_oversized_body_is_a_413(app: Flask, client: FlaskClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post(
        "/api/v1/auth/token",
        data='{"username": "' + "a" * 4096 + '"}',
        content_type="application/json",
    )
    _assert_error(response, 413, "payload_too_large")


def test_device_id_with_path_characters_is_rejected(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "a", "password": "b", "device_id": "../../etc/passwd"},
    )
    body = _assert_error(response, 422, "validation_error")
    assert "device_id" in body["errors"]


def test_an_unexpected_failure_is_a_json_500_without_details(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = _assert_error(response, 500, "internal_error")
    assert "secret" not in body["message"]


def test_api_responses_are_not_cached_by_intermediaries(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    response = client.get("/api/v1/manifests/mine?date=2026-11-24", headers=auth("driver_a"))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_lost_database_is_a_503_that_invites_a_retry(
    app: Flask, world: World, auth: Auth
) -> None:
    from backend.db.session import Database

    headers = auth("driver_a")
    app.extensions["doorstep.db"] = Database("sqlite:////nonexistent-dir/doorstep.db")
    response = app.test_client().get("/api/v1/manifests/mine?date=2026-11-24", headers=headers)
    _assert_error(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "2"


def test_text_with_a_nul_character_is_refused_by_name_on_every_backend(
    client: FlaskClient,
    world: World,
    token_for: Callable[[str], str],
) -> None:
    headers = {"Authorization": f"Bearer {token_for('support')}"}
    body = client.post(
        "/api/v1/disputes",
        json={"stop_id": 1, "reason": "other", "note": "before\x00after"},
        headers=headers,
    )
    assert (body.status_code, body.get_json()["code"]) == (422, "validation_error")
    assert body.get_json()["errors"] == {"note": ["contains a NUL character"]}
    query = client.get("/api/v1/deliveries/search", query_string={"q": "a\x00b"}, headers=headers)
    assert (query.status_code, query.get_json()["errors"]) == (
        422,
        {"q": ["contains a NUL character"]},
    )


# Constructors that raise a Refusal with the code as their first argument; the
# subclasses that fix their code pass it to super().__init__.
_REFUSAL_CALLS = {"Refusal", "PlanError", "StoreError", "StoreUnavailable", "TokenInvalid"}


def _is_literal_code_call(node: ast.AST, names: set[str]) -> str | None:
    if not isinstance(node, ast.Call) or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    func = node.func
    if isinstance(func, ast.Name) and func.id in names:
        return first.value
    is_super_init = (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )
    return first.value if is_super_init and "super" in names else None


def _refusal_codes_in_the_tree() -> dict[str, str]:
    """Every literal refusal code the backend raises: code -> a file that raises it."""
    codes: dict[str, str] = {}
    for path in sorted(Path("backend").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            code = _is_literal_code_call(node, _REFUSAL_CALLS)
            if code is not None:
                codes.setdefault(code, str(path))
            refusal_class = isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id in _REFUSAL_CALLS | {"Refusal"}
                for base in node.bases
            )
            if refusal_class:
                for inner in ast.walk(node):
                    code = _is_literal_code_call(inner, {"super"})
                    if code is not None:
                        codes.setdefault(code, str(path))
    return codes


def test_every_refusal_code_the_services_raise_has_its_http_status() -> None:
    from backend.errors import STATUS_BY_CODE
    from backend.evidence.images import IMAGE_TOO_LARGE, NOT_AN_IMAGE

    codes = _refusal_codes_in_the_tree()
    # The scan sees the tree: a plain Refusal, and one a subclass raises.
    assert codes["not_found"].startswith("backend/")
    assert codes["upload_offset_mismatch"] == "backend/evidence/storage.py"
    raised = set(codes) | {IMAGE_TOO_LARGE, NOT_AN_IMAGE}
    missing = {code: where for code, where in codes.items() if code not in STATUS_BY_CODE}
    assert missing == {}, "add these codes to backend.errors.STATUS_BY_CODE"
    assert set(STATUS_BY_CODE) - raised == set(), "codes nothing raises any more"


def test_a_refusal_is_answered_with_its_mapped_status_and_field_errors(app: Flask) -> None:
    from backend.domain.refusal import Refusal
    from backend.errors import STATUS_BY_CODE

    @app.get("/api/v1/_test_refusal")
    def _refuse() -> None:
        raise Refusal("import_invalid", "the file is empty", field="_file", retry_after_s=3)

    response = app.test_client().get("/api/v1/_test_refusal")
    body = _assert_error(response, STATUS_BY_CODE["import_invalid"], "import_invalid")
    assert body["errors"] == {"_file": ["the file is empty"]}
    assert response.headers["Retry-After"] == "3"


def test_docs_api_lists_every_refusal_code_with_its_status() -> None:
    import re

    from backend.errors import STATUS_BY_CODE

    documented: dict[str, int] = {}
    for line in Path("docs/api.md").read_text().splitlines():
        row = re.fullmatch(r"\| (\d{3}) \| (.+?) \| .*\|", line)
        if row:
            for code in re.findall(r"`([a-z0-9_]+)`", row.group(2)):
                documented[code] = int(row.group(1))
    wrong = {
        code: (status, documented.get(code))
        for code, status in STATUS_BY_CODE.items()
        if documented.get(code) != status
    }
    assert wrong == {}, "docs/api.md's Errors table: code -> (status, documented status)"
