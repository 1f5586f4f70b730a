"""When a file verifies, the deliveries that cite it may now be complete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import DoorEventRow, EventEvidence, Stop
from backend.sync import changes
from backend.sync.derive import rederive_stop


def settle_stops_citing(session: Session, org_id: int, sha256: str) -> None:
    """Re-derive every stop with an event citing ``sha256`` (e.g. evidence_pending ->
    delivered), under the plan lock like any other status change."""
    changes.lock_plan(session, org_id)
    stop_ids = set(
        session.scalars(
            select(DoorEventRow.stop_id)
            .join(EventEvidence, EventEvidence.event_row_id == DoorEventRow.id)
            .where(EventEvidence.sha256 == sha256)
        )
    )
    now = clock.now()
    for stop in session.scalars(select(Stop).where(Stop.id.in_(stop_ids))):
        rederive_stop(session, stop, now)
