"""Console pages for an organization's admin: settings, depots and devices.

The same services as the admin API (``backend.admin.settings``, ``depots``,
``devices``); a refusal shows the form again with each field's message and the status
the API would answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from backend.admin import depots, devices
from backend.admin import settings as org
from backend.console.auth import console_view, principal_for_console
from backend.console.blueprint import bp
from backend.db.session import db_session
from backend.domain.org_settings import EDITABLE
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.domain.stops import ProofPolicy
from backend.errors import refusal_errors, status_of

POLICY_FLAGS = ("signature", "photo", "age_check", "parcel_scan")
NUMBERS = (
    "geofence_threshold_m",
    "evidence_retention_days",
    "min_photos",
    "lat",
    "lon",
    "arriving_soon_minutes",
)


def _actor() -> dict[str, Any]:
    principal = principal_for_console()
    return {"actor": principal.username, "actor_user_id": principal.user_id}


def _number(text: str) -> Any:
    """A form's number as a number; anything else as typed, for the service to refuse."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _settings_changes(form: MultiDict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in EDITABLE:
        if name == "default_proof_policy":
            policy: dict[str, Any] = {flag: f"policy_{flag}" in form for flag in POLICY_FLAGS}
            policy["min_photos"] = _number(form.get("policy_min_photos", "0") or "0")
            changes[name] = policy
        elif name in ("require_staff_totp", "tracking_show_photo"):
            changes[name] = name in form
        elif name == "delivery_weekdays":
            # Checkboxes: none ticked sends nothing, so the form says it showed them.
            if "delivery_weekdays_shown" in form:
                changes[name] = form.getlist(name)
        elif name in ("quiet_hours_start", "quiet_hours_end"):
            changes[name] = form.get(name) or None
        elif name in form:
            value = form.get(name, "").strip()
            changes[name] = _number(value) if name in NUMBERS else value
    return changes


@bp.get("/admin/settings")
@console_view(Role.ADMIN)
def admin_settings() -> Response:
    current = org.org_settings(db_session(), principal_for_console().org_id)
    return _page(
        "console/admin_settings.html",
        settings=current.to_dict(),
        versions=org.settings_versions(db_session(), limit=10),
        errors={},
    )


@bp.post("/admin/settings")
@console_view(Role.ADMIN)
def admin_settings_submit() -> Response:
    principal = principal_for_console()
    changes = _settings_changes(request.form)
    try:
        org.change_settings(db_session(), principal.org_id, changes=changes, **_actor())
    except Refusal as exc:
        db_session().rollback()
        shown = {**org.org_settings(db_session(), principal.org_id).to_dict(), **changes}
        shown["default_proof_policy"] = ProofPolicy().to_dict() | {
            k: v for k, v in changes["default_proof_policy"].items() if isinstance(v, bool)
        }
        return _page(
            "console/admin_settings.html",
            status_of(exc),
            settings=shown,
            versions=org.settings_versions(db_session(), limit=10),
            errors=refusal_errors(exc) or {},
            error={"code": exc.code, "message": exc.message},
        )
    flash("Settings saved. They apply from the next request on.", "success")
    return redirect(url_for("console.admin_settings"))


def _depot_values(form: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in depots.EDITABLE:
        if name in form:
            value = form[name].strip()
            values[name] = _number(value) if name in NUMBERS and value else value
    return values


def _depots_page(status: int = 200, **context: Any) -> Response:
    return _page(
        "console/admin_depots.html",
        status,
        depots=[depots.depot_dict(d) for d in depots.list_depots(db_session())],
        **{"errors": {}, "form": {}, "editing": None, **context},
    )


@bp.get("/admin/depots")
@console_view(Role.ADMIN)
def admin_depots() -> Response:
    return _depots_page()


def _depot_refused(exc: Refusal, editing: int | None) -> Response:
    db_session().rollback()
    return _depots_page(
        status_of(exc),
        errors=refusal_errors(exc) or {},
        error={"code": exc.code, "message": exc.message},
        form=request.form,
        editing=editing,
    )


@bp.post("/admin/depots")
@console_view(Role.ADMIN)
def admin_depot_create() -> Response:
    try:
        depot = depots.create_depot(
            db_session(),
            principal_for_console().org_id,
            values=_depot_values(request.form),
            **_actor(),
        )
    except Refusal as exc:
        return _depot_refused(exc, None)
    flash(f"Depot {depot.name} created.", "success")
    return redirect(url_for("console.admin_depots"))


@bp.post("/admin/depots/<int:depot_id>")
@console_view(Role.ADMIN)
def admin_depot_change(depot_id: int) -> Response:
    try:
        depot = depots.change_depot(
            db_session(), depot_id, values=_depot_values(request.form), **_actor()
        )
    except Refusal as exc:
        if exc.code == "not_found":
            raise
        return _depot_refused(exc, depot_id)
    flash(f"Depot {depot.name} saved.", "success")
    return redirect(url_for("console.admin_depots"))


@bp.post("/admin/depots/<int:depot_id>/retire")
@console_view(Role.ADMIN)
def admin_depot_retire(depot_id: int) -> Response:
    depot = depots.retire_depot(db_session(), depot_id, **_actor())
    flash(f"Depot {depot.name} retired: kept for history, offered to no new stop.", "success")
    return redirect(url_for("console.admin_depots"))


@bp.get("/admin/devices")
@console_view(Role.ADMIN)
def admin_devices() -> Response:
    items = [devices.device_dict(s) for s in devices.list_devices(db_session())]
    return _page("console/admin_devices.html", devices=items)


@bp.post("/admin/devices/<int:device_id>/revoke")
@console_view(Role.ADMIN)
def admin_device_revoke(device_id: int) -> Response:
    state = devices.revoke_device(db_session(), device_id, **_actor())
    flash(
        f"Device {state.device.device_key} revoked: it must log in again with a password. "
        "What it captured before still counts when it syncs.",
        "success",
    )
    return redirect(url_for("console.admin_devices"))
