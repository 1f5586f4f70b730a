"""Who is using the console: form login, the session cookie, roles and CSRF.

The console uses the same accounts, passwords, throttling and roles as the API, but a
browser session instead of bearer tokens: a signed, HttpOnly, SameSite cookie holding
a random session token and a CSRF token. The session itself lives on the server
(ConsoleSession, keyed by the token's hash), so logging out ends it for every copy of
the cookie, and a deactivated account's sessions end for good. Every request reloads
the session and its user, so a changed role takes effect at once. Every POST must carry
the session's CSRF token, and a cross-site Origin is refused before it is compared.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from backend import clock
from backend.admin import totp
from backend.auth.service import check_credentials
from backend.auth.tokens import Principal
from backend.console.blueprint import bp
from backend.db.models import ConsoleSession, Organization, User
from backend.db.session import begin_write, db_session, scope_to_tenant
from backend.domain.refusal import Refusal
from backend.domain.roles import Grant, Role
from backend.errors import ApiError, status_of

F = TypeVar("F", bound=Callable[..., Any])

SESSION_LIFETIME = timedelta(hours=12)
# How stale a session's last_seen_at may get before a request writes it again: often
# enough to see who is around, rarely enough that reading a page stays a read.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
CONSOLE_ROLES = frozenset({Role.DISPATCHER, Role.SUPPORT, Role.ADMIN})
FORM_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The one page a user whose password change is due may see (backend/console/password.py).
PASSWORD_PAGE = "console.password"  # noqa: S105 - an endpoint name, not a secret
PASSWORD_PAGES = frozenset({PASSWORD_PAGE, "console.change_password"})
# The cookie key of a login whose password was right and whose TOTP code is owed.
PENDING_LOGIN = "pending_login"
PENDING_LOGIN_LIFETIME_S = 300


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    org_id: int
    username: str
    full_name: str
    role: Role
    grants: frozenset[str]
    timezone: str = "UTC"  # the organization's, for showing times
    # A reset (or a first password someone else chose): the password page comes first.
    must_change_password: bool = False

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.org_id, self.role, self.username, None, self.grants)

    def may(self, *roles: Role, grant: Grant | None = None) -> bool:
        """Whether the user may do what ``roles`` (or ``grant``) may; admins may all."""
        return self.principal.may(*roles, grant=grant)

    @property
    def home(self) -> str:
        return home_url(self.role)


def home_url(role: Role) -> str:
    """Where each role starts: support with search, everyone else with the day."""
    return url_for("console.search") if role is Role.SUPPORT else url_for("console.day")


def current_user() -> ConsoleUser | None:
    user: ConsoleUser | None = g.get("console_user")
    return user


def csrf_token() -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _same_origin(value: str) -> bool:
    origin = urlsplit(value)
    here = urlsplit(request.host_url)
    return (origin.scheme, origin.netloc) == (here.scheme, here.netloc)


def _check_csrf() -> None:
    if request.method not in FORM_WRITE_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not _same_origin(origin):
        raise ApiError(403, "cross_origin", "the form was sent from another site")
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        raise ApiError(
            400,
            "csrf_failed",
            "the form has expired or did not come from this console; reload the page and retry",
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _end_sessions(where: ColumnElement[bool]) -> None:
    """Mark the matching console sessions ended, in a write of its own."""
    database = db_session()
    database.rollback()
    begin_write(database)
    database.execute(
        update(ConsoleSession)
        .where(where, ConsoleSession.ended_at.is_(None))
        .values(ended_at=clock.now())
    )
    database.commit()


def end_console_sessions_of(user_id: int) -> None:
    """End every console session of ``user_id`` (deactivation)."""
    _end_sessions(ConsoleSession.user_id == user_id)


def _load_user() -> None:
    """Find the session's user (if any) and scope the database session to its tenant."""
    g.console_user = None
    token = session.get("sid")
    if not isinstance(token, str):
        return
    database = db_session()
    # Looked up before the tenant is known: session tokens and user ids are global.
    found = database.execute(
        select(
            ConsoleSession.id,
            ConsoleSession.created_at,
            ConsoleSession.last_seen_at,
            ConsoleSession.ended_at,
            User,
            Organization.timezone,
        )
        .join(User, User.id == ConsoleSession.user_id)
        .join(Organization, Organization.id == User.org_id)
        .where(ConsoleSession.token_hash == _token_hash(token))
    ).one_or_none()
    now = clock.now()
    if found is None or found.ended_at is not None:
        session.clear()
        database.rollback()
        return
    user: User = found.User
    if now - found.created_at > SESSION_LIFETIME:
        session.clear()
        _end_sessions(ConsoleSession.id == found.id)
        return
    if not user.is_active:
        # Every session ends, not just this one: reactivating the account later must
        # not bring back cookies that were out there when it was switched off.
        session.clear()
        end_console_sessions_of(user.id)
        return
    if user.role not in CONSOLE_ROLES:
        session.clear()
        _end_sessions(ConsoleSession.id == found.id)
        return
    g.console_user = ConsoleUser(
        user.id,
        user.org_id,
        user.username,
        user.full_name,
        user.role,
        frozenset(user.grants or ()),
        found.timezone or "UTC",
        user.must_change_password,
    )
    database.rollback()  # end the read, so a view that writes can begin_write
    if now - found.last_seen_at >= LAST_SEEN_RESOLUTION:
        begin_write(database)
        database.execute(
            update(ConsoleSession).where(ConsoleSession.id == found.id).values(last_seen_at=now)
        )
        database.commit()
    scope_to_tenant(database, g.console_user.org_id)


