"""How gunicorn runs Doorstep: its one command line, and workers whose own error answers
use the API's JSON error shape.

:func:`gunicorn_command` is the command line of every server here: ``doorstep serve``
(which ``make run``, ``make demo`` and ``make serve-prod`` call), the tests, the
benchmarks and the fuzz run.

gunicorn refuses some requests itself, before the app sees them: a request line over
``--limit-request-line`` (414), too many or too large headers (431), bytes that are
not HTTP (400). It answers those with an HTML page; clients of this API parse
``{"status", "code", "message"}`` (backend.errors) whatever went wrong, so these
workers send that instead.

gunicorn still decides the status and logs (error log and access log) as it always
does: its ``handle_error`` runs against a stand-in socket that keeps what it would
have sent, and only the body on the wire is ours.

Use with ``--worker-class backend.serving.JsonErrorThreadWorker`` (or
``JsonErrorSyncWorker`` for the sync worker).
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from backend.config import PROJECT_ROOT
from backend.gunicorn_worker import ThreadWorker

GUNICORN = Path(sys.executable).parent / "gunicorn"
GUNICORN_CONF = PROJECT_ROOT / "backend" / "gunicorn_conf.py"


def gunicorn_command(bind: str, workers: int, *extra: str, app: str | None = None) -> list[str]:
    """The gunicorn command line every server here runs: backend/gunicorn_conf.py's
    serving model, with the address and number of workers of this run.

    ``app`` is a gunicorn app spec (``module:callable()``); None serves the shipped
    app named in gunicorn_conf.py.
    """
    return [
        str(GUNICORN),
        "--config",
        str(GUNICORN_CONF),
        "--workers",
        str(workers),
        "--bind",
        bind,
        *extra,
        *([app] if app else []),
    ]


# Stable codes (docs/api.md) for the statuses gunicorn answers on its own.
GUNICORN_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "the request is not valid HTTP"),
    403: ("forbidden", "the request is forbidden"),
    414: ("uri_too_long", "the request line (method, path and query) is too long"),
    417: ("expectation_failed", "the Expect header asks for something the server cannot do"),
    431: ("headers_too_large", "the request has too many headers or a header is too large"),
    500: ("internal_error", "the server failed to handle the request"),
    501: ("not_implemented", "the request uses a transfer coding the server does not support"),
}
# gunicorn's reason phrase is kept on the status line; these are the fallbacks.
REASONS = {400: "Bad Request", 500: "Internal Server Error"}


class _CapturedSocket:
    """Takes the bytes gunicorn's error page would have sent, so we can replace them."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def gettimeout(self) -> float | None:
        return 0.0  # "non-blocking already": write_nonblock then just writes

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def status_line(self) -> tuple[int, str]:
        """(status, reason) from ``HTTP/1.1 414 URI Too Long``; 500 if nothing was sent."""
        first = bytes(self.sent).split(b"\r\n", 1)[0].decode("latin-1")
        parts = first.split(" ", 2)
        if len(parts) >= 2 and parts[1].isdigit():
            status = int(parts[1])
            return status, parts[2] if len(parts) == 3 else REASONS.get(status, "Error")
        return 500, REASONS[500]


def error_document(status: int, reason: str) -> bytes:
    """The whole HTTP response gunicorn sends for ``status``, in the API's error shape.

    The message is fixed per status: gunicorn's own detail can echo back the request
    (a path, a header name), which a client has no use for and logs should not copy.
    """
    code, message = GUNICORN_ERRORS.get(
        status, (f"http_{status}", reason.lower() or "the request failed")
    )
    body = json.dumps({"status": status, "code": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrors:
    """Mixin for a gunicorn worker: its own error answers are JSON (see the module doc)."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        captured = _CapturedSocket()
        # gunicorn picks the status and writes its logs; its HTML lands in `captured`.
        super().handle_error(req, captured, addr, exc)  # type: ignore[misc]
        status, reason = captured.status_line()
        try:
            util.write_nonblock(client, error_document(status, reason))
        except Exception:  # the client may be gone; gunicorn ignores this too
            self.log.debug("Failed to send error message.")  # type: ignore[attr-defined]


class JsonErrorThreadWorker(JsonErrors, ThreadWorker):
    """gunicorn's gthread worker with JSON error answers."""


class JsonErrorSyncWorker(JsonErrors, SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker with JSON error answers."""
