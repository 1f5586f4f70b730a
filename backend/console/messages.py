"""Console pages for recipient messages: the admin's template editor and outbox
overview, and support's re-send of a failed message from the delivery page.

The same services as the admin API (``backend.notifications.templates_admin``,
``outbox_view``); a refused template shows the form again with each part's message
and the status the API would answer, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from backend.console.auth import console_view, principal_for_console
from backend.console.blueprint import bp
from backend.console.deliveries import render_delivery
from backend.db.session import db_session
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.errors import refusal_errors, status_of
from backend.notifications import outbox_view, templates_admin
from backend.notifications.rendering import LIMITS, PARTS, SAMPLE_CONTEXT, Rendered
from backend.proofs.service import find_stop


def _actor() -> dict[str, Any]:
    principal = principal_for_console()
    return {"actor": principal.username, "actor_user_id": principal.user_id}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


@bp.get("/admin/messages")
@console_view(Role.ADMIN)
def admin_messages() -> Response:
    views = templates_admin.all_template_views(db_session(), principal_for_console().org_id)
    return _page("console/admin_messages.html", templates=views)


def _editor(
    kind: str,
    status: int = 200,
    parts: dict[str, str] | None = None,
    errors: dict[str, Any] | None = None,
    preview: Rendered | None = None,
) -> Response:
    view = templates_admin.template_view(db_session(), principal_for_console().org_id, kind)
    return _page(
        "console/admin_message_template.html",
        status,
        view=view,
        parts=parts if parts is not None else view.parts,
        errors=errors or {},
        preview=preview,
        limits=LIMITS,
        sample=SAMPLE_CONTEXT,
    )


@bp.get("/admin/messages/<string:kind>")
@console_view(Role.ADMIN)
def admin_message_template(kind: str) -> Response:
    view = templates_admin.template_view(db_session(), principal_for_console().org_id, kind)
    try:
        shown = templates_admin.preview(kind, view.parts)
    except Refusal:
        # A template stored before a rule tightened: the page still opens to fix it.
        shown = None
    return _editor(kind, preview=shown)


@bp.post("/admin/messages/<string:kind>")
@console_view(Role.ADMIN)
def admin_message_template_submit(kind: str) -> Response:
    """``action=preview`` renders the form's template with the sample values and stores
    nothing; ``action=save`` stores it (audited) if every part renders."""
    templates_admin.known_kind(kind)
    parts = {part: request.form.get(part, "") for part in PARTS}
    try:
        if request.form.get("action") == "save":
            templates_admin.save_template(
                db_session(), principal_for_console().org_id, kind, parts, **_actor()
            )
        else:
            return _editor(kind, parts=parts, preview=templates_admin.preview(kind, parts))
    except Refusal as exc:
        db_session().rollback()
        errors = refusal_errors(exc) or {"_form": [exc.message]}
        return _editor(kind, status_of(exc), parts=parts, errors=errors)
    flash(f"The {kind.replace('_', ' ')} message now uses your wording.", "success")
    return redirect(url_for("console.admin_message_template", kind=kind))


@bp.post("/admin/messages/<string:kind>/reset")
@console_view(Role.ADMIN)
def admin_message_template_reset(kind: str) -> Response:
    templates_admin.reset_template(db_session(), principal_for_console().org_id, kind, **_actor())
    flash(f"The {kind.replace('_', ' ')} message is back to the shipped wording.", "success")
    return redirect(url_for("console.admin_message_template", kind=kind))


@bp.get("/admin/outbox")
@console_view(Role.ADMIN)
def admin_outbox() -> Response:
    found = outbox_view.overview(db_session(), principal_for_console().org_id)
    return _page("console/admin_outbox.html", overview=found, days=outbox_view.OVERVIEW_DAYS)


@bp.post("/deliveries/<int:stop_id>/messages/<int:notification_id>/resend")
@console_view(Role.SUPPORT)
def resend_message(stop_id: int, notification_id: int) -> Response:
    """Queue a failed message again, as a new message (see outbox_view.resend)."""
    session = db_session()
    find_stop(session, stop_id)
    session.rollback()
    if request.form.get("confirm") != "true":
        errors = {"resend": ["tick the box to confirm the recipient should get it again"]}
        return render_delivery(stop_id, errors, request.form, 422, "resend")
    try:
        outbox_view.resend(
            session,
            principal_for_console().org_id,
            notification_id,
            stop_id=stop_id,
            **_actor(),
        )
    except Refusal as exc:
        session.rollback()
        if exc.code == "not_found":
            raise
        return render_delivery(stop_id, {"resend": [exc.message]}, request.form, status_of(exc))
    flash("Message queued again; it goes out with the worker's next pass.", "success")
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor="messages"))
