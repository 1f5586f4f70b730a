"""/api/v1/admin/users and /api/v1/admin/audit: an organization's people and its audit
log, for its admins only. Every write is one service call in backend/admin/people.py."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from werkzeug.wrappers import Response

from backend.admin import audit, audit_export, people, people_csv
from backend.admin import people_schemas as schemas
from backend.auth.guard import current_principal, require_admin
from backend.db.session import db_session
from backend.http import ApiBlueprint, accepts, attachment
from backend.schemas import ErrorSchema

blp = ApiBlueprint(
    "admin_people",
    __name__,
    url_prefix="/api/v1/admin",
    description="Administration: people and the audit log (admins only)",
)
CSV = "text/csv"


def _actor() -> people.Actor:
    return people.Actor.of(current_principal())


@blp.route("/users")
class Users(MethodView):
    @require_admin()
    @blp.response(200, schemas.UserListSchema, description="Active users first, by username")
    def get(self) -> dict[str, Any]:
        """The organization's users."""
        return {"items": [people.user_dict(u) for u in people.list_users(db_session())]}

    @require_admin()
    @blp.arguments(schemas.NewUserSchema)
    @blp.response(201, schemas.NewAccountSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="username_taken (in any tenant)")
    @blp.alt_response(
        422, schema=ErrorSchema, description="validation_error (unknown role ...), weak_password"
    )
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Add a user; without a password, a one-time one is returned (once)."""
        created = people.add_user(db_session(), _actor(), current_principal().org_id, **body)
        return people.account_dict(created), 201


@blp.route("/users/import")
class ImportUsers(MethodView):
    @require_admin()
    @accepts(CSV)
    @blp.response(201, schemas.NewAccountsSchema, description="Everyone added, in file order")
    @blp.alt_response(
        422, schema=ErrorSchema, description="import_invalid: every bad line is named"
    )
    @blp.doc(requestBody={"content": {CSV: {"schema": {"type": "string"}}}})
    def post(self) -> tuple[dict[str, Any], int]:
        """Add users from a CSV file (columns username, role, full_name, phone, email).

        All rows or none: a bad file names every bad row by its line in
        ``errors.rows`` (the header is line 1). Each user gets a one-time password,
        returned once, and must choose their own at first sign-in."""
        rows = people_csv.parse(request.get_data(as_text=True))
        created = people.import_users(db_session(), _actor(), current_principal().org_id, rows)
        return {"items": [people.account_dict(account) for account in created]}, 201


@blp.route("/users/<int:user_id>")
class UserResource(MethodView):
    @require_admin()
    @blp.response(200, schemas.UserSchema)
    def get(self, user_id: int) -> dict[str, Any]:
        """One user."""
        return people.user_dict(people.get_user(db_session(), user_id))

    @require_admin()
    @blp.arguments(schemas.UserChangesSchema, required=False)
    @blp.response(200, schemas.UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="last_admin: would leave no admin")
    def patch(self, changes: dict[str, Any], user_id: int) -> dict[str, Any]:
        """Change a user's name, phone, e-mail or role."""
        return people.user_dict(people.update_user(db_session(), _actor(), user_id, changes))


@blp.route("/users/<int:user_id>/deactivate")
class Deactivate(MethodView):
    @require_admin()
    @blp.response(200, schemas.UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="last_admin: would leave no admin")
    def post(self, user_id: int) -> dict[str, Any]:
        """End a user's access at once: tokens and console sessions stop working."""
        user = people.set_active(db_session(), _actor(), user_id, active=False)
        return people.user_dict(user)


@blp.route("/users/<int:user_id>/reactivate")
class Reactivate(MethodView):
    @require_admin()
    @blp.response(200, schemas.UserSchema)
    def post(self, user_id: int) -> dict[str, Any]:
        """Let a deactivated user sign in again (with a fresh login)."""
        user = people.set_active(db_session(), _actor(), user_id, active=True)
        return people.user_dict(user)


@blp.route("/users/<int:user_id>/reset-password")
class ResetPassword(MethodView):
    @require_admin()
    @blp.arguments(schemas.ResetPasswordSchema, required=False)
    @blp.response(200, schemas.NewAccountSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="weak_password")
    def post(self, body: dict[str, Any], user_id: int) -> dict[str, Any]:
        """Set a password the user must change at next sign-in; ends their sessions."""
        reset = people.reset_password(db_session(), _actor(), user_id, body["password"])
        return people.account_dict(reset)


@blp.route("/audit")
class Audit(MethodView):
    @require_admin()
    @blp.arguments(schemas.AuditQuerySchema, location="query")
    @blp.response(200, schemas.AuditListSchema, description="Newest first")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The organization's audit log: who did what, when, before and after."""
        entries = audit.entries(db_session(), query["limit"])
        return {"items": [audit_export.entry_dict(entry) for entry in entries]}


@blp.route("/audit.csv")
class AuditCsv(MethodView):
    @require_admin()
    @blp.arguments(schemas.AuditQuerySchema, location="query")
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/csv",
        description="The audit log as CSV, newest first; before and after as JSON cells",
    )
    def get(self, query: dict[str, Any]) -> Response:
        """The audit log as a CSV file."""
        entries = audit.entries(db_session(), query["limit"])
        return attachment(audit_export.to_csv(entries).encode(), "text/csv", "audit.csv")
