"""HTTP concerns shared by every endpoint: content types, compression, caching headers."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

from flask import Flask, Response, current_app, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestTimeout
from werkzeug.routing import IntegerConverter, Map

from backend.domain import untrusted
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

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        # Query strings and form fields become integers only here, after the door check
        # (_refuse_hostile_values) has seen them as text.
        data = super().parse(*args, **kwargs)
        refuse_problems(untrusted.find_problems(_envelope(data), check_nul=False))
        return data


class Int64Converter(IntegerConverter):
    """``<int:...>`` path segments, bounded to what a BIGINT id column can hold.

    An id beyond 64 bits would otherwise reach the database and overflow there (a 500
    on both backends); out of range, the URL simply matches no route: 404.
    """

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", untrusted.INT64_MAX)
        super().__init__(map, *args, **kwargs)


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
    if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return  # no body, nothing to type
    if not request.path.startswith("/api/"):
        return
    accepted = _accepted_types()
    if request.mimetype not in accepted:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as {' or '.join(sorted(accepted))}",
        )


# Sync bodies are checked event by event (backend.domain.events), so one bad event is
# rejected on its own instead of refusing the whole batch the device keeps resending.
# Here only the envelope (everything but the items of "events") is checked.
CHECKED_PER_EVENT = {"/api/v1/sync": "events"}
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# The status for each kind of hostile value; NUL keeps the plain validation_error code.
PROBLEM_STATUS = {
    untrusted.JSON_TOO_DEEP: 400,
    untrusted.INVALID_UNICODE: 422,
    untrusted.INTEGER_OUT_OF_RANGE: 422,
    untrusted.NUL: 422,
}


def parsed_json_body() -> Any:
    """The request's JSON body (None if absent or not JSON), never a RecursionError.

    Python's parser recurses per nesting level; thousands of ``[`` would otherwise
    escape as a RecursionError, which is no ValueError and so no 400.
    """
    try:
        return request.get_json(silent=True)
    except RecursionError as exc:
        raise ApiError(
            400, untrusted.JSON_TOO_DEEP, untrusted.MESSAGES[untrusted.JSON_TOO_DEEP]
        ) from exc


def _envelope(body: Any) -> Any:
    """``body`` without the items checked one by one (see CHECKED_PER_EVENT)."""
    per_item = CHECKED_PER_EVENT.get(request.path)
    if per_item and isinstance(body, dict) and isinstance(body.get(per_item), list):
        return {key: value for key, value in body.items() if key != per_item}
    return body


def _refuse_hostile_values() -> None:
    """Refuse, at the door, values no endpoint can handle (backend.domain.untrusted).

    NUL: PostgreSQL text cannot store it, so it would fail at the INSERT as a 500,
    after part of the request's work; SQLite would store it. Lone surrogates fail at
    the INSERT on both; huge integers overflow; deep nesting breaks recursive code.
    Refusing them here makes both backends answer the same, for the API and the
    console alike, with a 4xx naming each field.
    """
    problems = [
        untrusted.Problem(name, code)
        for name, value in request.args.items(multi=True)
        if (code := untrusted.text_problem(name + value))
    ]
    if request.method in WRITE_METHODS:
        if request.mimetype in FORM_TYPES:
            problems += [
                untrusted.Problem(name, code)
                for name, value in request.form.items(multi=True)
                if (code := untrusted.text_problem(name + value))
            ]
        elif request.is_json:
            problems += untrusted.find_problems(_envelope(parsed_json_body()))
    refuse_problems(problems)


def refuse_problems(problems: list[untrusted.Problem]) -> None:
    """Answer hostile values with one 4xx naming every field; nothing if none."""
    if not problems:
        return
    worst = max(problems, key=lambda p: PROBLEM_STATUS[p.code])
    if worst.code == untrusted.NUL:
        code, message = "validation_error", "text may not contain NUL (U+0000) characters"
    else:
        code, message = worst.code, f"{worst.path} {worst.message}"
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.path, []).append(problem.message)
    raise ApiError(PROBLEM_STATUS[worst.code], code, message, errors=errors)


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


class GzipRequestMiddleware:
    """Inflate request bodies sent with ``Content-Encoding: gzip``, with a hard cap.

    Devices gzip end-of-shift sync batches (JSON compresses about tenfold). The
    inflated size is capped at the app's MAX_CONTENT_LENGTH, so a small compressed
    bomb cannot balloon into gigabytes; bad gzip is a 400, too big a 413.
    """

    def __init__(self, wsgi_app: Any, max_bytes: int) -> None:
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() != "gzip":
            return self.wsgi_app(environ, start_response)
        if _is_streamed(environ):
            # Already bounded by ChunkedBodyLimitMiddleware: read it all.
            compressed = environ["wsgi.input"].read(self.max_bytes + 1)
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > self.max_bytes:
                return _json_error(
                    environ, start_response, 413, "payload_too_large", "body too large"
                )
            compressed = environ["wsgi.input"].read(length)
        if len(compressed) > self.max_bytes:
            return _json_error(environ, start_response, 413, "payload_too_large", "body too large")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(compressed, self.max_bytes + 1)
            if len(body) > self.max_bytes or inflater.unconsumed_tail:
                return _json_error(
                    environ, start_response, 413, "payload_too_large", "inflated body too large"
                )
            if not inflater.eof:
                raise zlib.error("truncated gzip stream")
        except zlib.error:
            return _json_error(
                environ, start_response, 400, "malformed_body", "the gzip body is corrupt"
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        del environ["HTTP_CONTENT_ENCODING"]
        return self.wsgi_app(environ, start_response)


def _json_error(
    environ: dict[str, Any], start_response: Any, status: int, code: str, message: str
) -> Any:
    body = json.dumps({"status": status, "code": code, "message": message}).encode()
    response = Response(body, status=status, mimetype="application/json")
    # These answers never reach _security_headers (the app is not called).
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response(environ, start_response)


def _is_streamed(environ: dict[str, Any]) -> bool:
    """A chunked body: no Content-Length, and the server ends the stream where it ends."""
    return (
        not environ.get("CONTENT_LENGTH")
        and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        and bool(environ.get("wsgi.input_terminated"))
    )


class ChunkedBodyLimitMiddleware:
    """Hold a chunked request body to MAX_CONTENT_LENGTH: over it, 413.

    A body sent with ``Transfer-Encoding: chunked`` has no Content-Length to check up
    front. Werkzeug then reads at most MAX_CONTENT_LENGTH bytes and silently stops
    there, so an oversized JSON body became a truncated one (400 malformed_body) and
    an oversized form a partial one. Reading the body here, up to one byte past the
    limit, tells the two apart. Bodies within the limit are buffered in memory, as
    the JSON parser would hold them anyway; Content-Length stays absent, so an upload
    that needs one is still told so (411).
    """

    def __init__(self, wsgi_app: Any, max_bytes: int) -> None:
        self.wsgi_app = wsgi_app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not _is_streamed(environ):
            return self.wsgi_app(environ, start_response)
        body = _read_at_most(environ["wsgi.input"], self.max_bytes + 1)
        if len(body) > self.max_bytes:
            return _json_error(
                environ,
                start_response,
                413,
                "payload_too_large",
                f"the body is larger than {self.max_bytes} bytes",
            )
        environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream: Any, limit: int) -> bytes:
    # A server's input stream may return fewer bytes than asked before the end.
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        part = stream.read(min(remaining, 64 * 1024))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


class BodyReadTimeout(RequestTimeout):
    """The client stopped sending its request body (408)."""

    description = "the request body stopped arriving; send the request again"


class _BoundedBody:
    """``wsgi.input`` whose reads raise :class:`BodyReadTimeout` instead of an OSError.

    The server gives up on a client that sends nothing for a while
    (backend/gunicorn_conf.py): the blocked read then fails with a timeout, which
    Flask would report as a 500 and werkzeug as a disconnect.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        with _timeout_is_408():
            return self._stream.read(size)

    def readline(self, size: int = -1) -> bytes:
        with _timeout_is_408():
            return self._stream.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        with _timeout_is_408():
            return self._stream.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


