"""Registering webhook endpoints (admins)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.auth.guard import current_principal, require_admin
from backend.db.session import db_session
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema, ResponseSchema
from backend.webhooks import service
from backend.webhooks.service import EVENT_TYPES, endpoint_dict

blp = ApiBlueprint("webhooks", __name__, url_prefix="/api/v1/webhooks", description="Webhooks")


class EndpointSchema(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1),
    )


class WebhookEndpointSchema(ResponseSchema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(metadata={"enum": list(EVENT_TYPES)}), required=True)
    active = fields.Boolean(required=True, metadata={"description": "false once deleted"})


class WebhookEndpointsSchema(ResponseSchema):
    items = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class NewWebhookEndpointSchema(WebhookEndpointSchema):
    secret = fields.String(
        required=True, metadata={"description": "signs every delivery; shown only here"}
    )


@blp.route("")
class Endpoints(MethodView):
    @require_admin()
    @blp.response(
        200,
        WebhookEndpointsSchema,
        description="The tenant's endpoints (secrets are never shown again)",
    )
    def get(self) -> dict[str, Any]:
        """Registered webhook endpoints."""
        return {"items": [endpoint_dict(e) for e in service.endpoints(db_session())]}

    @require_admin()
    @blp.arguments(EndpointSchema)
    @blp.response(
        201,
        NewWebhookEndpointSchema,
        description="The endpoint, with its signing secret (shown once)",
    )
    @blp.alt_response(
        422,
        schema=ErrorSchema,
        description="unsafe_webhook_url: the host has a non-public address",
    )
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Register a URL for delivery events (delivered, failed, exception, dispute)."""
        endpoint = service.register_endpoint(
            db_session(),
            current_principal().org_id,
            body["url"],
            body["events"],
            allow_loopback=current_app.config["DOORSTEP"].webhook_allow_loopback,
        )
        return endpoint_dict(endpoint, with_secret=True), 201


@blp.route("/<int:endpoint_id>")
class Endpoint(MethodView):
    @require_admin()
    @blp.response(204)
    def delete(self, endpoint_id: int) -> None:
        """Stop sending to this endpoint (queued deliveries to it are dropped)."""
        service.deactivate_endpoint(db_session(), endpoint_id)
