"""POST /api/v1/auth/token and /api/v1/auth/refresh."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView

from backend.admin import people
from backend.auth import service
from backend.auth.guard import current_principal, require_signed_in
from backend.auth.schemas import (
    ChangePasswordSchema,
    LoginSchema,
    PasswordChangedSchema,
    RefreshSchema,
    TokenPairSchema,
)
from backend.db.session import db_session
from backend.domain.clock import utc_text
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema

blp = ApiBlueprint("auth", __name__, url_prefix="/api/v1/auth", description="Log in and refresh")


def _pair_body(pair: service.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "must_change_password": pair.must_change_password,
    }


@blp.route("/token")
class Token(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="invalid_credentials")
    @blp.alt_response(
        429,
        schema=ErrorSchema,
        description="rate_limited: too many failed logins from this source; see Retry-After",
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Log in with a username, password and device id."""
        pair = service.login(
            db_session(),
            current_app.config["DOORSTEP"],
            body["username"],
            body["password"],
            body["device_id"],
            request.remote_addr or "unknown",
            totp_code=body.get("totp_code"),
        )
        return _pair_body(pair)


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenPairSchema)
    @blp.alt_response(
        401, schema=ErrorSchema, description="token_reused, token_revoked, token_expired, ..."
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Exchange a refresh token for a new pair; the old refresh token is spent.

        A retry within 30 seconds, while the new refresh token is unused, gets the same
        pair again (the first response may have been lost)."""
        pair = service.refresh(db_session(), current_app.config["DOORSTEP"], body["refresh_token"])
        return _pair_body(pair)


@blp.route("/password")
class Password(MethodView):
    @require_signed_in()
    @blp.arguments(ChangePasswordSchema)
    @blp.response(200, PasswordChangedSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="wrong_password: the current one")
    @blp.alt_response(
        422,
        schema=ErrorSchema,
        description="weak_password: shorter than 12, common, containing the username, or the "
        "current one",
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change your own password, proving the current one.

        The one endpoint a token opens while a change is due (after a reset or a first
        password set by someone else); the same token works everywhere afterwards."""
        user = people.change_own_password(
            db_session(), current_principal(), body["current_password"], body["new_password"]
        )
        assert user.password_changed_at is not None
        return {
            "password_changed_at": utc_text(user.password_changed_at),
            "must_change_password": user.must_change_password,
        }