@contextlib.contextmanager
def _timeout_is_408() -> Iterator[None]:
    try:
        yield
    # TimeoutError from a Python-level socket timeout; BlockingIOError (EAGAIN) from
    # the kernel's SO_RCVTIMEO, which gunicorn_conf sets.
    except (TimeoutError, BlockingIOError) as exc:
        raise BodyReadTimeout() from exc


class BodyReadTimeoutMiddleware:
    """Answer 408 ``request_timeout`` when the request body stops arriving.

    Inside Flask the error handlers render it; a read outside Flask (the gzip
    middleware) is answered here. Either way gunicorn closes the connection after the
    answer, since the body was not read to its end.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = _BoundedBody(environ["wsgi.input"])
        try:
            return self.wsgi_app(environ, start_response)
        except BodyReadTimeout as exc:
            return _json_error(
                environ, start_response, 408, "request_timeout", str(exc.description)
            )


def attachment(body: bytes, mimetype: str, filename: str) -> Response:
    """A download the browser saves as ``filename``."""
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def stream_file(
    first: bytes, rest: Iterator[bytes], mimetype: str, size: int, etag: str
) -> Response:
    """An immutable file (named by its hash), streamed as read from the store."""

    def body() -> Iterator[bytes]:
        yield first
        yield from rest

    response = Response(stream_with_context(body()), mimetype=mimetype)
    response.headers["Content-Length"] = str(size)
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    response.direct_passthrough = True
    return response


def init_app(app: Flask) -> None:
    app.wsgi_app = GzipRequestMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, app.config["MAX_CONTENT_LENGTH"]
    )
    # Around gzip: it then sees a chunked body already held to the limit.
    app.wsgi_app = ChunkedBodyLimitMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, app.config["MAX_CONTENT_LENGTH"]
    )
    # Outermost, so a body that stops arriving is a 408 wherever it is being read.
    app.wsgi_app = BodyReadTimeoutMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    # Before any blueprint adds its rules: rules bind their converters when added.
    app.url_map.converters["int"] = Int64Converter
    app.before_request(_require_declared_content_type)
    app.before_request(_refuse_hostile_values)
    app.after_request(_compress_response)
    app.after_request(_security_headers)
