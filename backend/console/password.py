"""The console page where a user changes their own password.

The one page a user whose change is due (after a reset, or a first password someone
else chose) may open: ``console_view`` sends every other request here first.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request
from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from backend.admin import people
from backend.console.auth import console_path, console_view, current_user, principal_for_console
from backend.console.blueprint import bp
from backend.console.forms import FormInvalid, parse_form
from backend.db.session import db_session
from backend.domain import password_policy
from backend.domain.refusal import Refusal
from backend.errors import status_of

PasswordForm = Schema.from_dict(
    {
        name: fields.String(required=True, validate=validate.Length(max=1024))
        for name in ("current_password", "new_password", "repeat_password")
    },
    name="PasswordForm",
)


def _page(errors: dict[str, list[str]] | None = None, status: int = 200) -> Response:
    body = render_template(
        "console/password.html",
        errors=errors or {},
        next=request.values.get("next", ""),
        min_length=password_policy.MIN_LENGTH,
    )
    return Response(body, status=status, mimetype="text/html")


@bp.get("/password")
@console_view()
def password() -> Response:
    return _page()


@bp.post("/password")
@console_view()
def change_password() -> Response:
    try:
        form = parse_form(PasswordForm(), request.form)
        if form["new_password"] != form["repeat_password"]:
            raise FormInvalid({"repeat_password": ["the two new passwords differ"]})
        people.change_own_password(
            db_session(), principal_for_console(), form["current_password"], form["new_password"]
        )
    except FormInvalid as exc:
        return _page(exc.errors, 422)
    except Refusal as exc:
        return _page(exc.errors or {"_form": [exc.message]}, status_of(exc))
    flash("Your password is changed.", "success")
    user = current_user()
    assert user is not None
    return redirect(console_path(request.form.get("next")) or user.home)
