"""The evidence view of one delivery, for back office and customer service alike:
signature, photos, the map, the timeline, device and clock, hashes, receipt, and
whether the bundle verifies. Plus the files, map and PDF it links to."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from backend import clock
from backend.auth.service import usernames
from backend.console.auth import console_view, current_user
from backend.console.blueprint import bp
from backend.console.forms import flatten_messages
from backend.db.session import db_session
from backend.disputes import service as disputes
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.errors import refusal_errors, status_of
from backend.evidence import service as evidence
from backend.http import attachment, stream_file
from backend.notifications import outbox_view
from backend.proofs import service as proofs
from backend.proofs.timeline import build_timeline
from backend.reconciliation.review import review_day
from backend.tracking import links
from backend.tracking import requests as recipient_requests
from backend.wiring import evidence_store, proof_sealer

# Only these are shown inline in the browser; anything else the device sent is
# offered as a download, so no uploaded file can run as a page of this origin.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


def _dispute_views(stop_id: int) -> list[dict[str, Any]]:
    session = db_session()
    views = disputes.dispute_dicts(session, disputes.disputes_of_stop(session, stop_id))
    ids = {v["opened_by"] for v in views} | {v["resolved_by"] for v in views if v["resolved_by"]}
    ids |= {n["user_id"] for v in views for n in v["notes"]}
    names = usernames(session, ids)
    for view in views:
        view["opened_by_name"] = (
            names.get(view["opened_by"], "?") if view["opened_by"] else "the recipient"
        )
        view["resolved_by_name"] = names.get(view["resolved_by"] or 0)
        for note in view["notes"]:
            note["by"] = names.get(note["user_id"], "?")
    return views


def tracking_url(stop_id: int) -> str | None:
    """The delivery's working tracking link as the recipient opens it, or None."""
    token = links.current_token(
        db_session(), stop_id, current_app.config["SECRET_KEY"], clock.now()
    )
    return f"{request.host_url.rstrip('/')}/t/{token}" if token else None


def render_delivery(
    stop_id: int,
    errors: dict[str, list[str]] | None = None,
    form: Any = None,
    status: int = 200,
    open_form: str = "",
) -> Response:
    """The evidence page; ``errors``/``form`` re-show a refused dispute form."""
    session = db_session()
    stop = proofs.find_stop(session, stop_id)
    bundle = proofs.stop_bundle(session, stop, proof_sealer(), request.host_url)
    verification = (
        proofs.verify_stop_proof(bundle, stop.org_id, evidence_store())
        if bundle.get("proof")
        else proofs.Verification([], [])
    )
    user = current_user()
    assert user is not None
    review = None
    if user.may(Role.DISPATCHER):
        [review] = review_day(session, stop.service_date, None, stop_ids=[stop.id])
    decision_users = usernames(session, (d["user_id"] for d in review.decisions)) if review else {}
    body = render_template(
        "console/delivery.html",
        stop=stop,
        bundle=bundle,
        proof=bundle.get("proof"),
        files_by_kind=_files_by_kind(bundle),
        problems=verification.problems,
        unreadable=verification.unreadable,
        timeline=build_timeline(session, stop),
        review=review,
        decision_users=decision_users,
        disputes=_dispute_views(stop.id),
        reasons=list(disputes.DisputeReason),
        errors=errors or {},
        form=form if form is not None else MultiDict(),
        open_form=open_form,
        tracking_url=tracking_url(stop.id),
        recipient_requests=recipient_requests.requests_of_stop(session, stop.id),
        messages=outbox_view.messages_of_stop(session, stop.org_id, stop.id),
    )
    return Response(body, status=status, mimetype="text/html")


def _files_by_kind(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The winning proof's files by kind (signature, photo, ...), with their state."""
    state = {f["sha256"]: f for f in bundle["files"]}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in (bundle.get("proof") or {}).get("files", []):
        grouped.setdefault(item["kind"], []).append({**item, **state.get(item["sha256"], {})})
    return grouped


@bp.get("/deliveries/<int:stop_id>")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def delivery(stop_id: int) -> Response:
    return render_delivery(stop_id)


@bp.get("/deliveries/<int:stop_id>/map.svg")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def delivery_map(stop_id: int) -> Response:
    session = db_session()
    svg = proofs.proof_map_svg(session, proofs.find_stop(session, stop_id))
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/deliveries/<int:stop_id>/proof.pdf")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def delivery_pdf(stop_id: int) -> Response:
    session = db_session()
    stop = proofs.find_stop(session, stop_id)
    pdf = proofs.proof_pdf(session, stop, evidence_store(), proof_sealer(), request.host_url)
    return attachment(pdf, "application/pdf", proofs.pdf_filename(stop))


@bp.get("/evidence/<string:sha256>")
@console_view(Role.DISPATCHER, Role.SUPPORT)
def evidence_file(sha256: str) -> Response:
    opened = evidence.open_file(db_session(), evidence_store(), sha256)
    response = stream_file(opened.first, opened.rest, opened.mimetype, opened.file.size, sha256)
    if response.mimetype not in INLINE_TYPES:
        response.headers["Content-Disposition"] = f'attachment; filename="{sha256}"'
    # Even an image is never allowed to act as a document of this origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def refuse(stop_id: int, exc: Refusal, form: Any, which: str) -> Response:
    """Show the delivery again with a refused form's message next to it (field errors)
    or above the disputes (anything else)."""
    detail = refusal_errors(exc)
    errors = flatten_messages(detail) if detail else {"_form": [exc.message]}
    return render_delivery(stop_id, errors, form, status_of(exc), which)
