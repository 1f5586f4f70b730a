"""The web console for back office and customer service: server-rendered pages under
/console, behind the same accounts and roles as the API, with nothing fetched from
outside this server."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request

from backend.config import Settings

# The page modules register their views on the blueprint when imported.
from backend.console import (  # noqa: F401
    auth,
    clock,
    deliveries,
    dispatch,
    messages,
    org_admin,
    password,
    people,
    recipients,
    support,
    two_factor,
)
from backend.console.auth import SESSION_LIFETIME
from backend.console.blueprint import bp
from backend.errors import register_html_error_page

PREFIX = "/console"

# Scripts, styles and images come from this server only; forms post back to it only;
# no page may be framed (clickjacking on a "reject" button).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def _error_page(status: int, code: str, message: str, errors: dict[str, Any] | None) -> Response:
    body = render_template(
        "console/error.html", status=status, code=code, message=message, errors=errors or {}
    )
    return Response(body, status=status, mimetype="text/html")


def _console_headers(response: Response) -> Response:
    if request.path.startswith(PREFIX):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            # Pages show customers' addresses and evidence: never kept by a shared cache.
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="doorstep_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_PATH=PREFIX,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.register_blueprint(bp)
    register_html_error_page(app, PREFIX, _error_page)
    app.after_request(_console_headers)
