"""The admin API's bodies for message templates and the outbox overview.

Types only: whether a template renders, names known variables and keeps its link is
``backend.notifications.rendering.check_template``'s rule, answered per part.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from backend.notifications.rendering import LIMITS
from backend.schemas import DATE_TIME, ResponseSchema


def _part(name: str, what: str) -> fields.Raw:
    return fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "description": f"{what}; Jinja, at most {LIMITS[name]} characters",
        },
    )


class TemplatePartsInSchema(Schema):
    """All four parts: a tenant's template replaces the shipped one whole."""

    subject = _part("subject", "the e-mail's subject (one line)")
    text = _part("text", "the e-mail's plain-text part; must include {{ tracking_url }}")
    html = _part("html", "the e-mail's HTML part (values escaped); must include {{ tracking_url }}")
    sms = _part("sms", "the SMS; must include {{ tracking_url }}")


class TemplatePartsSchema(ResponseSchema):
    subject = fields.String(required=True)
    text = fields.String(required=True)
    html = fields.String(required=True)
    sms = fields.String(required=True)


class TemplateSchema(ResponseSchema):
    kind = fields.String(required=True, metadata={"example": "delivered"})
    customized = fields.Boolean(
        required=True, metadata={"description": "false: the shipped wording is in force"}
    )
    parts = fields.Nested(TemplatePartsSchema, required=True, metadata={"description": "in force"})
    defaults = fields.Nested(
        TemplatePartsSchema, required=True, metadata={"description": "the shipped wording"}
    )
    updated_at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)


class TemplatesSchema(ResponseSchema):
    items = fields.List(fields.Nested(TemplateSchema), required=True)


class PreviewSchema(ResponseSchema):
    subject = fields.String(required=True)
    text = fields.String(required=True)
    html = fields.String(required=True)
    sms = fields.String(required=True)
    sample = fields.Dict(required=True, metadata={"description": "the values rendered with"})


class OutboxCountsSchema(ResponseSchema):
    pending = fields.Integer(required=True)
    sending = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    suppressed = fields.Integer(required=True)


class OutboxFailureSchema(ResponseSchema):
    id = fields.Integer(required=True)
    stop_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    channel = fields.String(required=True)
    address = fields.String(required=True, metadata={"description": "partly masked"})
    status = fields.String(required=True, metadata={"description": "failed, or pending (retry)"})
    attempts = fields.Integer(required=True)
    last_error = fields.String(required=True)
    at = fields.String(required=True, metadata=DATE_TIME)


class OutboxOverviewSchema(ResponseSchema):
    today = fields.Nested(OutboxCountsSchema, required=True)
    last_7_days = fields.Nested(OutboxCountsSchema, required=True)
    failed = fields.List(fields.Nested(OutboxFailureSchema), required=True)
    retrying = fields.List(fields.Nested(OutboxFailureSchema), required=True)
