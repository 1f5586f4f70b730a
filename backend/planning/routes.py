"""The dispatcher's endpoints: import, list, change, cancel, assign and order stops."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import ValidationError

from backend.auth.guard import current_principal, require_roles
from backend.db.models import Manifest, Parcel, Stop, User
from backend.db.session import db_session
from backend.domain.clock import utc_text
from backend.domain.refusal import not_found
from backend.domain.roles import Role
from backend.errors import ApiError
from backend.http import JSON, ApiBlueprint, accepts
from backend.manifests.schemas import ManifestSchema
from backend.manifests.serialize import manifest_to_dict, stop_to_dict
from backend.manifests.service import find_driver_manifest, load_stops
from backend.planning import schemas, service
from backend.planning.importer import (
    CSV_COLUMNS,
    JSON_FIELDS,
    parse_csv,
    parse_json_rows,
)
from backend.schemas import ErrorSchema
from backend.wiring import travel_times

stops_blp = ApiBlueprint(
    "planning_stops", __name__, url_prefix="/api/v1/stops", description="The day's stops"
)
manifests_blp = ApiBlueprint(
    "planning_manifests",
    __name__,
    url_prefix="/api/v1/manifests",
    description="Manifests, as dispatch sees them",
)

CSV = "text/csv"


def planned_stop_dict(stop: Stop, driver: str | None, parcels: list[Parcel]) -> dict[str, Any]:
    """A stop as dispatch sees it: the driver's view plus who holds it and why cancelled."""
    return {
        **stop_to_dict(stop, parcels),
        "driver": driver,
        "service_date": stop.service_date.isoformat(),
        "cancel_reason": stop.cancel_reason,
        "promised_window": {
            "start": utc_text(stop.promised_start),
            "end": utc_text(stop.promised_end),
        },
        "recipient_email": stop.recipient_email,
    }


def planned_stop(stop: Stop, driver: str | None) -> dict[str, Any]:
    parcels = service.parcels_for(db_session(), [stop.id]).get(stop.id, [])
    return planned_stop_dict(stop, driver, parcels)


def _driver_name(stop: Stop) -> str | None:
    if stop.manifest_id is None:
        return None
    manifest = db_session().get(Manifest, stop.manifest_id)
    user = db_session().get(User, manifest.driver_id) if manifest else None
    return user.username if user else None


