"""Back office's side of an order's tracking link: show it, issue it, revoke it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import TrackingToken
from backend.db.session import begin_write
from backend.tracking import tokens


def current_token(session: Session, stop_id: int, secret_key: str, now: datetime) -> str | None:
    """The stop's working token, if one was issued and still works; never issues one."""
    for row in session.scalars(
        select(TrackingToken)
        .where(TrackingToken.stop_id == stop_id, TrackingToken.revoked_at.is_(None))
        .order_by(TrackingToken.id.desc())
    ):
        if row.expires_at is None or row.expires_at > now:
            return tokens.token_for(secret_key, row.nonce)
    return None


def issue_link(session: Session, org_id: int, stop_id: int, secret_key: str, now: datetime) -> str:
    begin_write(session)
    token = tokens.issue(session, org_id, stop_id, secret_key, now)
    session.commit()
    return token


def revoke_links(session: Session, stop_id: int, now: datetime) -> int:
    """Stop the stop's links working; nothing new is issued until someone asks."""
    begin_write(session)
    revoked = tokens.revoke(session, stop_id, now)
    session.commit()
    return revoked
