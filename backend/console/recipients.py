"""Back office's side of the recipient: the queue of what recipients asked from their
tracking pages, and each delivery's tracking link (shown, issued on demand, revoked)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from backend import clock
from backend.auth.service import usernames
from backend.console.auth import console_view, current_user, principal_for_console
from backend.console.blueprint import bp
from backend.db.session import db_session
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.domain.tracking import RequestKind, RequestStatus
from backend.proofs.service import find_stop
from backend.tracking import links
from backend.tracking import requests as recipient_requests

STATUSES = tuple(status.value for status in RequestStatus)


@bp.get("/recipient-requests")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def recipient_request_list() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(404)
    items = recipient_requests.request_dicts(db_session(), status)
    names = usernames(db_session(), (item["handled_by"] for item in items))
    body = render_template(
        "console/recipient_requests.html",
        items=items,
        names=names,
        status=status,
        kinds=[kind.value for kind in RequestKind],
    )
    return Response(body, mimetype="text/html")


@bp.post("/recipient-requests/<int:request_id>/handle")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def handle_recipient_request(request_id: int) -> Response:
    replan = request.form.get("replan") == "yes"
    user = current_user()
    assert user is not None
    if replan and not user.may(Role.DISPATCHER):
        abort(403)
    try:
        handled = recipient_requests.handle_request(
            db_session(), principal_for_console(), request_id, clock.now(), replan=replan
        )
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        db_session().rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.recipient_request_list", status="open"))
    flash(
        f"Request #{handled.id} handled"
        + (": another attempt is planned for dispatch." if replan else "."),
        "success",
    )
    return redirect(url_for("console.recipient_request_list", status="open"))


@bp.post("/deliveries/<int:stop_id>/tracking-link")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def issue_tracking_link(stop_id: int) -> Response:
    org_id = find_stop(db_session(), stop_id).org_id
    db_session().rollback()  # issue_link opens its own write transaction
    links.issue_link(db_session(), org_id, stop_id, current_app.config["SECRET_KEY"], clock.now())
    flash("Tracking link ready: copy it below.", "success")
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor="tracking"))


@bp.post("/deliveries/<int:stop_id>/tracking-link/revoke")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def revoke_tracking_link(stop_id: int) -> Response:
    find_stop(db_session(), stop_id)
    db_session().rollback()
    revoked = links.revoke_links(db_session(), stop_id, clock.now())
    flash(
        f"{revoked} tracking link(s) revoked. No new link is made until someone asks.",
        "success",
    )
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor="tracking"))