@stops_blp.route("/import")
class ImportStops(MethodView):
    @require_roles(Role.DISPATCHER)
    @accepts(CSV, JSON)
    @stops_blp.arguments(schemas.ImportQuerySchema, location="query")
    @stops_blp.response(201, schemas.ImportResultSchema)
    @stops_blp.alt_response(
        422, schema=ErrorSchema, description="import_invalid: every bad row is named"
    )
    @stops_blp.doc(
        requestBody={
            "content": {
                CSV: {"schema": {"type": "string"}},
                JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["service_date", "stops"],
                        "properties": {
                            "service_date": {"type": "string", "format": "date"},
                            "stops": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                },
            }
        }
    )
    def post(self, query: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Import a day's stops from CSV (``?date=`` required) or JSON.

        Every row is validated; if any is bad the whole file is refused with every bad
        row named in ``errors.rows`` (CSV: line numbers, header = 1; JSON: indexes), and
        nothing is written. Columns: see docs/api.md#importing-stops.
        """
        principal = current_principal()
        session = db_session()
        if request.mimetype == CSV:
            if "date" not in query:
                raise ApiError(
                    422,
                    "validation_error",
                    "CSV imports need ?date=YYYY-MM-DD",
                    errors={"date": ["Missing data for required field."]},
                )
            service_date = query["date"]
            rows = parse_csv(request.get_data(as_text=True))
            allowed = CSV_COLUMNS
        else:
            try:
                body = schemas.ImportJsonSchema().load(_json_body())
            except ValidationError as exc:
                raise ApiError(
                    422,
                    "validation_error",
                    "the request has invalid fields",
                    errors=exc.messages
                    if isinstance(exc.messages, dict)
                    else {"_body": exc.messages},
                ) from exc
            service_date = body["service_date"]
            rows = parse_json_rows(body["stops"])
            allowed = JSON_FIELDS
        created = service.import_stops(session, principal, service_date, rows, allowed)
        return {"service_date": service_date, "created": len(created), "stops": created}, 201


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True))
    except ValueError as exc:
        raise ApiError(400, "malformed_body", "the request body could not be parsed") from exc


@stops_blp.route("")
class StopList(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @stops_blp.arguments(schemas.StopListQuerySchema, location="query")
    @stops_blp.response(200, schemas.StopListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Stops for a date, by driver and sequence; filter by driver, status, unassigned."""
        session = db_session()
        rows, total = service.list_stops(
            session,
            query["date"],
            query.get("driver"),
            query.get("status"),
            query["unassigned"],
            query["limit"],
            query["offset"],
        )
        parcels = service.parcels_for(session, [stop.id for stop, _ in rows])
        items = [planned_stop_dict(stop, driver, parcels.get(stop.id, [])) for stop, driver in rows]
        return {"items": items, "total": total}


@stops_blp.route("/<int:stop_id>")
class StopResource(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @stops_blp.response(200, schemas.PlannedStopSchema)
    def get(self, stop_id: int) -> dict[str, Any]:
        """One stop, with its parcels and driver."""
        stop = db_session().get(Stop, stop_id)
        if stop is None:
            raise not_found("stop")
        return planned_stop(stop, _driver_name(stop))

    @require_roles(Role.DISPATCHER)
    @stops_blp.arguments(schemas.StopChangeSchema)
    @stops_blp.response(200, schemas.PlannedStopSchema)
    @stops_blp.alt_response(
        409, schema=ErrorSchema, description="stop_not_editable: the stop has an outcome"
    )
    @stops_blp.alt_response(
        412, schema=ErrorSchema, description="version_mismatch: If-Match names an old version"
    )
    def patch(self, changes: dict[str, Any], stop_id: int) -> dict[str, Any]:
        """Change a pending or arrived stop; bumps its version and tells its driver.

        Send ``If-Match: <version>`` (the stop's current version number) to refuse the
        change if someone else changed the stop first.
        """
        expected = _if_match_version()
        stop = service.change_stop(
            db_session(), current_principal(), stop_id, changes, expected, travel=travel_times()
        )
        return planned_stop(stop, _driver_name(stop))


def _if_match_version() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.strip().strip('"'))
    except ValueError as exc:
        raise ApiError(
            412, "version_mismatch", "If-Match carries the stop's version number"
        ) from exc


@stops_blp.route("/<int:stop_id>/cancel")
class CancelStop(MethodView):
    @require_roles(Role.DISPATCHER)
    @stops_blp.arguments(schemas.CancelSchema)
    @stops_blp.response(200, schemas.PlannedStopSchema)
    @stops_blp.alt_response(
        409, schema=ErrorSchema, description="stop_already_cancelled, stop_already_attempted"
    )
    def post(self, body: dict[str, Any], stop_id: int) -> dict[str, Any]:
        """Cancel a stop; its driver learns at next sync. Reports already made are kept."""
        stop = service.cancel_stop(
            db_session(), current_principal(), stop_id, body["reason"], travel=travel_times()
        )
        return planned_stop(stop, _driver_name(stop))


@manifests_blp.route("")
class ManifestList(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @manifests_blp.arguments(schemas.ManifestsQuerySchema, location="query")
    @manifests_blp.response(200, schemas.ManifestListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Every manifest for a date, with stop counts by status."""
        return {"items": service.manifests_overview(db_session(), query["date"])}


@manifests_blp.route(
    "/<string:driver>/<string:service_date>",
    # The view parses the date itself (422 dates_are_yyyy_mm_dd); documented as a date.
    parameters=[
        {"in": "path", "name": "service_date", "schema": {"type": "string", "format": "date"}}
    ],
)
class DriverManifest(MethodView):
    @require_roles(Role.DISPATCHER, Role.SUPPORT)
    @manifests_blp.response(200, ManifestSchema)
    def get(self, driver: str, service_date: str) -> Response | dict[str, Any]:
        """One driver's manifest for a date, as the driver sees it."""
        session = db_session()
        user = service.find_driver(session, driver)
        manifest = (
            find_driver_manifest(session, user.id, service.parse_service_date(service_date))
            if user
            else None
        )
        if manifest is None:
            raise not_found("manifest")
        stops, parcels = load_stops(session, manifest.id)
        return manifest_to_dict(manifest, manifest.driver.username, stops, parcels)

    @require_roles(Role.DISPATCHER)
    @manifests_blp.arguments(schemas.AssignSchema)
    @manifests_blp.response(200, ManifestSchema)
    def put(self, body: dict[str, Any], driver: str, service_date: str) -> dict[str, Any]:
        """Make the driver's manifest exactly these stops, in this order.

        Listed stops move here (from another driver or from unassigned); stops that
        were here and are not listed become unassigned. Only stops whose driver or
        position changed get a new version.
        """
        session = db_session()
        manifest = service.assign_manifest(
            session,
            current_principal(),
            driver,
            service.parse_service_date(service_date),
            body["stop_ids"],
            travel=travel_times(),
        )
        session.refresh(manifest)
        stops, parcels = load_stops(session, manifest.id)
        return manifest_to_dict(manifest, manifest.driver.username, stops, parcels)
