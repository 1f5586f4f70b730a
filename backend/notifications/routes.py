"""``/u/<token>``: the unsubscribe link in every recipient message.

GET shows a confirmation page and changes nothing (mail scanners follow links);
POST records the opt-out. Mail clients' one-click unsubscribe (RFC 8058) POSTs
``List-Unsubscribe=One-Click`` to the same address, with no page in between. The
token alone is the authority: it is an HMAC under the server's secret key, so it can
neither be guessed nor changed to name another address.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from markupsafe import escape

from backend.config import Settings
from backend.db.session import begin_write, db_session, scope_to_tenant
from backend.notifications.service import Unsubscribe, opt_out, read_unsubscribe_token

bp = Blueprint("notifications", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 2em auto; padding: 0 1em;">
<h1>{title}</h1>
{body}
</body></html>
"""
CHANNEL_WORDS = {"email": "e-mails", "sms": "text messages"}
# The page's one style is inline; nothing else may load, run or frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def _page(title: str, body: str, status: int = 200) -> Response:
    response = Response(_PAGE.format(title=escape(title), body=body), status=status)
    response.mimetype = "text/html"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _read(token: str) -> Unsubscribe | None:
    settings: Settings = current_app.config["DOORSTEP"]
    return read_unsubscribe_token(settings.secret_key, token)


def _unknown() -> Response:
    return _page(
        "Link not recognised",
        '<p data-code="not_found">This unsubscribe link is not valid.</p>',
        404,
    )


@bp.get("/u/<token>")
def confirm(token: str) -> Response:
    target = _read(token)
    if target is None:
        return _unknown()
    what = CHANNEL_WORDS[target.channel]
    return _page(
        "Stop delivery messages?",
        f"<p>Stop sending {what} about deliveries to <strong>{escape(target.address)}</strong>?"
        "</p>"
        '<form method="post"><button type="submit" name="confirm" value="1">'
        "Unsubscribe</button></form>",
    )


@bp.post("/u/<token>")
def unsubscribe(token: str) -> Response:
    target = _read(token)
    if target is None:
        return _unknown()
    session = db_session()
    begin_write(session)
    scope_to_tenant(session, target.org_id)
    opt_out(session, target.org_id, target.channel, target.address)
    session.commit()
    what = CHANNEL_WORDS[target.channel]
    return _page(
        "Unsubscribed",
        f"<p>No more {what} about deliveries will be sent to "
        f"<strong>{escape(target.address)}</strong>.</p>",
    )
