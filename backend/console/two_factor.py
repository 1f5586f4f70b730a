"""Console pages for TOTP two-factor sign-in: the code after the password, enrolment at
login (when the organization requires it) and from the account page.

A wrong code counts as a failed login (the same throttle as the password), and the
secret is shown once, on the page that enrols; it is never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from backend import clock
from backend.admin import totp
from backend.auth.service import count_failed_login, refuse_if_login_throttled
from backend.console.auth import (
    console_view,
    current_user,
    pending_login,
    start_console_session,
)
from backend.console.blueprint import bp
from backend.db.models import User
from backend.db.session import begin_write, db_session
from backend.domain.refusal import Refusal
from backend.errors import status_of

WRONG_CODE = "that code is not right; enter the 6 digits your authenticator shows now"


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _refused(template: str, exc: Refusal, **context: Any) -> Response:
    headers = {} if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
    response = _page(
        template, status_of(exc), error={"code": exc.code, "message": exc.message}, **context
    )
    response.headers.update(headers)
    return response


def _confirmed(user: User, code: str) -> bool:
    totp.confirm_enrolment(db_session(), user, code)
    return True


def _throttled_code(user: User, check: Callable[[], bool]) -> None:
    """Run ``check`` (which raises invalid_totp_code or returns False on a wrong code)
    under the login throttle; a wrong code is counted as a failed login."""
    database = db_session()
    settings = current_app.config["DOORSTEP"]
    address = request.remote_addr or "unknown"
    username = user.username  # read now: the rollback below expires the user
    refuse_if_login_throttled(database, settings, username, address, clock.now())
    try:
        ok = check()
    except Refusal as exc:
        if exc.code != "invalid_totp_code":
            raise
        ok = False
    if not ok:
        database.rollback()
        count_failed_login(database, settings, username, address, clock.now())
        raise Refusal("invalid_totp_code", WRONG_CODE, field="code")


@bp.get("/login/code")
def login_code() -> Any:
    pending = pending_login()
    if pending is None or pending[2]:
        return redirect(url_for("console.login"))
    return _page("console/login_code.html")


@bp.post("/login/code")
def login_code_submit() -> Any:
    pending = pending_login()
    if pending is None or pending[2]:
        return redirect(url_for("console.login"))
    user, next_url, _ = pending
    code = request.form.get("code", "")[:32]
    try:
        _throttled_code(user, lambda: totp.check_code(db_session(), user.id, code))
    except Refusal as exc:
        return _refused("console/login_code.html", exc)
    return start_console_session(user, next_url)


@bp.get("/login/enrol")
def login_enrol() -> Any:
    begin_write(db_session())  # it writes a new secret after reading who is enrolling
    pending = pending_login()
    if pending is None or not pending[2]:
        return redirect(url_for("console.login"))
    enrolment = totp.begin_enrolment(db_session(), pending[0])
    return _page(
        "console/two_factor_enrol.html",
        enrolment=enrolment,
        action=url_for("console.login_enrol_submit"),
        required=True,
    )


@bp.post("/login/enrol")
def login_enrol_submit() -> Any:
    pending = pending_login()
    if pending is None or not pending[2]:
        return redirect(url_for("console.login"))
    user, next_url, _ = pending
    refused = _confirm_enrolment(user, "console.login_enrol_submit", "console.login_enrol", True)
    return refused or start_console_session(user, next_url)


def _confirm_enrolment(user: User, action: str, restart: str, required: bool) -> Any:
    """Confirm the enrolment with the form's code: None when it holds, else the
    enrolment page again with why (a wrong code counts against the login throttle)."""
    code = request.form.get("code", "")[:32]
    try:
        _throttled_code(user, lambda: _confirmed(user, code))
    except Refusal as exc:
        return _refused(
            "console/two_factor_enrol.html",
            exc,
            enrolment=None,
            action=url_for(action),
            restart=url_for(restart),
            required=required,
        )
    return None


def _signed_in_user() -> User:
    """The console user's own row, for a change to their account."""
    me = current_user()
    assert me is not None  # console_view let the request in
    user = db_session().get(User, me.id)
    assert user is not None
    return user


@bp.get("/account/two-factor")
@console_view()
def two_factor() -> Any:
    me = current_user()
    assert me is not None
    return _page("console/two_factor.html", enrolled=totp.is_enrolled(db_session(), me.id))


@bp.post("/account/two-factor")
@console_view()
def two_factor_start() -> Any:
    try:
        enrolment = totp.begin_enrolment(db_session(), _signed_in_user())
    except Refusal as exc:
        return _refused("console/two_factor.html", exc, enrolled=True)
    return _page(
        "console/two_factor_enrol.html",
        enrolment=enrolment,
        action=url_for("console.two_factor_confirm"),
        required=False,
    )


@bp.post("/account/two-factor/confirm")
@console_view()
def two_factor_confirm() -> Any:
    refused = _confirm_enrolment(
        _signed_in_user(), "console.two_factor_confirm", "console.two_factor", False
    )
    return refused or redirect(url_for("console.two_factor"))
