"""The audit log: every administrative action, append-only.

Each admin service calls :func:`record` in the same transaction as the change it
describes, so an action and its entry commit (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import AuditEntry

# The actor an operator's command-line action is recorded under.
OPERATOR = "operator (command line)"


def record(
    session: Session,
    org_id: int,
    actor: str,
    actor_user_id: int | None,
    action: str,
    target_type: str,
    target_id: object,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry for ``action`` on ``target_type`` ``target_id`` (not committed).

    ``before`` and ``after`` are the record's fields as a person reads them; secrets
    (password hashes, TOTP seeds) are never passed in.
    """
    entry = AuditEntry(
        org_id=org_id,
        at=clock.now(),
        actor=actor,
        actor_user_id=actor_user_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )
    session.add(entry)
    return entry


def entries(session: Session, limit: int = 500) -> list[AuditEntry]:
    """The tenant's newest entries first."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    return list(session.scalars(query))


class AuditIsAppendOnly(RuntimeError):
    """Code tried to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_rewriting_history(session: Session, _context: object, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditIsAppendOnly("audit entries are never changed or deleted")
