"""Tracking tokens: the unguessable key in a recipient's link (``/t/<token>``).

A token is ``base64url(HMAC-SHA256(secret_key, "tracking:" + nonce))`` cut to 144
bits. The nonce is random and stored; the token is not, only its SHA-256. So:

- the server can write the same link again into every message for the order
  (out for delivery, arriving, delivered) without keeping the link itself;
- a copy of the database alone cannot be turned into working links;
- revoking one order's link (``revoke``) and issuing a new one changes the nonce.

Changing ``DOORSTEP_SECRET_KEY`` invalidates every link already sent; recipients
get a new one with their next message.

Unknown, expired and revoked tokens are one answer (None): the caller shows the same
404 for all three, so a link's state cannot be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import TrackingToken

# 18 bytes = 144 bits, which base64url writes as 24 characters with no padding.
TOKEN_BYTES = 18
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{24}")
# How long a link keeps working after the order's final outcome (checked by
# ``backend.tracking.view.open_link``, which knows the order's latest attempt).
LIFETIME_AFTER_OUTCOME = timedelta(days=30)


def token_for(secret_key: str, nonce: str) -> str:
    mac = hmac.new(secret_key.encode(), f"tracking:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:TOKEN_BYTES]).decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _live_row(session: Session, stop_id: int, now: datetime) -> TrackingToken | None:
    rows = session.scalars(
        select(TrackingToken)
        .where(TrackingToken.stop_id == stop_id, TrackingToken.revoked_at.is_(None))
        .order_by(TrackingToken.id.desc())
    )
    return next((row for row in rows if row.expires_at is None or row.expires_at > now), None)


def issue(session: Session, org_id: int, stop_id: int, secret_key: str, now: datetime) -> str:
    """The stop's working token, made on first use; the same one every later call.

    The caller's session must be scoped to ``org_id``; the row is flushed, not
    committed, so it lands with the caller's transaction.
    """
    row = _live_row(session, stop_id, now)
    if row is None:
        nonce = secrets.token_hex(16)
        token = token_for(secret_key, nonce)
        row = TrackingToken(
            org_id=org_id,
            stop_id=stop_id,
            nonce=nonce,
            token_hash=token_hash(token),
            created_at=now,
        )
        session.add(row)
        session.flush()
        return token
    return token_for(secret_key, row.nonce)


def resolve(session: Session, token: str, now: datetime) -> TrackingToken | None:
    """The live token row for ``token``, or None (unknown, malformed, expired, revoked).

    Works before the session knows its tenant: the caller scopes the session to the
    row's ``org_id`` afterwards.
    """
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    row = session.scalars(
        select(TrackingToken).where(TrackingToken.token_hash == token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row


def revoke(session: Session, stop_id: int, now: datetime) -> int:
    """Stop every link of the stop working; returns how many were live."""
    rows = session.scalars(
        select(TrackingToken).where(
            TrackingToken.stop_id == stop_id, TrackingToken.revoked_at.is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
    return len(rows)
