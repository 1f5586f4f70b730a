"""The tracking page's JSON (``/api/v1/track/<token>``) and the recipient's actions.

Inputs are typed loosely here (``Raw``): what a valid value is (length, a delivery
day, 1 to 5 stars) is ``backend.domain.tracking``'s rule, so the page's forms and the
API get the same answers and codes.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from backend.domain.tracking import MAX_COMMENT, MAX_INSTRUCTIONS, MAX_PROBLEM_TEXT, Problem
from backend.schemas import DATE, DATE_TIME, ResponseSchema


def _text_up_to(limit: int) -> dict[str, object]:
    return {"type": "string", "maxLength": limit, "description": f"up to {limit} characters"}


class TrackWindowSchema(ResponseSchema):
    start = fields.String(required=True, metadata=DATE_TIME)
    end = fields.String(required=True, metadata=DATE_TIME)
    text = fields.String(required=True, metadata={"description": "in the organization's zone"})


class TrackEtaSchema(ResponseSchema):
    at = fields.String(required=True, metadata=DATE_TIME)
    local = fields.String(required=True, metadata={"example": "14:35"})
    stops_before = fields.Integer(required=True)
    text = fields.String(
        required=True, metadata={"example": "about 25 minutes, 4 stops before yours"}
    )


class TrackPositionSchema(ResponseSchema):
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    recorded_at = fields.String(required=True, metadata=DATE_TIME)
    distance_m = fields.Integer(required=True, metadata={"description": "from the stop"})


class TrackDriverSchema(ResponseSchema):
    first_name = fields.String(required=True)
    position = fields.Nested(
        TrackPositionSchema,
        required=True,
        allow_none=True,
        metadata={"description": "only while this stop is next"},
    )


class TrackTimelineEntrySchema(ResponseSchema):
    at = fields.String(required=True, metadata=DATE_TIME)
    local = fields.String(required=True)
    kind = fields.String(
        required=True,
        metadata={
            "description": "planned, window_changed, out_for_delivery, arrived, delivered, "
            "failed, rescheduled, instructions, reschedule_requested, rated, "
            "dispute_opened, dispute_settled"
        },
    )
    text = fields.String(required=True)


class TrackReceiptSchema(ResponseSchema):
    alg = fields.String(required=True, metadata={"example": "Ed25519"})
    kid = fields.String(required=True)
    digest = fields.String(required=True)
    issued_at = fields.String(required=True, metadata=DATE_TIME)
    stop_id = fields.Integer(required=True)
    event_ids = fields.List(fields.String(), required=True)
    signature = fields.String(required=True, metadata={"description": "base64url Ed25519"})


class TrackProofSchema(ResponseSchema):
    digest = fields.String(required=True, metadata={"description": "SHA-256 of the sealed proof"})
    file_hashes = fields.List(fields.String(), required=True)
    receipt = fields.Nested(TrackReceiptSchema, required=True)
    public_key = fields.String(
        required=True, allow_none=True, metadata={"description": "the receipt key (base64)"}
    )
    verified = fields.Boolean(required=True)
    problems = fields.List(fields.String(), required=True)
    photos = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "photo hashes, when the organization shows photos"},
    )


class TrackDeliverySchema(ResponseSchema):
    at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    local = fields.String(required=True, allow_none=True)
    where_left = fields.String(required=True)
    where_left_text = fields.String(required=True)
    evidence_pending = fields.Boolean(required=True)
    proof = fields.Nested(TrackProofSchema, required=True, allow_none=True)


class TrackFailureSchema(ResponseSchema):
    at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    local = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    reason_text = fields.String(required=True)
    next_step = fields.String(required=True)
    next_attempt_date = fields.String(required=True, allow_none=True, metadata=DATE)


class TrackRescheduleRequestSchema(ResponseSchema):
    date = fields.String(required=True, metadata=DATE)
    text = fields.String(required=True)


class TrackRatingSchema(ResponseSchema):
    stars = fields.Integer(required=True)
    comment = fields.String(required=True)


class TrackDisputeStateSchema(ResponseSchema):
    status = fields.String(required=True)
    text = fields.String(required=True)


class TrackActionsSchema(ResponseSchema):
    instructions = fields.Boolean(required=True)
    reschedule = fields.Boolean(required=True)
    rate = fields.Boolean(required=True)
    report_problem = fields.Boolean(required=True)


class TrackProblemChoiceSchema(ResponseSchema):
    code = fields.String(required=True)
    text = fields.String(required=True)


class TrackingSchema(ResponseSchema):
    order_number = fields.String(required=True)
    company = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={
            "description": "planned, out_for_delivery, arriving, delivered, failed, "
            "rescheduled, cancelled"
        },
    )
    headline = fields.String(required=True)
    service_date = fields.String(required=True, metadata=DATE)
    timezone = fields.String(required=True)
    promised_window = fields.Nested(TrackWindowSchema, required=True, allow_none=True)
    eta = fields.Nested(TrackEtaSchema, required=True, allow_none=True)
    driver = fields.Nested(TrackDriverSchema, required=True, allow_none=True)
    timeline = fields.List(fields.Nested(TrackTimelineEntrySchema), required=True)
    delivery = fields.Nested(TrackDeliverySchema, required=True, allow_none=True)
    failure = fields.Nested(TrackFailureSchema, required=True, allow_none=True)
    instructions = fields.String(required=True, allow_none=True)
    reschedule_request = fields.Nested(TrackRescheduleRequestSchema, required=True, allow_none=True)
    rating = fields.Nested(TrackRatingSchema, required=True, allow_none=True)
    dispute = fields.Nested(TrackDisputeStateSchema, required=True, allow_none=True)
    actions = fields.Nested(TrackActionsSchema, required=True)
    problems = fields.List(fields.Nested(TrackProblemChoiceSchema), required=True)


# The documented types (``metadata``) tell integrators and ``make fuzz`` what a valid
# request looks like; the fields load anything, so a wrong type still gets the domain
# rule's code.
class InstructionsInSchema(Schema):
    text = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_INSTRUCTIONS,
            "description": f"1 to {MAX_INSTRUCTIONS} characters",
        },
    )


class RescheduleInSchema(Schema):
    date = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "date", "description": "YYYY-MM-DD, a delivery day"},
    )
    note = fields.Raw(metadata=_text_up_to(MAX_COMMENT))


class RatingInSchema(Schema):
    stars = fields.Raw(
        required=True,
        metadata={"type": "integer", "minimum": 1, "maximum": 5, "description": "1 to 5"},
    )
    comment = fields.Raw(metadata=_text_up_to(MAX_COMMENT))


class ProblemInSchema(Schema):
    problem = fields.Raw(
        required=True,
        metadata={"type": "string", "enum": [problem.value for problem in Problem]},
    )
    text = fields.Raw(metadata=_text_up_to(MAX_PROBLEM_TEXT))


class ActionResultSchema(ResponseSchema):
    request_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open or handled"})
    message = fields.String(required=True, metadata={"description": "what happens next"})
    dispute_id = fields.Integer(allow_none=True)
