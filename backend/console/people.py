"""The Admin area's people pages: list, add (one by one or from a CSV), edit,
deactivate, reactivate and reset a password; and the audit log. Admins only.

A one-time password is shown on the page that answers the form, never put in the
session cookie or a redirect.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from backend.admin import audit, audit_export, people, people_csv
from backend.console.auth import console_view, principal_for_console
from backend.console.blueprint import bp
from backend.console.forms import FormInvalid, parse_form
from backend.db.session import db_session
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.errors import status_of
from backend.http import attachment

MAX_CSV_BYTES = 1024 * 1024


class NewPersonForm(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=150))
    role = fields.String(required=True, validate=validate.Length(max=32))
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=254))


class EditPersonForm(Schema):
    # A browser sends every field: an emptied one clears it (the role is always chosen).
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.String(load_default="", validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.Length(max=32))


def _actor() -> people.Actor:
    return people.Actor.of(principal_for_console())


def _refusal_errors(exc: Refusal) -> dict[str, Any]:
    return exc.errors or {exc.field or "_form": [exc.message]}


def _people_page(
    *,
    errors: dict[str, Any] | None = None,
    created: list[people.NewAccount] | None = None,
    status: int = 200,
    which: str = "",
) -> Response:
    body = render_template(
        "console/people.html",
        users=people.list_users(db_session()),
        roles=[role.value for role in Role],
        errors=errors or {},
        form=request.form if which == "add" else {},
        which=which,
        created=created or [],
    )
    return Response(body, status=status, mimetype="text/html")


@bp.get("/admin/people")
@console_view(Role.ADMIN)
def people_list() -> Response:
    return _people_page()


@bp.post("/admin/people")
@console_view(Role.ADMIN)
def person_add() -> Response:
    try:
        form = parse_form(NewPersonForm(), request.form)
        account = people.add_user(db_session(), _actor(), principal_for_console().org_id, **form)
    except FormInvalid as exc:
        return _people_page(errors=exc.errors, status=422, which="add")
    except Refusal as exc:
        return _people_page(errors=_refusal_errors(exc), status=status_of(exc), which="add")
    return _people_page(created=[account], status=201)


@bp.post("/admin/people/import")
@console_view(Role.ADMIN)
def people_import() -> Response:
    upload = request.files.get("file")
    data = upload.read(MAX_CSV_BYTES + 1) if upload else b""
    try:
        if not data:
            raise Refusal("import_invalid", "choose a CSV file", field="file")
        if len(data) > MAX_CSV_BYTES:
            raise Refusal("import_invalid", "the file is larger than 1 MB", field="file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal("import_invalid", "save the file as UTF-8 text", field="file") from None
        rows = people_csv.parse(text)
        created = people.import_users(db_session(), _actor(), principal_for_console().org_id, rows)
    except Refusal as exc:
        return _people_page(errors=_refusal_errors(exc), status=status_of(exc), which="import")
    return _people_page(created=created, status=201)


def _person_page(
    user_id: int, errors: dict[str, Any] | None = None, status: int = 200, **extra: Any
) -> Response:
    user = people.get_user(db_session(), user_id)
    body = render_template(
        "console/person.html",
        user=user,
        roles=[role.value for role in Role],
        errors=errors or {},
        **extra,
    )
    return Response(body, status=status, mimetype="text/html")


@bp.get("/admin/people/<int:user_id>")
@console_view(Role.ADMIN)
def person(user_id: int) -> Response:
    return _person_page(user_id)


@bp.post("/admin/people/<int:user_id>")
@console_view(Role.ADMIN)
def person_edit(user_id: int) -> Response:
    try:
        form = parse_form(EditPersonForm(), request.form)
        people.update_user(db_session(), _actor(), user_id, form)
    except FormInvalid as exc:
        return _person_page(user_id, exc.errors, 422)
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        db_session().rollback()
        return _person_page(user_id, _refusal_errors(exc), status_of(exc))
    flash("Saved.", "success")
    return redirect(url_for("console.person", user_id=user_id))


def _set_active(user_id: int, active: bool) -> Response:
    try:
        user = people.set_active(db_session(), _actor(), user_id, active=active)
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        db_session().rollback()
        return _person_page(user_id, _refusal_errors(exc), status_of(exc))
    if active:
        flash(f"{user.username} may sign in again.", "success")
    else:
        flash(f"{user.username} is deactivated: their sessions and tokens have ended.", "success")
    return redirect(url_for("console.person", user_id=user_id))


@bp.post("/admin/people/<int:user_id>/deactivate")
@console_view(Role.ADMIN)
def person_deactivate(user_id: int) -> Response:
    return _set_active(user_id, False)


@bp.post("/admin/people/<int:user_id>/reactivate")
@console_view(Role.ADMIN)
def person_reactivate(user_id: int) -> Response:
    return _set_active(user_id, True)


@bp.post("/admin/people/<int:user_id>/reset-password")
@console_view(Role.ADMIN)
def person_reset_password(user_id: int) -> Response:
    reset = people.reset_password(db_session(), _actor(), user_id)
    return _person_page(user_id, one_time_password=reset.one_time_password)


@bp.get("/admin/audit")
@console_view(Role.ADMIN)
def audit_log() -> Response:
    entries = audit.entries(db_session())
    body = render_template(
        "console/audit.html", entries=[audit_export.entry_dict(e) for e in entries]
    )
    return Response(body, mimetype="text/html")


@bp.get("/admin/audit.csv")
@console_view(Role.ADMIN)
def audit_csv() -> Response:
    entries = audit.entries(db_session(), limit=5000)
    return attachment(audit_export.to_csv(entries).encode(), "text/csv", "audit.csv")
