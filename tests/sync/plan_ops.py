"""Plan changes made behind the API's back, as the planning service makes them."""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.domain.stops import StopStatus
from backend.manifests.service import get_or_create_manifest
from backend.sync.changes import lock_plan, record_stop_change
from tests.factories import SERVICE_DATE


def cancel(session: Session, stop_id: int) -> None:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    lock_plan(session, stop.org_id)
    stop.cancelled_at = datetime.combine(SERVICE_DATE, time(17, 0), UTC)
    stop.status = StopStatus.CANCELLED
    stop.cancel_reason = "customer called"
    stop.version += 1
    stop.material_version = stop.version
    record_stop_change(session, stop)
    session.commit()


def reassign(session: Session, stop_id: int, driver_id: int) -> None:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    lock_plan(session, stop.org_id)
    previous = stop.manifest_id
    manifest = get_or_create_manifest(session, stop.org_id, driver_id, SERVICE_DATE)
    stop.manifest_id = manifest.id
    stop.sequence = 99
    stop.version += 1
    record_stop_change(session, stop, previous)
    session.commit()


def change_address(session: Session, stop_id: int, address: str) -> None:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    lock_plan(session, stop.org_id)
    stop.address = address
    stop.version += 1
    stop.material_version = stop.version
    record_stop_change(session, stop)
    session.commit()
