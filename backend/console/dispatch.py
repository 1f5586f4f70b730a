"""Back office pages: the day's live progress, the exception queue, decisions, the
end-of-day summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from backend.console.auth import console_path, console_view, principal_for_console
from backend.console.blueprint import bp
from backend.console.charts import promise_charts
from backend.console.days import DayScope, read_day_scope
from backend.console.forms import FormInvalid, parse_form
from backend.db.models import Stop
from backend.db.session import db_session
from backend.domain.reconcile import Decision, ExceptionKind
from backend.domain.refusal import Refusal
from backend.domain.roles import Role
from backend.errors import status_of
from backend.reconciliation.decisions import DecisionTarget, decide_many
from backend.reconciliation.progress import drivers_progress
from backend.reconciliation.promise_metrics import promise_trend, summary_with_promise, trend_csv
from backend.reconciliation.review import StopReview, review_day
from backend.reconciliation.summary import (
    UNASSIGNED,
    depot_names,
    summarise_by_depot_and_driver,
)
from backend.reconciliation.summary import (
    summary_csv as summary_csv_text,
)

# Past this many rows the queue page asks for a narrower filter instead of drawing
# a table no one can read; bulk actions still cover every match.
QUEUE_ROWS_SHOWN = 1000

EXCEPTION_LABELS = {
    ExceptionKind.NO_OUTCOME: "No outcome",
    ExceptionKind.EVIDENCE_PENDING: "Evidence pending",
    ExceptionKind.EVIDENCE_INVALID: "Evidence not an image",
    ExceptionKind.POLICY_UNMET: "Proof misses policy",
    ExceptionKind.OUTSIDE_GEOFENCE: "Outside geofence",
    ExceptionKind.GEO_UNCERTAIN: "Location uncertain",
    ExceptionKind.NO_GEO_FIX: "No location",
    ExceptionKind.OUTSIDE_TIME_WINDOW: "Outside time window",
    ExceptionKind.FAILURE_UNVERIFIED: "Failure not at address",
    ExceptionKind.OPEN_CONFLICT: "Conflicting reports",
    ExceptionKind.CLOCK_SKEW: "Device clock skew",
    ExceptionKind.BACKDATED: "Recorded time too early",
    ExceptionKind.DELIVERED_AFTER_CANCEL: "Delivered after cancel",
    ExceptionKind.REPORTED_AFTER_REPLAN: "Reported after re-plan",
}


@bp.app_template_filter("exception_label")
def exception_label(kind: str) -> str:
    try:
        return EXCEPTION_LABELS[ExceptionKind(kind)]
    except ValueError:
        return kind.replace("_", " ")


@dataclass(frozen=True)
class QueueRow:
    stop_id: int
    order_number: str
    driver: str | None
    address: str
    status: str
    kind: str
    detail: str

    @property
    def key(self) -> str:
        return f"{self.stop_id}:{self.kind}"

    @property
    def kind_label(self) -> str:
        return exception_label(self.kind)

    @property
    def status_label(self) -> str:
        return self.status.replace("_", " ")


def _scope() -> DayScope:
    return read_day_scope(db_session(), principal_for_console().org_id)


def _reviews(scope: DayScope, driver: str | None = None) -> list[StopReview]:
    return review_day(db_session(), scope.service_date, driver, scope.depot_id)


def _queue(scope: DayScope) -> tuple[list[QueueRow], Counter[str], list[str]]:
    """Open exceptions matching the scope, counts by kind (before the kind filter),
    and the drivers of the day."""
    reviews = _reviews(scope)
    drivers = sorted({r.driver for r in reviews if r.driver})
    rows = [
        QueueRow(
            r.stop.id,
            r.stop.order_number,
            r.driver,
            r.stop.address,
            r.stop.status.value,
            e.kind.value,
            e.detail,
        )
        for r in reviews
        if scope.driver is None or r.driver == scope.driver
        for e in r.open_exceptions
    ]
    counts = Counter(row.kind for row in rows)
    if scope.kind:
        rows = [row for row in rows if row.kind == scope.kind]
    return rows, counts, drivers


@bp.get("/day")
@console_view(Role.DISPATCHER)
def day() -> str:
    """Live progress per driver; the table refreshes itself every 30 s."""
    scope = _scope()
    reviews = _reviews(scope)
    session = db_session()
    summary = summarise_by_depot_and_driver(reviews, depot_names(session))
    progress = drivers_progress(session, scope.service_date, scope.depot_id)
    open_total = sum(len(r.open_exceptions) for r in reviews)
    template = "console/_progress.html" if request.args.get("fragment") else "console/day.html"
    return render_template(
        template,
        scope=scope,
        progress=progress,
        summary=summary,
        open_total=open_total,
        stops_total=len(reviews),
        unassigned=UNASSIGNED,
    )


@bp.get("/exceptions")
@console_view(Role.DISPATCHER)
def exceptions() -> Any:
    return _render_queue(_scope())


def _render_queue(
    scope: DayScope,
    errors: dict[str, list[str]] | None = None,
    form: MultiDict[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows, counts, drivers = _queue(scope)
    body = render_template(
        "console/exceptions.html",
        scope=scope,
        rows=rows[:QUEUE_ROWS_SHOWN],
        total=len(rows),
        counts=counts,
        drivers=drivers,
        kinds=list(ExceptionKind),
        errors=errors or {},
        form=form or MultiDict(),
        decisions=[d.value for d in Decision],
    )
    return Response(body, status=status, mimetype="text/html")


class DecideForm(Schema):
    decision = fields.String(required=True, validate=validate.OneOf([d.value for d in Decision]))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    items = fields.List(
        fields.String(validate=validate.Regexp(r"[0-9]{1,18}:[a-z_]{1,40}\Z")),
        load_default=list,
        validate=validate.Length(max=5000),
    )
    scope = fields.String(load_default="selected", validate=validate.OneOf(["selected", "all"]))
    expected = fields.Integer(load_default=None, validate=validate.Range(min=0))
    confirmed = fields.Boolean(load_default=False)
    back = fields.String(load_default="", validate=validate.Length(max=2000))


def _targets(
    form: dict[str, Any], scope: DayScope
) -> tuple[list[DecisionTarget], tuple[int, str] | None]:
    """The exceptions the form decides on, or the status and reason it cannot."""
    if form["scope"] == "all":
        rows, _, _ = _queue(scope)
        if form["expected"] is not None and form["expected"] != len(rows):
            return [], (
                409,
                f"The queue changed while you were looking: {len(rows)} exceptions match "
                f"now, not {form['expected']}. Check the list and apply again.",
            )
        return [DecisionTarget(r.stop_id, r.kind) for r in rows], None
    targets = []
    for item in form["items"]:
        stop_id, _, kind = item.partition(":")
        targets.append(DecisionTarget(int(stop_id), kind))
    if not targets:
        return [], (422, "Select at least one exception.")
    return targets, None


@bp.post("/exceptions/decide")
@console_view(Role.DISPATCHER)
def decide() -> Any:
    """Accept, annotate or reject (after a confirmation) one or many exceptions."""
    scope = read_day_scope(db_session(), principal_for_console().org_id, request.form)
    try:
        form = parse_form(DecideForm(), request.form, lists=("items",))
    except FormInvalid as exc:
        return _render_queue(scope, exc.errors, request.form, 422)
    targets, problem = _targets(form, scope)
    if problem is not None:
        status, reason = problem
        return _render_queue(scope, {"items": [reason]}, request.form, status)
    if form["decision"] == Decision.REJECT and not form["note"].strip():
        return _render_queue(
            scope, {"note": ["Say why: the note is required to reject."]}, request.form, 422
        )
    if form["decision"] == Decision.REJECT and not form["confirmed"]:
        return _confirm_reject(scope, form, targets)
    try:
        rows = decide_many(
            db_session(),
            principal_for_console(),
            targets,
            Decision(form["decision"]),
            form["note"],
        )
    except Refusal as exc:
        return _render_queue(scope, {"items": [exc.message]}, request.form, status_of(exc))
    replanned = len({r.replanned_stop_id for r in rows if r.replanned_stop_id})
    verb = {"accept": "Accepted", "reject": "Rejected", "annotate": "Annotated"}[form["decision"]]
    message = f"{verb} {len(rows)} exception{'s' if len(rows) != 1 else ''}."
    if replanned:
        message += f" {replanned} stop{'s' if replanned != 1 else ''} re-planned for the next day."
    flash(message, "success")
    return redirect(console_path(form["back"]) or url_for("console.exceptions", **scope.params()))


def _confirm_reject(scope: DayScope, form: dict[str, Any], targets: list[DecisionTarget]) -> str:
    # Only the order numbers are needed to list them, not another review of the day.
    ids = {t.stop_id for t in targets}
    rows = db_session().execute(select(Stop.id, Stop.order_number).where(Stop.id.in_(ids)))
    orders = {stop_id: order_number for stop_id, order_number in rows}
    listed = [(t, orders.get(t.stop_id, str(t.stop_id))) for t in targets]
    return render_template(
        "console/confirm_reject.html",
        scope=scope,
        form=form,
        back=console_path(form["back"]) or url_for("console.exceptions", **scope.params()),
        listed=listed,
        stop_count=len({t.stop_id for t in targets}),
    )


@bp.get("/summary")
@console_view(Role.DISPATCHER)
def summary() -> str:
    """The end of the day: outcomes and the promise kept or broken per driver and
    depot, and the promise's last 30 days as charts drawn on the server."""
    scope = _scope()
    session = db_session()
    rows = summary_with_promise(session, scope.service_date, scope.depot_id)
    points = promise_trend(session, scope.service_date, scope.depot_id)
    charts = [
        # charts.py escapes every piece of text it writes.
        (caption, Markup(svg))  # noqa: S704
        for caption, svg in promise_charts(
            [(p.day, p.tally) for p in points], scope.depot_name or "all depots"
        )
    ]
    return render_template(
        "console/summary.html", scope=scope, rows=rows, points=points, charts=charts
    )


@bp.get("/summary.csv")
@console_view(Role.DISPATCHER)
def summary_csv() -> Response:
    scope = _scope()
    rows = summary_with_promise(db_session(), scope.service_date, scope.depot_id)
    return Response(
        summary_csv_text(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="summary-{scope.service_date}.csv"'},
    )


@bp.get("/trend.csv")
@console_view(Role.DISPATCHER)
def trend_csv_download() -> Response:
    """The 30 days ending on the page's day, one row per day, as the charts show them."""
    scope = _scope()
    points = promise_trend(db_session(), scope.service_date, scope.depot_id)
    return Response(
        trend_csv(points),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="trend-{scope.service_date}.csv"'},
    )
