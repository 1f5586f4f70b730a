"""Tracking links never reach a log line.

A link is the recipient's only key to their page, so whoever reads a log must not
find working links in it. Request lines are written by gunicorn's access log
(``gunicorn.access``), by werkzeug's development server (``werkzeug``) and possibly by
the app's own loggers; :class:`RedactTrackingTokens` rewrites every ``/t/<token>``
and ``/api/v1/track/<token>`` path (and ``/u/<token>``, the unsubscribe link) in a
record to ``<token>`` before any handler formats it. :func:`install` puts it on those
loggers and on every root handler.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Any path segment after /t/ or /api/v1/track/ is a token (or a guess at one); after
# /u/, an unsubscribe token, which also carries the recipient's address (base64).
TOKEN_PATH = re.compile(r"(/t/|/api/v1/track/|/u/)[^/\s?#\"']+")
REDACTED = r"\1<token>"
LOGGERS = ("gunicorn.access", "gunicorn.error", "werkzeug", "backend", "doorstep")


def redact(text: str) -> str:
    return TOKEN_PATH.sub(REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTrackingTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            # In place: gunicorn passes its own dict type, which answers "-" for atoms
            # the format names but the request lacks.
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = redact(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        return True


def install() -> None:
    """Redact on the loggers that write request paths, and on every root handler
    (records of any other logger pass through those). Idempotent."""
    for name in LOGGERS:
        _add(logging.getLogger(name))
    for handler in logging.getLogger().handlers:
        _add(handler)


def _add(target: logging.Filterer) -> None:
    if not any(isinstance(f, RedactTrackingTokens) for f in target.filters):
        target.addFilter(RedactTrackingTokens())
