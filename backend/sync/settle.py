"""When a file verifies, the deliveries that cite it may now be complete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import DoorEventRow, EventEvidence, Stop
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
    stops = list(
        session.scalars(
            select(Stop)
            .where(Stop.id.in_(stop_ids))
            .order_by(Stop.id)
            .with_for_update(of=Stop, key_share=True)
            .execution_options(populate_existing=True)
        )
    )
    rederive_stops(session, stops, clock.now())
