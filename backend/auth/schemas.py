from __future__ import annotations

from marshmallow import Schema, fields, validate


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=1024), load_only=True
    )
    device_id = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=128),
            validate.Regexp(r"[A-Za-z0-9_.:-]+\Z", error="use letters, digits and _ . : - only"),
        ],
        metadata={"description": "Stable id the device chose at install time"},
    )


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})
