"""The one place the application is built."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from backend import clock as app_clock
from backend import console, errors, http, wiring
from backend.admin.org_routes import blp as admin_org_blp
from backend.admin.people_routes import blp as admin_people_blp
from backend.auth.routes import blp as auth_blp
from backend.config import Settings, load_settings
from backend.db.session import Database
from backend.db.session import init_app as init_db
from backend.disputes.routes import blp as disputes_blp
from backend.domain.clock import Clock
from backend.evidence.routes import blp as evidence_blp
from backend.health.routes import blp as health_blp
from backend.index.routes import blp as index_blp
from backend.manifests.routes import blp as manifests_blp
from backend.notifications.admin_routes import blp as org_notifications_blp
from backend.notifications.routes import bp as notifications_bp
from backend.planning.routes import manifests_blp as planning_manifests_blp
from backend.planning.routes import stops_blp as planning_stops_blp
from backend.proofs.routes import blp as proofs_blp
from backend.reconciliation.routes import blp as reconciliation_blp
from backend.schemas import ErrorSchema
from backend.sync.routes import blp as sync_blp
from backend.tracking import page as tracking_page
from backend.tracking import routes as tracking_routes
from backend.tracking.routes import blp as tracking_blp
from backend.webhooks.routes import blp as webhooks_blp

API_PREFIX = "/api/v1"
SWAGGER_ASSETS = f"{API_PREFIX}/docs/assets/"


class DoorstepApi(Api):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema


def create_app(
    settings: Settings | None = None, database: Database | None = None, clock: Clock | None = None
) -> Flask:
    """Build the app from ``settings`` (default: the environment) on ``clock`` (default:
    the system clock)."""
    settings = settings or load_settings()
    settings.check_safe_for_production()
    app = Flask("doorstep")
    app.config.update(
        DOORSTEP=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        JSON_SORT_KEYS=False,
        API_TITLE="Doorstep API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_ASSETS,
        API_SPEC_OPTIONS={
            "info": {"description": "Last-mile delivery with provable proof of delivery."},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    logging.basicConfig(level=logging.INFO)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    app_clock.init_app(app, clock)
    init_db(app, database or Database(settings.database_url))
    http.init_app(app)

    wiring.init_app(app, settings)

    api = DoorstepApi(app)
    for blueprint in (
        index_blp,
        health_blp,
        auth_blp,
        manifests_blp,
        sync_blp,
        evidence_blp,
        proofs_blp,
        planning_stops_blp,
        planning_manifests_blp,
        reconciliation_blp,
        disputes_blp,
        webhooks_blp,
        admin_people_blp,
        admin_org_blp,
        org_notifications_blp,
        tracking_blp,
    ):
        api.register_blueprint(blueprint)
    _serve_swagger_assets(app)
    # Recipients' unsubscribe pages (/u/<token>): HTML for people, not API.
    app.register_blueprint(notifications_bp)
    console.init_app(app, settings)
    tracking_routes.init_app(app, settings)
    tracking_page.init_app(app)
    # After Api(): flask-smorest registers its own HTTPException handler, ours replaces it.
    errors.register_error_handlers(app)
    return app


def _serve_swagger_assets(app: Flask) -> None:
    # The browsable API docs load their scripts from this server, never from a CDN.
    assets = Path(str(swagger_ui_path))

    @app.get(f"{SWAGGER_ASSETS}<path:filename>")
    def swagger_asset(filename: str) -> Response:
        return send_from_directory(assets, filename, max_age=86400)
