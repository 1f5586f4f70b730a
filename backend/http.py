"""HTTP concerns shared by every endpoint: content types, compression, caching headers."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser

from backend.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

JSON = "application/json"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Smaller bodies gain nothing from gzip: the header and CPU cost more than they save.
GZIP_MIN_BYTES = 1024


class StrictParser(FlaskParser):
    """webargs parser that rejects unknown query parameters as it rejects unknown fields.

    By default webargs ignores unknown query parameters; a typo such as ``?dat=`` would
    then silently fall back to a default instead of telling the caller.
    """

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """The Blueprint every API resource uses: flask-smorest with strict argument parsing."""

    ARGUMENTS_PARSER = StrictParser()


def accepts(*mimetypes: str) -> Callable[[F], F]:
    """Declare the request body types a write endpoint takes (JSON is the default)."""

    def decorate(view: F) -> F:
        view._doorstep_accepts = frozenset(mimetypes)  # type: ignore[attr-defined]
        return view

    return decorate


def _accepted_types() -> frozenset[str]:
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, request.method.lower(), view) if view_class else view
    declared: frozenset[str] | None = getattr(handler, "_doorstep_accepts", None)
    return declared or frozenset({JSON})


def _require_declared_content_type() -> None:
    if request.method not in WRITE_METHODS or request.endpoint is None:
        return
    if not request.path.startswith("/api/"):
        return
    accepted = _accepted_types()
    if request.mimetype not in accepted:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as {' or '.join(sorted(accepted))}",
        )


def gzip_body(raw: bytes) -> bytes:
    # Level 6 is zlib's default trade-off; mtime=0 keeps the bytes stable for caching.
    return gzip.compress(raw, compresslevel=6, mtime=0)


def client_accepts_gzip() -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


def _compress_response(response: Response) -> Response:
    if (
        response.direct_passthrough
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
        or not (response.mimetype or "").startswith(("application/json", "text/"))
    ):
        return response
    response.vary.add("Accept-Encoding")
    if not client_accepts_gzip():
        return response
    raw = response.get_data()
    if len(raw) < GZIP_MIN_BYTES:
        return response
    response.set_data(gzip_body(raw))
    response.headers["Content-Encoding"] = "gzip"
    return response


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_require_declared_content_type)
    app.after_request(_compress_response)
    app.after_request(_security_headers)
