"""Errors are part of the API: one shape, one place that produces it.

Every error response is JSON::

    {"status": 422, "code": "validation_error", "message": "...", "errors": {...}}

``code`` is a stable string listed in docs/api.md; ``errors`` appears only for
field-level validation problems. Nothing here leaks a traceback: an unexpected
exception is logged and answered with ``internal_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, has_request_context, jsonify, request
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from backend.domain.refusal import Refusal

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the HTTP layer answers with ``status`` and a stable ``code``: for what
    only HTTP knows (headers, body framing, sessions). Services raise ``Refusal``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}


# The HTTP status of each refusal code the services raise (backend.domain.refusal).
# This table is the one place a domain answer becomes a status; a code missing here is
# a bug that tests/api/test_errors.py catches by reading every code the tree raises.
STATUS_BY_CODE: dict[str, int] = {
    # Who is calling.
    "invalid_credentials": 401,
    "account_inactive": 401,
    "token_algorithm": 401,
    "token_audience": 401,
    "token_claims": 401,
    "token_expired": 401,
    "token_invalid": 401,
    "token_issuer": 401,
    "token_malformed": 401,
    "token_reused": 401,
    "token_revoked": 401,
    "token_signature": 401,
    "token_type": 401,
    "token_unknown_key": 401,
    "rate_limited": 429,
    "invalid_totp_code": 401,
    "totp_code_required": 401,
    "totp_enrolment_required": 403,
    # What they may see and do.
    "device_mismatch": 403,
    "wrong_password": 403,
    "not_found": 404,
    "notification_kind_unknown": 404,
    # The request as sent.
    "invalid_content_range": 400,
    "length_required": 411,
    "batch_too_large": 413,
    "validation_error": 422,
    "import_invalid": 422,
    "unsafe_webhook_url": 422,
    "weak_password": 422,
    "unknown_timezone": 422,
    # What a recipient sends from their tracking page (backend.domain.tracking).
    "text_required": 422,
    "text_too_long": 422,
    "invalid_rating": 422,
    "invalid_problem": 422,
    "reschedule_date_past": 422,
    "reschedule_too_far": 422,
    "not_a_delivery_day": 422,
    # The state the request would change.
    "version_mismatch": 412,
    "stop_already_cancelled": 409,
    "stop_already_attempted": 409,
    "stop_not_editable": 409,
    "exception_not_open": 409,
    "dispute_already_open": 409,
    "dispute_closed": 409,
    "username_taken": 409,
    "org_exists": 409,
    "last_admin": 409,
    "own_account": 409,
    "depot_name_taken": 409,
    "totp_already_enrolled": 409,
    "totp_not_pending": 409,
    "tracking_action_closed": 409,
    "request_already_open": 409,
    "already_rated": 409,
    "request_not_open": 409,
    "notification_not_resendable": 409,
    # Evidence files and their store.
    "file_not_referenced": 404,
    "file_missing": 404,
    "invalid_sha256": 404,
    "file_purged": 410,
    "file_not_uploaded": 409,
    "upload_direct_to_store": 409,
    "upload_offset_mismatch": 409,
    "upload_in_progress": 409,
    "size_mismatch": 422,
    "hash_mismatch": 422,
    "content_type_mismatch": 422,
    "image_too_large": 422,
    "not_an_image": 422,
    "store_unavailable": 503,
}


def status_of(refusal: Refusal) -> int:
    """The HTTP status that answers ``refusal`` (422 for a code this table misses)."""
    status = STATUS_BY_CODE.get(refusal.code)
    if status is None:
        log.error("refusal code %r has no HTTP status; answering 422", refusal.code)
        return 422
    return status


# Codes for errors Werkzeug raises before a view runs (routing, body size, ...).
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    503: "service_unavailable",
}


# Renders an error as an HTML page for the paths a browser reads (the console); the
# status, code and message are the same as the JSON an API client would get.
HtmlErrorPage = Callable[[int, str, str, dict[str, Any] | None], Response]
HTML_ERROR_PAGES = "doorstep.html_error_pages"


def register_html_error_page(app: Flask, path_prefix: str, page: HtmlErrorPage) -> None:
    app.extensions.setdefault(HTML_ERROR_PAGES, {})[path_prefix] = page


def _html_page_for_request() -> HtmlErrorPage | None:
    if not has_request_context():
        return None
    pages: dict[str, HtmlErrorPage] = current_app.extensions.get(HTML_ERROR_PAGES, {})
    for prefix, page in pages.items():
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return page
    return None


def error_response(
    status: int,
    code: str,
    message: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    page = _html_page_for_request()
    if page is not None:
        response = page(status, code, message, errors)
        response.status_code = status
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.errors, exc.headers)


def refusal_errors(refusal: Refusal) -> dict[str, Any] | None:
    """Per-field detail for a refusal: its ``errors``, or its one ``field``."""
    if refusal.errors is not None:
        return refusal.errors
    if refusal.field is not None:
        return {refusal.field: [refusal.message]}
    return None


def _handle_refusal(exc: Refusal) -> Response:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(status_of(exc), exc.code, exc.message, refusal_errors(exc), headers)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    # webargs puts marshmallow's per-field messages in exc.data["messages"], keyed by
    # location ("json", "query", ...).
    messages = data.get("messages")
    if status == 422 and messages:
        errors = _flatten_locations(messages)
        return error_response(
            422, "validation_error", "the request has invalid fields", errors, _headers(exc)
        )
    if status == 400 and messages:
        return error_response(400, "malformed_body", "the request body could not be parsed")
    code = HTTP_CODES.get(status, f"http_{status}")
    message = (exc.description or exc.name or "").strip() or code
    return error_response(status, code, message, headers=_headers(exc))


def _headers(exc: HTTPException) -> dict[str, str]:
    headers = {}
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    data = getattr(exc, "data", None) or {}
    headers.update(data.get("headers") or {})
    return headers


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    if len(messages) == 1:
        only = next(iter(messages.values()))
        return only if isinstance(only, dict) else {"_body": only}
    return messages


def _handle_database_error(exc: OperationalError) -> Response:
    # The database went away or timed out: nothing was committed (the request's
    # transaction rolled back), so the client can simply retry.
    log.warning("database unavailable: %s", exc.__class__.__name__)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; nothing was saved, retry shortly",
        headers={"Retry-After": "2"},
    )


def _handle_value_out_of_range(exc: DataError | OverflowError) -> Response:
    # A last resort: input checks (backend.http, the schemas) should refuse such values
    # first. A value the database cannot store (an integer or time beyond its range)
    # is the client's to fix, not a server failure; the request's transaction rolls back.
    log.warning("value out of range reached the database: %s", exc.__class__.__name__)
    return error_response(
        422, "value_out_of_range", "a value is outside the range the server can store"
    )


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle the request")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(Refusal, _handle_refusal)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(OperationalError, _handle_database_error)
    app.register_error_handler(DataError, _handle_value_out_of_range)
    app.register_error_handler(OverflowError, _handle_value_out_of_range)
    app.register_error_handler(Exception, _handle_unexpected)
