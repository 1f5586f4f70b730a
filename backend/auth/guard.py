"""The role guard: every API endpoint but login, refresh and health goes through it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from sqlalchemy import ColumnElement, exists, false, select

from backend.auth.tokens import (
    Principal,
    TokenInvalid,
    TokenType,
    decode_token,
    principal_from_claims,
)
from backend.db.models import RefreshToken, User
from backend.db.session import db_session, end_of_auth_read, scope_to_tenant
from backend.domain.roles import Grant, Role
from backend.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def authenticate(*, while_password_change_due: bool = False) -> Principal:
    """Verify the request's bearer token and scope the session to its tenant.

    While the account must change its password (after a reset, or a first password
    set by someone else), its tokens open only the views that allow it
    (``while_password_change_due``): every other answers 403
    ``password_change_required``. The flag is read from the account on every request,
    so once the password is changed the same token works everywhere.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "authentication_required",
            "send an access token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="doorstep"'},
        )
    try:
        claims = decode_token(current_app.config["DOORSTEP"], token.strip(), TokenType.ACCESS)
        principal = principal_from_claims(claims)
        principal, change_due = _check_account(principal, claims.get("fam"))
    except TokenInvalid as exc:
        raise ApiError(
            401,
            exc.code,
            exc.message,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'
            },
        ) from exc
    if change_due and not while_password_change_due:
        raise ApiError(
            403,
            "password_change_required",
            "choose a new password first: POST /api/v1/auth/password",
        )
    g.principal = principal
    scope_to_tenant(db_session(), principal.org_id)
    return principal


def _check_account(principal: Principal, family: object) -> tuple[Principal, bool]:
    """Refuse a token whose account was deactivated or whose login was revoked since it
    was signed: a signature alone would keep it working until it expires.

    One indexed query per request (the user by primary key, the family by its index).
    Returns the principal with the account's role as it is now (an admin who demotes
    someone takes their rights away at once, not when their token expires), and whether
    the account must change its password before anything else.
    """
    revoked_family: ColumnElement[bool] = (
        exists().where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_not(None))
        if isinstance(family, str)
        else false()
    )
    session = db_session()
    found = session.execute(
        select(User.is_active, revoked_family, User.must_change_password, User.role).where(
            User.id == principal.user_id
        )
    ).one_or_none()
    # A view that writes still opens its own transaction: begin_write ends this read.
    end_of_auth_read(session)
    if found is None or not found[0]:
        raise TokenInvalid("account_inactive", "the account has been deactivated")
    if found[1]:
        raise TokenInvalid("token_revoked", "this login has been revoked; log in again")
    return replace(principal, role=found[3]), bool(found[2])


def _error_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _document_security(view: Any, allowed: frozenset[Role], grant: Grant | None) -> None:
    # flask-smorest builds each operation from the view's _apidoc; "manual_doc" is
    # merged in last, so the guard can declare the auth it enforces in one place.
    apidoc = dict(getattr(view, "_apidoc", {}))
    manual = dict(apidoc.get("manual_doc", {}))
    manual["security"] = BEARER_SECURITY
    responses = dict(manual.get("responses", {}))
    responses.setdefault("401", _error_doc("No valid access token"))
    roles = ", ".join(sorted(role.value for role in allowed))
    also = f", and the caller does not hold the {grant.value} grant" if grant else ""
    responses.setdefault("403", _error_doc(f"The caller's role is not one of: {roles}{also}"))
    manual["responses"] = responses
    apidoc["manual_doc"] = manual
    view._apidoc = apidoc


def require_roles(role: Role, *roles: Role, grant: Grant | None = None) -> Callable[[F], F]:
    """Let the view run only for an authenticated caller holding one of the roles,
    or, when ``grant`` is given, holding that grant whatever their role.

    Admins pass every role check: they run the tenant (see Principal.may).
    """
    return _guard((role, *roles), grant)


def require_admin() -> Callable[[F], F]:
    """Let the view run only for an authenticated admin."""
    return _guard((), None)


def require_signed_in() -> Callable[[F], F]:
    """Let the view run for any authenticated user, even one whose password change is
    due: for what every account may do to itself (changing its password)."""
    return _guard(tuple(Role), None, while_password_change_due=True)


def _guard(
    roles: tuple[Role, ...], grant: Grant | None, *, while_password_change_due: bool = False
) -> Callable[[F], F]:
    allowed = frozenset(roles) | {Role.ADMIN}

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate(while_password_change_due=while_password_change_due)
            if not principal.may(*roles, grant=grant):
                raise ApiError(403, "forbidden", f"the {principal.role.value} role may not do this")
            return view(*args, **kwargs)

        _document_security(guarded, allowed, grant)
        return cast(F, guarded)

    return decorate
