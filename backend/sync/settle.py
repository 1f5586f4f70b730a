"""When a file verifies, the deliveries that cite it may now be complete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import DoorEventRow, EventEvidence
from backend.sync.changes import lock_stops
from backend.sync.derive import rederive_stops


def settle_stops_citing(session: Session, org_id: int, sha256: str) -> None:
    """Re-derive every stop with an event citing ``sha256`` (e.g. evidence_pending ->
    delivered).

    Locks those stops (ascending, as a sync does) and, through the derivation, the
    feeds of their drivers: never the tenant, so uploads do not queue behind syncs.
    """
    stop_ids = set(
        session.scalars(
            select(DoorEventRow.stop_id)
            .join(EventEvidence, EventEvidence.event_row_id == DoorEventRow.id)
            .where(EventEvidence.org_id == org_id, EventEvidence.sha256 == sha256)
        )
    )
    if not stop_ids:
        return
    stops = lock_stops(session, stop_ids)
    rederive_stops(session, stops, clock.now())
