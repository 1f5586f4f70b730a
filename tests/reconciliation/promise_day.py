"""A built day for the promise figures: two depots, two drivers, every case once.

Reports and ETA snapshots are written straight to their tables (as the sync and the
ETA service would write them), so each recorded time is exact.

driver_a, North, on the service date:
  A1 promised 10:00-12:00, arrived 10:55, delivered 11:00; ETAs shown at 09:00 (for
     10:40) and 10:30 (for 10:50): errors 15 min at 60 and 30, 5 min at 10.
  A2 no promise, working window 09:00-17:00, delivered exactly at 17:00: on time.
  A3 failed at 13:00 with no arrived report: a failed first attempt.
  A4 a re-planned "-R1" stop promised 09:00-10:00, delivered 14:00: late, and not a
     first attempt.
driver_b, South: B1 promised 10:00-12:00, delivered 16:00 (late); B2 still pending.
Three days earlier driver_a delivered one stop on time. The other tenant delivers a
stop late on the service date, which must never show.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Depot, DoorEventRow, EtaSnapshot, Stop
from backend.domain.stops import StopStatus
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest

EARLIER = SERVICE_DATE - timedelta(days=3)


def at(hour: int, minute: int = 0, day: date = SERVICE_DATE) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def report(session: Session, stop: Stop, driver_id: int, type_: str, when: datetime) -> None:
    session.add(
        DoorEventRow(
            org_id=stop.org_id,
            event_id=str(uuid.uuid4()),
            stop_id=stop.id,
            driver_id=driver_id,
            device_key=f"dev-{driver_id}",
            type=type_,
            recorded_at=when,
            received_at=when,
            hlc=f"{int(when.timestamp() * 1000):015d}:0000:dev-{driver_id}",
            base_version=1,
            payload={},
            evidence=[],
            fingerprint=uuid.uuid4().hex,
            result="applied",
        )
    )


def eta(session: Session, stop: Stop, computed_at: datetime, eta_at: datetime) -> None:
    session.add(
        EtaSnapshot(org_id=stop.org_id, stop_id=stop.id, computed_at=computed_at, eta_at=eta_at)
    )


def _stops(session: Session, manifest_id: int) -> list[Stop]:
    return list(
        session.scalars(select(Stop).where(Stop.manifest_id == manifest_id).order_by(Stop.id))
    )


@dataclass(frozen=True)
class PromiseDay:
    north: int
    south: int


def build_promise_day(session: Session, world: World) -> PromiseDay:
    a, b = world.users["driver_a"], world.users["driver_b"]
    north = Depot(org_id=world.org_id, name="North", lat=47.66, lon=-122.33)
    south = Depot(org_id=world.org_id, name="South", lat=47.55, lon=-122.32)
    session.add_all([north, south])
    session.flush()

    a1, a2, a3, a4 = _stops(
        session, make_manifest(session, world.org_id, a, stops=4, depot_id=north.id).id
    )
    a1.promised_start, a1.promised_end = at(10), at(12)
    a1.status = StopStatus.DELIVERED
    report(session, a1, a, "arrived", at(10, 55))
    report(session, a1, a, "delivered", at(11))
    eta(session, a1, at(9), at(10, 40))
    eta(session, a1, at(10, 30), at(10, 50))
    # Computed after the arrival: never the ETA shown before it.
    eta(session, a1, at(11), at(11))
    a2.status = StopStatus.DELIVERED
    report(session, a2, a, "delivered", at(17))
    a3.status = StopStatus.FAILED
    report(session, a3, a, "failed", at(13))
    a4.order_number = "ORD-OLD-7-R1"
    a4.promised_start, a4.promised_end = at(9), at(10)
    a4.status = StopStatus.DELIVERED
    report(session, a4, a, "delivered", at(14))

    b1, b2 = _stops(session, make_manifest(session, world.org_id, b, stops=2, depot_id=south.id).id)
    b1.promised_start, b1.promised_end = at(10), at(12)
    b1.status = StopStatus.DELIVERED
    report(session, b1, b, "delivered", at(16))
    assert b2.status is StopStatus.PENDING

    [earlier] = _stops(
        session,
        make_manifest(
            session, world.org_id, a, stops=1, service_date=EARLIER, depot_id=north.id
        ).id,
    )
    earlier.status = StopStatus.DELIVERED
    report(session, earlier, a, "delivered", at(12, day=EARLIER))

    [foreign] = _stops(
        session,
        make_manifest(session, world.other_org_id, world.users["other_driver"], stops=1).id,
    )
    foreign.status = StopStatus.DELIVERED
    report(session, foreign, world.users["other_driver"], "delivered", at(20))
    eta(session, foreign, at(9), at(19))
    session.commit()
    return PromiseDay(north=north.id, south=south.id)
