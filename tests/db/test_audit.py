"""The audit log only grows: an entry is never changed or deleted through the ORM."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin.audit import OPERATOR, AuditIsAppendOnly, entries, record
from backend.db.models import AuditEntry
from backend.db.session import scope_to_tenant
from tests.factories import make_org


def test_an_entry_records_who_did_what_before_and_after(session: Session) -> None:
    org = make_org(session, "acme")
    record(session, org.id, OPERATOR, None, "user.create", "user", 7, None, {"username": "ana"})
    session.commit()
    scope_to_tenant(session, org.id)
    [entry] = entries(session)
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        OPERATOR,
        "user.create",
        "user",
        "7",
    )
    assert entry.before is None
    assert entry.after == {"username": "ana"}


def test_an_entry_cannot_be_changed_or_deleted(session: Session) -> None:
    org = make_org(session, "acme")
    entry = record(session, org.id, OPERATOR, None, "depot.create", "depot", 1)
    session.commit()
    entry.action = "depot.retire"
    with pytest.raises(AuditIsAppendOnly):
        session.flush()
    session.rollback()
    session.delete(session.get(AuditEntry, entry.id))
    with pytest.raises(AuditIsAppendOnly):
        session.flush()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert session.get(AuditEntry, entry.id).action == "depot.create"  # type: ignore[union-attr]


def test_other_tables_flush_as_usual(session: Session) -> None:
    org = make_org(session, "acme")
    org.name = "Acme Deliveries"
    record(session, org.id, OPERATOR, None, "org.rename", "organization", org.id)
    session.commit()
    assert session.get(type(org), org.id).name == "Acme Deliveries"  # type: ignore[union-attr]
