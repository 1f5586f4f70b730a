"""Adapter between the stored reports and the pure derivation rule.

``rederive_stop`` loads every report for a stop, asks ``backend.domain.outcome`` for
the status and the disagreements, and writes both back: the stop's status (publishing
the change to its driver) and one conflict row per open disagreement.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conflict, DoorEventRow, EventEvidence, EvidenceFile, Stop
from backend.domain.outcome import Derivation, PlanFacts, Report, derive_stop
from backend.sync import changes

OPEN = "open"


def _plan_facts(session: Session, stop: Stop) -> PlanFacts:
    return PlanFacts(
        cancelled=stop.cancelled_at is not None,
        current_driver_id=changes.driver_of(session, stop.manifest_id),
        material_version=stop.material_version,
    )


def _reports(session: Session, stop: Stop) -> list[Report]:
    rows = list(session.scalars(select(DoorEventRow).where(DoorEventRow.stop_id == stop.id)))
    if not rows:
        return []
    unverified = set(
        session.scalars(
            select(EventEvidence.event_row_id)
            .join(
                EvidenceFile,
                (EvidenceFile.sha256 == EventEvidence.sha256)
                & (EvidenceFile.org_id == EventEvidence.org_id),
            )
            .where(
                EventEvidence.event_row_id.in_([r.id for r in rows]),
                EvidenceFile.verified_at.is_(None),
            )
        )
    )
    return [
        Report(
            event_id=row.event_id,
            type=row.type,
            hlc=row.hlc,
            device_id=row.device_key,
            driver_id=row.driver_id,
            base_version=row.base_version,
            evidence_complete=row.id not in unverified,
            clock_skew_ms=row.clock_skew_ms,
        )
        for row in rows
    ]


def derive(session: Session, stop: Stop) -> Derivation:
    return derive_stop(_plan_facts(session, stop), _reports(session, stop))


def winning_event_id(session: Session, stop: Stop) -> str | None:
    return derive(session, stop).winning_event_id


def _event_key(event_ids: tuple[str, ...]) -> str:
    return hashlib.sha256(",".join(event_ids).encode()).hexdigest()


def rederive_stop(session: Session, stop: Stop, now: datetime) -> list[Conflict]:
    """Recompute the stop's status and conflicts; return its open conflicts.

    Caller holds the plan lock. One open conflict per (stop, kind) is kept, its
    reports updated as more arrive; a disagreement back office already resolved is
    not reopened unless a new report joins it.
    """
    derivation = derive(session, stop)
    if stop.status != derivation.status:
        stop.status = derivation.status
        changes.record_stop_change(session, stop)
    existing = list(session.scalars(select(Conflict).where(Conflict.stop_id == stop.id)))
    open_conflicts: list[Conflict] = []
    for finding in derivation.findings:
        key = _event_key(finding.event_ids)
        same = [c for c in existing if c.kind == finding.kind.value]
        if any(c.event_key == key for c in same):
            open_conflicts.extend(c for c in same if c.event_key == key and c.status == OPEN)
            continue
        current = next((c for c in same if c.status == OPEN), None)
        if current is None:
            current = Conflict(org_id=stop.org_id, stop_id=stop.id, kind=finding.kind.value)
            session.add(current)
        current.event_key = key
        current.event_ids = list(finding.event_ids)
        current.detail = finding.detail
        current.created_at = current.created_at or now
        open_conflicts.append(current)
    session.flush()
    return open_conflicts
