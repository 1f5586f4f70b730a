"""The bodies reconciliation answers with (the views build them as dicts; every key is
declared here)."""

from __future__ import annotations

from marshmallow import fields

from backend.domain.reconcile import Decision, ExceptionKind
from backend.schemas import DATE, DATE_TIME, ResponseSchema

EXCEPTION_KINDS = [kind.value for kind in ExceptionKind]


def _eta_mae(lead: int) -> dict[str, str]:
    return {
        "description": f"mean absolute error in minutes of the ETA shown {lead} minutes "
        "before the actual arrival; null: no stop measured"
    }


class StopExceptionSchema(ResponseSchema):
    kind = fields.String(required=True, metadata={"enum": EXCEPTION_KINDS})
    detail = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["open", "cleared"]})


class DecisionRecordSchema(ResponseSchema):
    """One decision as the audit trail keeps it."""

    stop_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    decision = fields.String(required=True, metadata={"enum": list([d.value for d in Decision])})
    note = fields.String(required=True)
    user_id = fields.Integer(required=True)
    replanned_stop_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "a rejection's new attempt of the stop"},
    )
    at = fields.String(required=True, metadata=DATE_TIME)


class DecisionRecordsSchema(ResponseSchema):
    items = fields.List(fields.Nested(DecisionRecordSchema), required=True)


class StopReviewSchema(ResponseSchema):
    stop_id = fields.Integer(required=True)
    order_number = fields.String(required=True)
    address = fields.String(required=True)
    driver = fields.String(required=True, allow_none=True)
    sequence = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True)
    proof_meets_policy = fields.Boolean(required=True)
    exceptions = fields.List(fields.Nested(StopExceptionSchema), required=True)
    decisions = fields.List(fields.Nested(DecisionRecordSchema), required=True)


class DayReviewSchema(ResponseSchema):
    date = fields.String(required=True, metadata=DATE)
    open_exceptions = fields.Integer(required=True)
    stops = fields.List(fields.Nested(StopReviewSchema), required=True)


class DriverProgressSchema(ResponseSchema):
    driver = fields.String(required=True)
    depot = fields.String(required=True)
    stops = fields.Integer(required=True)
    done = fields.Integer(required=True)
    by_status = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "stop count by status"},
    )
    last_report_at = fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    next_stop = fields.String(
        required=True, allow_none=True, metadata={"description": "the next pending address"}
    )


class ProgressSchema(ResponseSchema):
    date = fields.String(required=True, metadata=DATE)
    drivers = fields.List(fields.Nested(DriverProgressSchema), required=True)


class SummaryRowSchema(ResponseSchema):
    depot = fields.String(required=True, metadata={"description": '"*": every depot'})
    driver = fields.String(required=True, metadata={"description": '"*": every driver'})
    stops = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    replanned = fields.Integer(required=True)
    open_exceptions = fields.Integer(required=True)
    first_attempt_success_rate = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "orders whose first attempt was delivered over first attempts "
            "with an outcome; re-planned -R stops are later attempts, not counted; "
            "null: no first attempt reached an outcome"
        },
    )
    on_time_rate = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "deliveries inside the promised window (the working window when "
            "no promise was recorded) over deliveries with a window; null: none"
        },
    )
    eta_mae_60 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(60))
    eta_mae_30 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(30))
    eta_mae_10 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(10))


class SummarySchema(ResponseSchema):
    date = fields.String(required=True, metadata=DATE)
    rows = fields.List(fields.Nested(SummaryRowSchema), required=True)


class TrendPointSchema(ResponseSchema):
    date = fields.String(required=True, metadata=DATE)
    on_time_rate = fields.Float(required=True, allow_none=True)
    on_time_measured = fields.Integer(
        required=True, metadata={"description": "deliveries that had a window"}
    )
    first_attempt_success_rate = fields.Float(required=True, allow_none=True)
    first_attempts = fields.Integer(
        required=True, metadata={"description": "first attempts that reached an outcome"}
    )
    eta_mae_60 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(60))
    eta_mae_30 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(30))
    eta_mae_10 = fields.Float(required=True, allow_none=True, metadata=_eta_mae(10))


class TrendSchema(ResponseSchema):
    """The promise figures of each of the 30 days up to ``date``, oldest first."""

    date = fields.String(required=True, metadata=DATE)
    depot = fields.Integer(required=True, allow_none=True, metadata={"description": "depot id"})
    driver = fields.String(required=True, allow_none=True)
    points = fields.List(fields.Nested(TrendPointSchema), required=True)
