"""Reconciliation for back office: the day's outcomes, the exception queue, decisions,
and the end-of-day summary (JSON or CSV)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.auth.guard import current_principal, require_roles
from backend.db.session import db_session
from backend.domain.clock import utc_text
from backend.domain.reconcile import Decision, ExceptionKind
from backend.domain.roles import Role
from backend.http import ApiBlueprint
from backend.reconciliation.decisions import DecisionTarget, decide, decide_many
from backend.reconciliation.progress import drivers_progress
from backend.reconciliation.promise_metrics import promise_trend, summary_with_promise, trend_csv
from backend.reconciliation.review import StopReview, decision_dict, review_day
from backend.reconciliation.schemas import (
    DayReviewSchema,
    DecisionRecordSchema,
    DecisionRecordsSchema,
    ProgressSchema,
    SummarySchema,
    TrendSchema,
)
from backend.reconciliation.summary import summary_csv
from backend.schemas import ErrorSchema

# One bulk action covers a whole day's queue for a large depot, and no more.
MAX_BULK = 5000

blp = ApiBlueprint(
    "reconciliation",
    __name__,
    url_prefix="/api/v1/reconciliation",
    description="End-of-day reconciliation and the exception queue",
)


class DayScopeSchema(Schema):
    """Which day, and optionally which depot, a back-office query is about."""

    date = fields.Date(required=True)
    depot = fields.Integer(validate=validate.Range(min=1), metadata={"description": "depot id"})


class DayQuerySchema(DayScopeSchema):
    driver = fields.String(validate=validate.Length(min=1, max=150))
    open_only = fields.Boolean(load_default=False)


class SummaryQuerySchema(DayScopeSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class TrendQuerySchema(SummaryQuerySchema):
    driver = fields.String(validate=validate.Length(min=1, max=150))


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf([d.value for d in Decision]))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class DecisionTargetSchema(Schema):
    stop_id = fields.Integer(required=True, validate=validate.Range(min=1))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in ExceptionKind]))


class BulkDecisionSchema(DecisionSchema):
    items = fields.List(
        fields.Nested(DecisionTargetSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BULK),
    )


def _review_dict(review: StopReview) -> dict[str, Any]:
    stop = review.stop
    return {
        "stop_id": stop.id,
        "order_number": stop.order_number,
        "address": stop.address,
        "driver": review.driver,
        "sequence": stop.sequence,
        "status": stop.status.value,
        "proof_meets_policy": review.proof_meets_policy,
        "exceptions": [
            {
                "kind": e.kind.value,
                "detail": e.detail,
                "state": "cleared" if e.kind.value in review.cleared else "open",
            }
            for e in review.exceptions
        ],
        "decisions": review.decisions,
    }


@blp.route("")
class Day(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(DayQuerySchema, location="query")
    @blp.response(
        200, DayReviewSchema, description="Every stop of the day with its outcome and exceptions"
    )
    def get(self, query: dict[str, Any]) -> Response:
        """The day's stops: outcome, whether the proof meets its policy, exceptions.

        ``open_only=true`` keeps only stops with an exception still open: the queue.
        """
        reviews = review_day(db_session(), query["date"], query.get("driver"), query.get("depot"))
        if query["open_only"]:
            reviews = [r for r in reviews if r.open_exceptions]
        # Encoded directly: DayReviewSchema documents the body (tests check it declares
        # every key), but dumping a depot's thousands of stops through marshmallow would
        # cost several times the JSON encoding.
        return jsonify(
            {
                "date": query["date"].isoformat(),
                "open_exceptions": sum(len(r.open_exceptions) for r in reviews),
                "stops": [_review_dict(r) for r in reviews],
            }
        )


@blp.route("/stops/<int:stop_id>/exceptions/<string:kind>")
class DecisionOnException(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(DecisionSchema)
    @blp.response(
        201, DecisionRecordSchema, description="The decision, as recorded in the audit trail"
    )
    @blp.alt_response(409, schema=ErrorSchema, description="exception_not_open")
    def post(self, body: dict[str, Any], stop_id: int, kind: str) -> tuple[dict[str, Any], int]:
        """Accept, reject (re-plans the stop for another attempt) or annotate an exception.

        Accepting or rejecting clears the exception from the queue and resolves the
        conflicts behind it; every decision is kept with who made it and the note.
        """
        row = decide(
            db_session(),
            current_principal(),
            stop_id,
            kind,
            Decision(body["decision"]),
            body["note"],
        )
        return decision_dict(row), 201


@blp.route("/decisions")
class BulkDecision(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(BulkDecisionSchema)
    @blp.response(
        201, DecisionRecordsSchema, description="The decisions, as recorded in the audit trail"
    )
    @blp.alt_response(
        409, schema=ErrorSchema, description="exception_not_open: nothing was recorded"
    )
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """One decision with one note on many exceptions at once: all or none.

        For the end of the day: reject every ``no_outcome`` to roll the stops over to
        tomorrow, or accept a batch of known exceptions with one explanation.
        """
        rows = decide_many(
            db_session(),
            current_principal(),
            [DecisionTarget(i["stop_id"], i["kind"]) for i in body["items"]],
            Decision(body["decision"]),
            body["note"],
        )
        return {"items": [decision_dict(r) for r in rows]}, 201


@blp.route("/progress")
class Progress(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(DayScopeSchema, location="query")
    @blp.response(
        200, ProgressSchema, description="Per driver: stops by status, last report, next stop"
    )
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The day's live progress per driver (what the console's Today page shows)."""
        rows = drivers_progress(db_session(), query["date"], query.get("depot"))
        return {
            "date": query["date"].isoformat(),
            "drivers": [
                {
                    "driver": row.driver,
                    "depot": row.depot,
                    "stops": row.total,
                    "done": row.done,
                    "by_status": row.counts,
                    "last_report_at": utc_text(row.last_report_at),
                    "next_stop": row.next_stop,
                }
                for row in rows
            ],
        }


@blp.route("/summary")
class Summary(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(
        200, SummarySchema, description="Per driver and for the depot (driver '*'); JSON or CSV"
    )
    # format=csv answers the same rows as text/csv.
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, query: dict[str, Any]) -> Any:
        """End-of-day summary: delivered, failed, pending, exceptions, first-attempt rate,
        on-time rate and ETA accuracy (mean absolute error at 60, 30, 10 minutes)."""
        rows = summary_with_promise(db_session(), query["date"], query.get("depot"))
        if query["format"] == "csv":
            return Response(
                summary_csv(rows),
                mimetype="text/csv",
                headers={
                    "Content-Disposition": f'attachment; filename="summary-{query["date"]}.csv"'
                },
            )
        return {"date": query["date"].isoformat(), "rows": rows}


@blp.route("/trend")
class Trend(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(TrendQuerySchema, location="query")
    @blp.response(200, TrendSchema, description="One point per day, oldest first; JSON or CSV")
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, query: dict[str, Any]) -> Any:
        """The promise kept or broken over the 30 days ending on ``date``: on-time rate,
        first-attempt success and ETA accuracy per day, for the tenant, a depot
        (``depot``) or a driver (``driver``). A day with nothing measured has nulls."""
        points = promise_trend(db_session(), query["date"], query.get("depot"), query.get("driver"))
        if query["format"] == "csv":
            return Response(
                trend_csv(points),
                mimetype="text/csv",
                headers={
                    "Content-Disposition": f'attachment; filename="trend-{query["date"]}.csv"'
                },
            )
        return {
            "date": query["date"].isoformat(),
            "depot": query.get("depot"),
            "driver": query.get("driver"),
            "points": [point.as_dict() for point in points],
        }
