"""The recipient's tracking page, ``/t/<token>``: server-rendered, readable without
JavaScript, refreshed by a small same-origin script that polls the JSON (ETag).

The forms post back to the page's own address: the token in the path is the
capability (no cookie, so no session to ride), and a post whose browser says it
came from another site (``Sec-Fetch-Site``, or an ``Origin`` of another host) is
refused, so a page elsewhere cannot make a recipient's browser act for them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from backend import clock
from backend.db.session import db_session
from backend.domain.refusal import Refusal
from backend.domain.tracking import MAX_COMMENT, MAX_INSTRUCTIONS, MAX_PROBLEM_TEXT, etag_of
from backend.errors import ApiError, register_html_error_page, status_of
from backend.evidence import service as evidence
from backend.http import stream_file
from backend.tracking import requests as actions
from backend.tracking.routes import (
    CACHE_CONTROL,
    INSTRUCTIONS_DONE,
    PROBLEM_DONE,
    RATING_DONE,
    RESCHEDULE_DONE,
    count_request,
    current_view,
    not_modified,
    open_for_get,
    tracking_headers,
)
from backend.tracking.view import link_not_found
from backend.wiring import evidence_store

PREFIX = "/t"
bp = Blueprint(
    "tracking_page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/tracking-static",
)

# Nothing from another origin: no outside script, font or image, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "img-src 'self'",
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DONE = {
    "instructions": INSTRUCTIONS_DONE,
    "reschedule": RESCHEDULE_DONE,
    "rating": RATING_DONE,
    "problem": PROBLEM_DONE,
}
LIMITS = {"instructions": MAX_INSTRUCTIONS, "comment": MAX_COMMENT, "text": MAX_PROBLEM_TEXT}
# Which of the view's actions shows each form.
ACTION_OF_FORM = {
    "instructions": "instructions",
    "reschedule": "reschedule",
    "rating": "rate",
    "problem": "report_problem",
}


def _page(token: str, view: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    body = render_template("tracking/page.html", token=token, view=view, limits=LIMITS, **extra)
    response = Response(body, status=status, mimetype="text/html")
    return _headers(response)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = CACHE_CONTROL
    return tracking_headers(response)


@bp.get(f"{PREFIX}/<string:token>")
def tracking_page(token: str) -> Response:
    opened = open_for_get(token)
    done = request.args.get("done", "")
    # The page's tag covers the confirmation it shows, so it revalidates per message.
    etag = etag_of({"facts": opened.etag, "done": done})
    cached = not_modified(etag)
    if cached is not None:
        return _headers(cached)
    response = _page(token, opened.view(), done=DONE.get(done), form={}, errors={})
    response.set_etag(etag)
    return response


# What a browser says of a form sent from the page itself ("none": the person did it
# directly, with no page in between). "same-site" is refused too: a sibling host under
# the same domain (user content, a forgotten subdomain) is not this page.
FROM_THIS_PAGE = frozenset({"same-origin", "none"})


def _refuse_cross_site() -> None:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in FROM_THIS_PAGE:
        raise ApiError(403, "cross_origin", "the form was sent from another site")
    origin = request.headers.get("Origin")
    # "null" is what the page's own no-referrer policy makes a browser send with a
    # same-origin form; Sec-Fetch-Site above tells such a post from a foreign one.
    if origin and origin != "null":
        sent, here = urlsplit(origin), urlsplit(request.host_url)
        if (sent.scheme, sent.netloc) != (here.scheme, here.netloc):
            raise ApiError(403, "cross_origin", "the form was sent from another site")


def _act(token: str, which: str, action: Any) -> BaseResponse:
    _refuse_cross_site()
    try:
        # Counted like any request to the page; the action opens the link itself,
        # in its own write transaction.
        count_request(token)
        action()
    except Refusal as exc:
        if exc.code in ("not_found", "rate_limited"):
            raise
        db_session().rollback()
        view = current_view(token)
        # A replay, or a post to a form the page no longer shows (rated already, the
        # delivery is over), still needs its refusal in sight: at the top, then.
        shown = bool(view["actions"].get(ACTION_OF_FORM[which]))
        error = {"code": exc.code, "message": exc.message, "form": which, "shown": shown}
        return _page(token, view, status_of(exc), done=None, form=request.form, errors=error)
    return redirect(
        url_for("tracking_page.tracking_page", token=token, done=which, _anchor=which), 303
    )


@bp.post(f"{PREFIX}/<string:token>/instructions")
def post_instructions(token: str) -> BaseResponse:
    return _act(
        token,
        "instructions",
        lambda: actions.add_instructions(
            db_session(), token, clock.now(), request.form.get("instructions")
        ),
    )


@bp.post(f"{PREFIX}/<string:token>/reschedule")
def post_reschedule(token: str) -> BaseResponse:
    return _act(
        token,
        "reschedule",
        lambda: actions.request_reschedule(
            db_session(), token, clock.now(), request.form.get("date"), request.form.get("note")
        ),
    )


@bp.post(f"{PREFIX}/<string:token>/rating")
def post_rating(token: str) -> BaseResponse:
    return _act(
        token,
        "rating",
        lambda: actions.rate_delivery(
            db_session(), token, clock.now(), request.form.get("stars"), request.form.get("comment")
        ),
    )


@bp.post(f"{PREFIX}/<string:token>/problem")
def post_problem(token: str) -> BaseResponse:
    return _act(
        token,
        "problem",
        lambda: actions.report_problem(
            db_session(), token, clock.now(), request.form.get("problem"), request.form.get("text")
        ),
    )


@bp.get(f"{PREFIX}/<string:token>/photos/<string:sha256>")
def photo(token: str, sha256: str) -> Response:
    """A delivery photo, only when the organization shows photos and only one of this
    delivery's proof."""
    view = current_view(token)
    proof = (view.get("delivery") or {}).get("proof") or {}
    if sha256 not in proof.get("photos", []):
        raise link_not_found()
    # The session is the link's tenant's since current_view opened the link.
    opened = evidence.open_file(db_session(), evidence_store(), sha256)
    response = stream_file(opened.first, opened.rest, opened.mimetype, opened.file.size, sha256)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return tracking_headers(response)


def _error_page(status: int, code: str, message: str, errors: dict[str, Any] | None) -> Response:
    body = render_template("tracking/error.html", status=status, code=code, message=message)
    return _headers(Response(body, status=status, mimetype="text/html"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_html_error_page(app, PREFIX, _error_page)
