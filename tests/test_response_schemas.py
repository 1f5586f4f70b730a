"""A response schema never drops what a view returns (backend.schemas.ResponseSchema)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from marshmallow import fields

from backend.schemas import ResponseSchema, UndeclaredResponseField


class _Inner(ResponseSchema):
    a = fields.Integer()


class _Outer(ResponseSchema):
    items = fields.List(fields.Nested(_Inner))


def test_declared_fields_dump_as_they_are() -> None:
    body = {"items": [{"a": 1}, {"a": 2}]}
    assert _Outer().dump(body) == body


def test_an_undeclared_key_is_kept_and_logged_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"items": [{"a": 1, "b": "kept"}], "extra": True}
    with Flask("production").app_context(), caplog.at_level(logging.ERROR):
        assert _Outer().dump(body) == body
    assert "_Inner does not declare ['b']" in caplog.text
    assert "_Outer does not declare ['extra']" in caplog.text


def test_an_undeclared_key_fails_under_test() -> None:
    app = Flask("testing")
    app.config["TESTING"] = True
    with app.app_context(), pytest.raises(UndeclaredResponseField, match="extra"):
        _Outer().dump({"items": [], "extra": True})
