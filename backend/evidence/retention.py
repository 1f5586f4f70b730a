"""The retention job: delete old evidence bytes, never under legal hold.

A file is purged when every stop citing it is older than the cut-off and none of
those stops has an open dispute (legal hold). The row stays, marked ``purged_at``:
the file's hash is still in the proof, so the digest and the receipt still verify;
only the bytes are gone. Run with ``doorstep retention`` (each organization's cut-off is
its today less its ``evidence_retention_days`` setting) or ``--before YYYY-MM-DD`` (one
cut-off for every organization).

The same job removes uploads a device broke off and never resumed
(:func:`remove_abandoned_uploads`): those bytes were never evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin.settings import org_settings
from backend.db.models import DoorEventRow, EventEvidence, EvidenceFile, Organization, Stop
from backend.db.session import begin_write
from backend.disputes.service import on_legal_hold
from backend.domain.clock import local_date
from backend.evidence.storage import EvidenceStore, LocalStore

# A device resumes a broken upload at its next sync, minutes or hours later; bytes
# nobody added to for a day are from a device that will start over, if ever.
ABANDONED_UPLOAD_AFTER = timedelta(hours=24)


@dataclass
class RetentionReport:
    purged: list[str] = field(default_factory=list)
    kept_on_legal_hold: list[str] = field(default_factory=list)
    kept_recent: list[str] = field(default_factory=list)


def retention_cutoffs(session: Session, now: datetime) -> dict[int, date]:
    """Each organization's cut-off from its settings: evidence of stops planned before
    it may go (its local today less its retention days)."""
    cutoffs = {}
    for org_id in session.scalars(select(Organization.id)):
        settings = org_settings(session, org_id)
        today = local_date(now, settings.timezone)
        cutoffs[org_id] = today - timedelta(days=settings.evidence_retention_days)
    return cutoffs


def purge_before(
    session: Session, store: EvidenceStore, before: date | None, dry_run: bool = False
) -> RetentionReport:
    """Purge evidence of stops before ``before``, or, when None, before each
    organization's own cut-off (:func:`retention_cutoffs`)."""
    begin_write(session)
    cutoffs = retention_cutoffs(session, clock.now()) if before is None else {}
    citing: dict[str, set[int]] = {}
    for sha, stop_id in session.execute(
        select(EventEvidence.sha256, DoorEventRow.stop_id)
        .join(DoorEventRow, DoorEventRow.id == EventEvidence.event_row_id)
        .join(
            EvidenceFile,
            (EvidenceFile.sha256 == EventEvidence.sha256)
            & (EvidenceFile.org_id == EventEvidence.org_id),
        )
        .where(EvidenceFile.verified_at.is_not(None), EvidenceFile.purged_at.is_(None))
    ):
        citing.setdefault(sha, set()).add(stop_id)
    stop_ids = {s for ids in citing.values() for s in ids}
    dates = {
        stop_id: (service_date, before or cutoffs[org_id])
        for stop_id, service_date, org_id in session.execute(
            select(Stop.id, Stop.service_date, Stop.org_id).where(Stop.id.in_(stop_ids))
        )
    }
    held = on_legal_hold(session, list(stop_ids))
    report = RetentionReport()
    for sha, stops in sorted(citing.items()):
        if stops & held:
            report.kept_on_legal_hold.append(sha)
        elif any(dates[s][0] >= dates[s][1] for s in stops):
            report.kept_recent.append(sha)
        else:
            report.purged.append(sha)
    if dry_run:
        session.rollback()
        return report
    now = clock.now()
    for file in session.scalars(select(EvidenceFile).where(EvidenceFile.sha256.in_(report.purged))):
        store.delete(file.org_id, file.sha256)
        file.purged_at = now
    session.commit()
    return report


def remove_abandoned_uploads(store: EvidenceStore, now: datetime) -> list[Path]:
    """Delete partial uploads (local store) nothing was added to for a day before
    ``now``; S3 keeps no partial uploads (a presigned POST is all or nothing)."""
    if not isinstance(store, LocalStore):
        return []
    return store.remove_stale_partials(untouched_since=now - ABANDONED_UPLOAD_AFTER)
