"""The tracking page's JSON for integrators and the page's own script:
``GET /api/v1/track/<token>`` and the recipient's actions, no login (the link is the
key). Also what the HTML page (``backend.tracking.page``) shares with it: the rate
limit, the view, and its validator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, jsonify, request
from flask.views import MethodView
from werkzeug.wrappers import Response as BaseResponse

from backend import clock
from backend.config import Settings
from backend.db.session import db_session
from backend.http import ApiBlueprint
from backend.schemas import ErrorSchema
from backend.tracking import logs
from backend.tracking import requests as actions
from backend.tracking.limits import TrackingLimiter
from backend.tracking.schemas import (
    ActionResultSchema,
    InstructionsInSchema,
    ProblemInSchema,
    RatingInSchema,
    RescheduleInSchema,
    TrackingSchema,
)
from backend.tracking.view import Link, open_link, recipient_view, view_etag
from backend.wiring import proof_sealer

LIMITER = "doorstep.tracking_limiter"
AnyResponse = TypeVar("AnyResponse", bound=BaseResponse)
# Revalidated on every poll (ETag), never stored by a shared cache: it is one person's.
CACHE_CONTROL = "private, no-cache"

blp = ApiBlueprint(
    "tracking",
    __name__,
    url_prefix="/api/v1/track",
    description="The recipient's tracking page as JSON (no login: the link is the key)",
)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[LIMITER] = TrackingLimiter(
        settings.tracking_per_ip_per_minute, settings.tracking_per_link_per_minute
    )
    logs.install()


def count_request(token: str) -> None:
    """Hold the client and the link to their limits (429 ``rate_limited``)."""
    limiter: TrackingLimiter = current_app.extensions[LIMITER]
    limiter.check(request.remote_addr or "unknown", token, clock.now())


def current_view(token: str) -> dict[str, Any]:
    count_request(token)
    session = db_session()
    now = clock.now()
    return recipient_view(
        session, open_link(session, token, now), now, proof_sealer().public_keys_b64()
    )


@dataclass(frozen=True)
class Opened:
    """A tracking link opened for a GET: its view is built only when it is needed."""

    link: Link
    etag: str

    def view(self) -> dict[str, Any]:
        now = clock.now()
        return recipient_view(db_session(), self.link, now, proof_sealer().public_keys_b64())


def open_for_get(token: str) -> Opened:
    """Count the request, open the link, and tag what its page would show now."""
    count_request(token)
    session = db_session()
    now = clock.now()
    link = open_link(session, token, now)
    return Opened(link, view_etag(session, link, now))


def not_modified(etag: str) -> Response | None:
    if request.if_none_match.contains(etag):
        response = Response(status=304)
        response.set_etag(etag)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
    return None


def tracking_headers(response: AnyResponse) -> AnyResponse:
    # The link must not travel on in a Referer, nor be indexed by a search engine.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


ERRORS = (
    (404, "not_found: no tracking page at this address (unknown, expired or revoked)"),
    (429, "rate_limited: too many requests for this page or from this address; see Retry-After"),
)


def _document_errors(view: Any) -> Any:
    for status, description in ERRORS:
        view = blp.alt_response(status, schema=ErrorSchema, description=description)(view)
    return view


@blp.route("/<string:token>")
class Tracking(MethodView):
    @blp.response(200, TrackingSchema, description="What the recipient's page shows")
    @blp.alt_response(304, description="Not modified (If-None-Match matched the ETag)")
    @_document_errors
    def get(self, token: str) -> Response:
        """The tracking page's data: promised window, live ETA, timeline, delivery and
        its proof, failure and what happens next. Answers ``ETag``; send it back in
        ``If-None-Match`` to get 304 while nothing changed."""
        opened = open_for_get(token)
        etag = opened.etag
        response = not_modified(etag) or jsonify(TrackingSchema().dump(opened.view()))
        response.set_etag(etag)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return tracking_headers(response)


def _result(request_row: Any, message: str, status: int = 201) -> tuple[dict[str, Any], int]:
    return (
        {
            "request_id": request_row.id,
            "kind": request_row.kind,
            "status": request_row.status,
            "message": message,
            "dispute_id": request_row.dispute_id,
        },
        status,
    )


INSTRUCTIONS_DONE = "Thank you: your driver will see your instructions."
RESCHEDULE_DONE = "Your request is with our team; we will confirm the new day."
RATING_DONE = "Thank you for rating your delivery."
PROBLEM_DONE = (
    "Customer service has your report, with the proof of delivery attached, and will contact you."
)


def _refusals(view: Any) -> Any:
    view = blp.alt_response(409, schema=ErrorSchema, description="the action is closed now")(view)
    view = blp.alt_response(422, schema=ErrorSchema, description="invalid input")(view)
    return _document_errors(view)


@blp.route("/<string:token>/instructions")
class Instructions(MethodView):
    @blp.arguments(InstructionsInSchema)
    @blp.response(201, ActionResultSchema)
    @_refusals
    def post(self, body: dict[str, Any], token: str) -> tuple[dict[str, Any], int]:
        """Add delivery instructions (safe place, gate code): the driver's app gets
        them at its next sync."""
        count_request(token)
        row = actions.add_instructions(db_session(), token, clock.now(), body.get("text"))
        return _result(row, INSTRUCTIONS_DONE)


@blp.route("/<string:token>/reschedule")
class Reschedule(MethodView):
    @blp.arguments(RescheduleInSchema)
    @blp.response(201, ActionResultSchema)
    @_refusals
    def post(self, body: dict[str, Any], token: str) -> tuple[dict[str, Any], int]:
        """Ask for another day: a request for back office, not a change by itself."""
        count_request(token)
        row = actions.request_reschedule(
            db_session(), token, clock.now(), body.get("date"), body.get("note")
        )
        return _result(row, RESCHEDULE_DONE)


@blp.route("/<string:token>/rating")
class Rating(MethodView):
    @blp.arguments(RatingInSchema)
    @blp.response(201, ActionResultSchema)
    @_refusals
    def post(self, body: dict[str, Any], token: str) -> tuple[dict[str, Any], int]:
        """Rate the delivery, 1 to 5 stars, once, after it was delivered."""
        count_request(token)
        row = actions.rate_delivery(
            db_session(), token, clock.now(), body.get("stars"), body.get("comment")
        )
        return _result(row, RATING_DONE)


@blp.route("/<string:token>/problem")
class ReportProblem(MethodView):
    @blp.arguments(ProblemInSchema)
    @blp.response(201, ActionResultSchema)
    @_refusals
    def post(self, body: dict[str, Any], token: str) -> tuple[dict[str, Any], int]:
        """Report a problem with a delivered parcel: opens a dispute for customer
        service with the proof's files cited."""
        count_request(token)
        report = actions.report_problem(
            db_session(), token, clock.now(), body.get("problem"), body.get("text")
        )
        return _result(report.request, PROBLEM_DONE)
