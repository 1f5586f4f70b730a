"""What customer service sends: searches, disputes, notes and resolutions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.disputes import service
from backend.schemas import DATE, DATE_TIME, ResponseSchema


class SearchQuerySchema(Schema):
    q = fields.String(required=True, validate=validate.Length(min=2, max=200))


class DisputeDetailsSchema(Schema):
    """What opening a dispute says about it (the console takes the stop from the URL)."""

    reason = fields.String(
        required=True, validate=validate.OneOf([r.value for r in service.DisputeReason])
    )
    note = fields.String(load_default="", validate=validate.Length(max=4000))
    customer_reference = fields.String(load_default="", validate=validate.Length(max=120))


class OpenDisputeSchema(DisputeDetailsSchema):
    stop_id = fields.Integer(required=True, validate=validate.Range(min=1))


class NoteSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ResolveSchema(Schema):
    outcome = fields.String(
        required=True, validate=validate.OneOf([o.value for o in service.Outcome])
    )
    remedy = fields.String(
        load_default=None, validate=validate.OneOf([r.value for r in service.Remedy])
    )
    refund_amount = fields.Decimal(
        places=2,
        load_default=None,
        metadata={"description": "a refund's amount, 0.01 to 1,000,000, e.g. 24.90"},
    )
    refund_currency = fields.String(
        load_default="",
        # The length check also refuses "USD\n", which "$" alone would let through.
        validate=validate.And(
            validate.Length(equal=3, error="an ISO 4217 code such as USD"),
            validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code such as USD"),
        ),
        metadata={"description": "a refund's currency (ISO 4217)"},
    )
    redeliver_on = fields.Date(
        load_default=None,
        metadata={"description": "a redelivery's service date; default: tomorrow"},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    evidence_cited = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        load_default=list,
        metadata={"description": 'e.g. "photo:<sha256>", "signature:<sha256>", "geo", "receipt"'},
    )


class DisputeListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(["open", "upheld", "rejected"]))


# What customer service gets back. The views build these bodies as dicts
# (service.search, service.dispute_dicts); these schemas declare every key.


class DeliveryMatchSchema(ResponseSchema):
    stop_id = fields.Integer(required=True)
    order_number = fields.String(required=True)
    service_date = fields.String(required=True, metadata=DATE)
    address = fields.String(required=True)
    recipient = fields.String(required=True)
    status = fields.String(required=True)
    driver = fields.String(
        required=True, allow_none=True, metadata={"description": "null: on no manifest"}
    )
    legal_hold = fields.Boolean(required=True, metadata={"description": "an open dispute"})


class DeliveryMatchesSchema(ResponseSchema):
    items = fields.List(fields.Nested(DeliveryMatchSchema), required=True)


class RefundSchema(ResponseSchema):
    amount = fields.String(required=True, metadata={"example": "24.90"})
    currency = fields.String(required=True, metadata={"example": "USD"})


class RedeliverySchema(ResponseSchema):
    """The new attempt an upheld dispute planned for dispatch."""

    stop_id = fields.Integer(required=True)
    order_number = fields.String(required=True)
    service_date = fields.String(required=True, metadata=DATE)
    status = fields.String(required=True)


class DisputeNoteEntrySchema(ResponseSchema):
    user_id = fields.Integer(required=True)
    text = fields.String(required=True)
    at = fields.String(required=True, metadata=DATE_TIME)


class DisputeSchema(ResponseSchema):
    id = fields.Integer(required=True)
    stop_id = fields.Integer(required=True)
    reason = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["open", "upheld", "rejected"]})
    remedy = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "an upheld dispute's: " + ", ".join(r.value for r in service.Remedy)
        },
    )
    refund = fields.Nested(RefundSchema, required=True, allow_none=True)
    redelivery = fields.Nested(RedeliverySchema, required=True, allow_none=True)
    resolution = fields.String(required=True)
    evidence_cited = fields.List(fields.String(), required=True)
    customer_reference = fields.String(required=True)
    opened_by = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "user id; null when the recipient opened it"},
    )
    opened_via = fields.String(
        required=True, metadata={"description": "staff, or recipient (the tracking page)"}
    )
    opened_at = fields.String(required=True, metadata=DATE_TIME)
    resolved_by = fields.Integer(required=True, allow_none=True)
    resolved_at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    legal_hold = fields.Boolean(required=True)
    notes = fields.List(fields.Nested(DisputeNoteEntrySchema), required=True)


class DisputeListSchema(ResponseSchema):
    items = fields.List(fields.Nested(DisputeSchema), required=True)
