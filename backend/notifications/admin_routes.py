"""The admin API for recipient messages: the tenant's templates per kind, and the
outbox's counts and failures (admins only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView

from backend.auth.guard import current_principal, require_admin
from backend.db.session import db_session
from backend.domain.clock import utc_text
from backend.http import ApiBlueprint
from backend.notifications import admin_schemas as schemas
from backend.notifications import outbox_view, templates_admin
from backend.notifications.rendering import SAMPLE_CONTEXT
from backend.schemas import ErrorSchema

blp = ApiBlueprint(
    "org_notifications",
    __name__,
    url_prefix="/api/v1/org",
    description="Administration: recipient message templates and the outbox",
)

UNKNOWN_KIND = "notification_kind_unknown: no such kind of message"
INVALID = (
    "validation_error: a part does not render, names an unknown variable, leaves out "
    "{{ tracking_url }} or is too long (``errors`` names each part); nothing changed"
)


def _actor() -> dict[str, Any]:
    principal = current_principal()
    return {"actor": principal.username, "actor_user_id": principal.user_id}


def _template_body(view: templates_admin.TemplateView) -> dict[str, Any]:
    body = asdict(view)
    body["updated_at"] = utc_text(view.updated_at) if view.updated_at else None
    return body


@blp.route("/notification-templates")
class Templates(MethodView):
    @require_admin()
    @blp.response(200, schemas.TemplatesSchema, description="Every kind, in a fixed order")
    def get(self) -> dict[str, Any]:
        """Every kind's wording in force, and the shipped default beside it."""
        views = templates_admin.all_template_views(db_session(), current_principal().org_id)
        return {"items": [_template_body(v) for v in views]}


@blp.route("/notification-templates/<string:kind>")
class Template(MethodView):
    @require_admin()
    @blp.response(200, schemas.TemplateSchema)
    @blp.alt_response(404, schema=ErrorSchema, description=UNKNOWN_KIND)
    def get(self, kind: str) -> dict[str, Any]:
        """One kind's wording in force (the tenant's or the shipped) and the default."""
        return _template_body(
            templates_admin.template_view(db_session(), current_principal().org_id, kind)
        )

    @require_admin()
    @blp.arguments(schemas.TemplatePartsInSchema)
    @blp.response(200, schemas.TemplateSchema, description="The template now in force")
    @blp.alt_response(404, schema=ErrorSchema, description=UNKNOWN_KIND)
    @blp.alt_response(422, schema=ErrorSchema, description=INVALID)
    def put(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        """Replace the kind's four parts with the tenant's own (audited)."""
        view = templates_admin.save_template(
            db_session(), current_principal().org_id, kind, body, **_actor()
        )
        return _template_body(view)

    @require_admin()
    @blp.response(200, schemas.TemplateSchema, description="The shipped wording, now in force")
    @blp.alt_response(404, schema=ErrorSchema, description=UNKNOWN_KIND)
    def delete(self, kind: str) -> dict[str, Any]:
        """Back to the shipped wording (audited when there was a template to remove)."""
        view = templates_admin.reset_template(
            db_session(), current_principal().org_id, kind, **_actor()
        )
        return _template_body(view)


@blp.route("/notification-templates/<string:kind>/preview")
class TemplatePreview(MethodView):
    @require_admin()
    @blp.arguments(schemas.TemplatePartsInSchema)
    @blp.response(200, schemas.PreviewSchema, description="Rendered with the sample values")
    @blp.alt_response(404, schema=ErrorSchema, description=UNKNOWN_KIND)
    @blp.alt_response(422, schema=ErrorSchema, description=INVALID)
    def post(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        """Render a template with sample values, as the worker would; nothing is stored."""
        rendered = templates_admin.preview(kind, body)
        return {**asdict(rendered), "sample": SAMPLE_CONTEXT}


@blp.route("/notification-outbox")
class Outbox(MethodView):
    @require_admin()
    @blp.response(200, schemas.OutboxOverviewSchema)
    def get(self) -> dict[str, Any]:
        """Messages by status today (the organization's day) and over the last 7 days,
        the failed ones and those waiting to be retried, with their last error."""
        found = outbox_view.overview(db_session(), current_principal().org_id)

        def failure(item: outbox_view.Failure) -> dict[str, Any]:
            return {**asdict(item), "at": utc_text(item.at)}

        return {
            "today": found.today,
            "last_7_days": found.week,
            "failed": [failure(f) for f in found.failures],
            "retrying": [failure(f) for f in found.retrying],
        }
