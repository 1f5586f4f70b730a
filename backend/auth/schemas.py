from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

# For the OpenAPI document: an ECMA-262 pattern, where "$" ends the input (no trailing
# newline), as the JSON Schema validators that read the document understand it.
DEVICE_ID_PATTERN = "^[A-Za-z0-9_.:-]+$"


def _valid_device_id(device_id: str) -> None:
    # fullmatch, not a Regexp validator: Python's "$" lets a trailing newline through,
    # and "\Z", which does not, is no ECMA-262 syntax, so the document could not carry it.
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", device_id):
        raise ValidationError("use letters, digits and _ . : - only")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    password = fields.String(
        required=True, validate=validate.Length(min=1, max=1024), load_only=True
    )
    device_id = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=128),
            _valid_device_id,
        ],
        metadata={
            "description": "Stable id the device chose at install time",
            "pattern": DEVICE_ID_PATTERN,
        },
    )
    totp_code = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=16),
        metadata={
            "description": "For staff with two-factor sign-in (docs/admin.md): the 6 digits "
            "their authenticator app shows now"
        },
    )


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})
    must_change_password = fields.Boolean(
        required=True,
        metadata={
            "description": "The account must choose a new password (POST /api/v1/auth/password) "
            "before any other endpoint answers; until then they answer 403 "
            "password_change_required"
        },
    )


class ChangePasswordSchema(Schema):
    current_password = fields.String(
        required=True, validate=validate.Length(min=1, max=1024), load_only=True
    )
    new_password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1024),
        load_only=True,
        metadata={"description": "At least 12 characters, not a common password, not the username"},
    )


class PasswordChangedSchema(Schema):
    password_changed_at = fields.String(required=True, metadata={"format": "date-time"})
    must_change_password = fields.Boolean(required=True)
