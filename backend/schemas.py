"""Schemas shared by every resource: the error body and common field rules."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorSchema(Schema):
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    errors = fields.Dict(
        metadata={"description": "Per-field messages, present for validation errors"}
    )
