"""Customer service pages: find a delivery, open, annotate and settle disputes."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError, fields, validate
from werkzeug.wrappers import Response

from backend.auth.service import usernames
from backend.console.auth import console_view, principal_for_console
from backend.console.blueprint import bp
from backend.console.deliveries import refuse, render_delivery
from backend.console.forms import FormInvalid, parse_form
from backend.db.session import db_session
from backend.disputes import service
from backend.disputes.schemas import (
    DisputeDetailsSchema,
    DisputeListQuerySchema,
    NoteSchema,
    ResolveSchema,
    SearchQuerySchema,
)
from backend.domain.refusal import Refusal
from backend.domain.roles import Grant, Role
from backend.errors import ApiError


@bp.get("/search")
@console_view(Role.SUPPORT, Role.DISPATCHER)
def search() -> Response:
    """Find a delivery by order number, parcel barcode, recipient or address."""
    query = request.args.get("q", "")
    results: list[dict[str, Any]] | None = None
    error = None
    status = 200
    if query:
        try:
            q = SearchQuerySchema().load({"q": query})["q"]
            results = service.search(db_session(), q)
        except ValidationError:
            error = "Type at least 2 and at most 200 characters."
            status = 422
    body = render_template(
        "console/search.html", q=query, results=results, error=error, limit=service.SEARCH_LIMIT
    )
    return Response(body, status=status, mimetype="text/html")


@bp.get("/disputes")
@console_view(Role.SUPPORT, Role.DISPATCHER)
def dispute_list() -> Response:
    try:
        query = DisputeListQuerySchema().load(
            {k: v for k, v in request.args.items() if v}, unknown="exclude"
        )
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", "unknown status", errors={"query": exc.messages}
        ) from exc
    items = service.list_disputes(db_session(), query.get("status"))
    names = usernames(db_session(), (i["dispute"]["opened_by"] for i in items))
    body = render_template(
        "console/disputes.html", items=items, names=names, status=query.get("status")
    )
    return Response(body, mimetype="text/html")


@bp.post("/deliveries/<int:stop_id>/disputes")
@console_view(Role.SUPPORT)
def open_dispute(stop_id: int) -> Response:
    try:
        form = parse_form(DisputeDetailsSchema(), request.form)
        dispute = service.open_dispute(
            db_session(),
            principal_for_console(),
            stop_id,
            form["reason"],
            form["note"],
            form["customer_reference"],
        )
    except FormInvalid as exc:
        return render_delivery(stop_id, exc.errors, request.form, 422, "open")
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        return refuse(stop_id, exc, request.form, "open")
    flash(
        f"Dispute #{dispute.id} opened. The proof is on legal hold until it is settled.",
        "success",
    )
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor="disputes"))


def _dispute_stop(dispute_id: int) -> int:
    return service.get_dispute(db_session(), dispute_id).stop_id


@bp.post("/disputes/<int:dispute_id>/notes")
@console_view(Role.SUPPORT)
def add_note(dispute_id: int) -> Response:
    stop_id = _dispute_stop(dispute_id)
    try:
        form = parse_form(NoteSchema(), request.form)
    except FormInvalid as exc:
        return render_delivery(stop_id, exc.errors, request.form, 422, f"note-{dispute_id}")
    service.add_note(db_session(), principal_for_console(), dispute_id, form["text"])
    flash("Note added.", "success")
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor=f"dispute-{dispute_id}"))


class ResolveForm(ResolveSchema):
    # Settling is final; the person ticks this to say they mean it.
    confirm = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="Tick the box: settling a dispute is final."),
        error_messages={"required": "Tick the box: settling a dispute is final."},
    )


@bp.post("/disputes/<int:dispute_id>/resolve")
@console_view(Role.SUPPORT, grant=Grant.RESOLVE_DISPUTES)
def resolve_dispute(dispute_id: int) -> Response:
    stop_id = _dispute_stop(dispute_id)
    which = f"resolve-{dispute_id}"
    try:
        form = parse_form(ResolveForm(), request.form, lists=("evidence_cited",))
        settlement = {name: value for name, value in form.items() if name != "confirm"}
        service.resolve(
            db_session(), principal_for_console(), dispute_id, service.Settlement(**settlement)
        )
    except FormInvalid as exc:
        return render_delivery(stop_id, exc.errors, request.form, 422, which)
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        return refuse(stop_id, exc, request.form, which)
    flash(f"Dispute #{dispute_id} settled: {form['outcome']}. The legal hold is lifted.", "success")
    return redirect(url_for("console.delivery", stop_id=stop_id, _anchor=f"dispute-{dispute_id}"))
