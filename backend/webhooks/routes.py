"""Registering webhook endpoints (admins)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from backend.auth.guard import current_principal, require_admin
from backend.db.models import WebhookEndpoint
from backend.db.session import begin_write, db_session
from backend.errors import ApiError, not_found
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema, ResponseSchema
from backend.webhooks.safety import UnsafeWebhookUrl, check_webhook_url
from backend.webhooks.service import EVENT_TYPES, new_secret

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


def _endpoint_dict(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


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
        rows = db_session().scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        return {"items": [_endpoint_dict(e) for e in rows]}

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
        settings = current_app.config["DOORSTEP"]
        try:
            check_webhook_url(body["url"], settings.webhook_allow_loopback)
        except UnsafeWebhookUrl as exc:
            raise ApiError(422, "unsafe_webhook_url", str(exc), errors={"url": [str(exc)]}) from exc
        session = db_session()
        begin_write(session)
        endpoint = WebhookEndpoint(
            org_id=current_principal().org_id,
            url=body["url"],
            secret=new_secret(),
            events=sorted(set(body["events"])),
        )
        session.add(endpoint)
        session.commit()
        return _endpoint_dict(endpoint, with_secret=True), 201


@blp.route("/<int:endpoint_id>")
class Endpoint(MethodView):
    @require_admin()
    @blp.response(204)
    def delete(self, endpoint_id: int) -> None:
        """Stop sending to this endpoint (queued deliveries to it are dropped)."""
        session = db_session()
        begin_write(session)
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise not_found("webhook endpoint")
        endpoint.active = False
        session.commit()