@bp.before_app_request
def _before_console_request() -> None:
    if not request.path.startswith("/console") or request.endpoint == "console.static":
        return
    _load_user()  # ends its own read (and any write of last_seen_at) before returning
    if request.method in FORM_WRITE_METHODS:
        # Every console form writes, and its view reads first (the day's scope, the
        # dispute's stop): the transaction takes the write lock before those reads, or
        # on SQLite it starts deferred and a concurrent writer makes it fail.
        begin_write(db_session())
    _check_csrf()


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    if not request.path.startswith("/console"):
        return {}
    return {"me": current_user(), "csrf_token": csrf_token, "Role": Role, "Grant": Grant}


def console_view(*roles: Role, grant: Grant | None = None) -> Callable[[F], F]:
    """The view needs a logged-in console user with one of ``roles`` (or ``grant``).

    No session: back to the login page, then here. Wrong role: a 403 page that says
    what the role may not do.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if user.must_change_password and request.endpoint not in PASSWORD_PAGES:
                # Nothing else until the user has chosen their own password.
                return redirect(url_for(PASSWORD_PAGE, next=request.full_path.rstrip("?")))
            if roles and not user.may(*roles, grant=grant):
                raise ApiError(
                    403, "forbidden", f"the {user.role.value} role may not see or do this"
                )
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def console_path(target: str | None) -> str | None:
    """``target`` if it is a path inside the console, else None.

    Used for every redirect a form or query names (after login, after a decision), so
    none can send the browser to another site. A control character (CR/LF above all)
    would split the Location header, so such a target is refused as well.
    """
    if (
        target
        and target.startswith("/console/")
        and "\\" not in target
        and not any(ch < " " or ch == "\x7f" for ch in target)
    ):
        return target
    return None


@bp.get("/login")
def login() -> Any:
    if current_user() is not None:
        return redirect(console_path(request.args.get("next")) or home_url(current_user_role()))
    return render_template("console/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> Any:
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    next_url = request.form.get("next", "")
    if not username or not password or len(username) > 150 or len(password) > 1024:
        return _login_refused(422, "validation_error", "enter your username and password")
    settings = current_app.config["DOORSTEP"]
    database = db_session()
    try:
        user = check_credentials(
            database, settings, username, password, request.remote_addr or "unknown"
        )
    except Refusal as exc:
        wait = {} if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
        return _login_refused(status_of(exc), exc.code, exc.message, wait)
    if user.role not in CONSOLE_ROLES:
        database.rollback()
        return _login_refused(
            403,
            "console_not_for_drivers",
            "drivers use the Doorstep app on their handheld; the console is for "
            "dispatch and customer service",
        )
    second_step = two_factor_step(database, user, next_url)
    if second_step is not None:
        database.commit()  # the password's success (its throttle forgotten) stands
        return second_step
    return start_console_session(user, next_url)


def start_console_session(user: User, next_url: str) -> Response:
    """Sign ``user`` in: a new server-side session and a fresh cookie for it."""
    database = db_session()
    begin_write(database)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    previous = session.get("sid")
    if isinstance(previous, str):
        # Logging in again replaces the browser's session; the old one must not linger.
        database.execute(
            update(ConsoleSession)
            .where(
                ConsoleSession.token_hash == _token_hash(previous),
                ConsoleSession.ended_at.is_(None),
            )
            .values(ended_at=now)
        )
    database.add(
        ConsoleSession(
            org_id=user.org_id,
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
        )
    )
    database.commit()
    session.clear()
    session.permanent = True
    session["sid"] = token
    csrf_token()  # a fresh token for the new session
    if user.must_change_password:
        return redirect(url_for(PASSWORD_PAGE, next=console_path(next_url) or ""))
    return redirect(console_path(next_url) or home_url(user.role))


def two_factor_step(database: Session, user: User, next_url: str) -> Response | None:
    """After the password: ask for a code (enrolled), send to enrolment (the organization
    requires a code and the user has none), or None to sign in now.

    The user waiting for their second step is remembered in the signed cookie for a
    few minutes; no console session exists until the code is right.
    """
    enrolled = totp.is_enrolled(database, user.id)
    if not enrolled and not totp.required_for(database, user):
        return None
    session[PENDING_LOGIN] = {
        "uid": user.id,
        "at": clock.now().timestamp(),
        "next": console_path(next_url) or "",
        "enrol": not enrolled,
    }
    return redirect(url_for("console.login_enrol" if not enrolled else "console.login_code"))


def pending_login() -> tuple[User, str, bool] | None:
    """The user whose password was right and who owes a code: (user, next, enrol)."""
    pending = session.get(PENDING_LOGIN)
    if not isinstance(pending, dict):
        return None
    if clock.now().timestamp() - float(pending.get("at", 0)) > PENDING_LOGIN_LIFETIME_S:
        session.pop(PENDING_LOGIN, None)
        return None
    user = db_session().get(User, pending.get("uid"))
    if user is None or not user.is_active or user.role not in CONSOLE_ROLES:
        session.pop(PENDING_LOGIN, None)
        return None
    return user, str(pending.get("next") or ""), bool(pending.get("enrol"))


def _login_refused(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The login page again, with why it refused."""
    body = render_template(
        "console/login.html",
        next=request.form.get("next", ""),
        username=request.form.get("username", ""),
        error={"code": code, "message": message},
    )
    return Response(body, status=status, headers=headers or {}, mimetype="text/html")


@bp.post("/logout")
def logout() -> Response:
    token = session.get("sid")
    if isinstance(token, str):
        # Ended on the server too, so a copy of the cookie is worthless from now on.
        _end_sessions(ConsoleSession.token_hash == _token_hash(token))
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("")
@bp.get("/")
@console_view()
def home() -> Response:
    return redirect(cast(ConsoleUser, current_user()).home)


def current_user_role() -> Role:
    return cast(ConsoleUser, current_user()).role


def principal_for_console() -> Principal:
    """The console user as the service layer knows callers."""
    user = current_user()
    assert user is not None, "console_view guarantees a user"
    return user.principal
