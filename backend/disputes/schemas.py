"""What customer service sends: searches, disputes, notes and resolutions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.disputes import service


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
