"""What admins send and get for people and the audit log (also the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.domain.roles import Role
from backend.schemas import DATE_TIME, ResponseSchema

ROLES = [role.value for role in Role]


class NewUserSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    role = fields.String(required=True, metadata={"enum": ROLES})
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=254))
    password = fields.String(
        load_default=None,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={
            "description": "The first password (policy: docs/admin.md); without it a "
            "one-time password is made and returned once"
        },
    )
    must_change_password = fields.Boolean(
        load_default=True,
        metadata={"description": "Whether the user must choose their own at first sign-in"},
    )


class UserChangesSchema(Schema):
    full_name = fields.String(validate=validate.Length(max=200))
    phone = fields.String(validate=validate.Length(max=40))
    email = fields.String(validate=validate.Length(max=254))
    role = fields.String(metadata={"enum": ROLES})


class ResetPasswordSchema(Schema):
    password = fields.String(
        load_default=None,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "The new password; without it a one-time one is made"},
    )


class UserSchema(ResponseSchema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)
    full_name = fields.String(required=True)
    phone = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ROLES})
    is_active = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)
    password_changed_at = fields.String(allow_none=True, metadata=DATE_TIME)
    created_at = fields.String(required=True, metadata=DATE_TIME)


class UserListSchema(ResponseSchema):
    items = fields.List(fields.Nested(UserSchema), required=True)


class NewAccountSchema(ResponseSchema):
    user = fields.Nested(UserSchema, required=True)
    one_time_password = fields.String(
        allow_none=True,
        metadata={"description": "Shown this once; null when the password was given"},
    )


class NewAccountsSchema(ResponseSchema):
    items = fields.List(fields.Nested(NewAccountSchema), required=True)


class AuditEntrySchema(ResponseSchema):
    id = fields.Integer(required=True)
    at = fields.String(required=True, metadata=DATE_TIME)
    actor = fields.String(required=True)
    actor_user_id = fields.Integer(allow_none=True)
    action = fields.String(required=True, metadata={"example": "user.deactivate"})
    target_type = fields.String(required=True)
    target_id = fields.String(required=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class AuditListSchema(ResponseSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


class AuditQuerySchema(Schema):
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))
