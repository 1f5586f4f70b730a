"""GET /api/v1/manifests/mine: the driver's manifest, with ETag revalidation."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView

from backend.auth.guard import current_principal, require_roles
from backend.db.session import db_session
from backend.domain.refusal import not_found
from backend.domain.roles import Role
from backend.http import ApiBlueprint, client_accepts_gzip, gzip_body
from backend.manifests import service
from backend.manifests.schemas import ManifestQuerySchema, ManifestSchema
from backend.manifests.serialize import manifest_to_dict
from backend.schemas import ErrorSchema

blp = ApiBlueprint(
    "manifests", __name__, url_prefix="/api/v1/manifests", description="Drivers' manifests"
)


def _body_cache() -> service.BodyCache:
    # One per app, so tests (and apps pointed at another database) never share bodies.
    cache: service.BodyCache | None = current_app.extensions.get("doorstep.manifest_bodies")
    if cache is None:
        capacity = current_app.config["DOORSTEP"].manifest_cache_entries
        cache = current_app.extensions.setdefault(
            "doorstep.manifest_bodies", service.BodyCache(capacity)
        )
    return cache


@blp.route("/mine")
class MyManifest(MethodView):
    @require_roles(Role.DRIVER)
    @blp.arguments(ManifestQuerySchema, location="query")
    @blp.response(200, ManifestSchema)
    @blp.alt_response(304, description="Not modified: the If-None-Match ETag is current")
    @blp.alt_response(
        404, schema=ErrorSchema, description="no manifest for this driver on that date"
    )
    def get(self, args: dict[str, Any]) -> Response:
        """The calling driver's manifest for a date (default: today), stops in order.

        Send the ETag back as ``If-None-Match`` to revalidate; an unchanged manifest
        answers 304 with no body after reading a single row.
        """
        principal = current_principal()
        session = db_session()
        service_date = args.get("date") or service.org_today(session, principal.org_id)
        manifest = service.find_manifest_head(session, principal.user_id, service_date)
        if manifest is None:
            raise not_found("manifest")
        etag = service.manifest_etag(manifest)
        if etag in _if_none_match():
            return _not_modified(etag)
        gzipped = client_accepts_gzip()
        key = (principal.org_id, manifest.id, manifest.revision, gzipped)
        body = _body_cache().get(key)
        if body is None:
            stops, parcels = service.load_stops(session, manifest.id)
            raw = json.dumps(
                manifest_to_dict(
                    manifest,
                    service.driver_username(session, principal.user_id),
                    stops,
                    parcels,
                ),
                separators=(",", ":"),
            ).encode()
            body = gzip_body(raw) if gzipped else raw
            _body_cache().put(key, body)
        response = Response(body, status=200, mimetype="application/json")
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        _cache_headers(response, etag)
        return response


def _if_none_match() -> set[str]:
    raw = request.headers.get("If-None-Match", "")
    # Compare weakly, as RFC 9110 asks for If-None-Match.
    return {tag.strip().removeprefix("W/") for tag in raw.split(",") if tag.strip()} | {
        "W/" + tag.strip().removeprefix("W/") for tag in raw.split(",") if tag.strip()
    }


def _not_modified(etag: str) -> Response:
    response = Response(status=304)
    _cache_headers(response, etag)
    return response


def _cache_headers(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag
    # Private: a manifest is one driver's; revalidate every time rather than trusting age.
    response.headers["Cache-Control"] = "private, no-cache"
