"""Storing the fixes a driver's device sends with its sync (docs/sync-protocol.md).

The newest fix becomes the driver's :class:`DriverPosition`; every kept fix joins the
day's :class:`DriverFix` trail, bounded per driver and day (the oldest are dropped).
Which fixes are kept is the shift rule in ``backend.domain.positions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, DriverFix, DriverPosition, Manifest, Stop
from backend.domain.clock import zone
from backend.domain.events import EventType
from backend.domain.positions import MAX_FIXES_PER_DAY, Fix, Shift, believable, shift_of

DONE_EVENTS = (EventType.DELIVERED.value, EventType.FAILED.value)


def record_fixes(
    session: Session,
    org_id: int,
    driver_id: int,
    raw_fixes: Iterable[Mapping[str, Any]],
    now: datetime,
    timezone: str,
) -> list[date]:
    """Keep the fixes taken during the driver's shift; the service dates they fell on."""
    fixes = sorted(
        (Fix(f["lat"], f["lon"], f.get("accuracy_m"), f["recorded_at"]) for f in raw_fixes),
        key=lambda fix: fix.recorded_at,
    )
    tz = zone(timezone)
    shifts: dict[date, Shift | None] = {}
    kept: dict[date, list[Fix]] = {}
    for fix in fixes:
        if not believable(fix, now):
            continue
        day = fix.recorded_at.astimezone(tz).date()
        if day not in shifts:
            shifts[day] = _shift(session, driver_id, day, timezone)
        shift = shifts[day]
        if shift is not None and shift.holds(fix.recorded_at):
            kept.setdefault(day, []).append(fix)
    if not kept:
        return []
    for day, day_fixes in kept.items():
        session.add_all(
            DriverFix(
                org_id=org_id,
                driver_id=driver_id,
                service_date=day,
                lat=fix.lat,
                lon=fix.lon,
                accuracy_m=fix.accuracy_m,
                recorded_at=fix.recorded_at,
            )
            for fix in day_fixes
        )
        session.flush()
        _trim(session, driver_id, day)
    newest = max((fix for day_fixes in kept.values() for fix in day_fixes), key=_when)
    _update_position(session, org_id, driver_id, newest, now)
    return sorted(kept)


def _when(fix: Fix) -> datetime:
    return fix.recorded_at


def _shift(session: Session, driver_id: int, day: date, timezone: str) -> Shift | None:
    manifest_id = session.scalar(
        select(Manifest.id).where(Manifest.driver_id == driver_id, Manifest.service_date == day)
    )
    if manifest_id is None:
        return None
    first_start, last_end = session.execute(
        select(func.min(Stop.window_start), func.max(Stop.window_end)).where(
            Stop.manifest_id == manifest_id
        )
    ).one()
    last_completion = session.scalar(
        select(func.max(DoorEventRow.recorded_at))
        .join(Stop, Stop.id == DoorEventRow.stop_id)
        .where(Stop.manifest_id == manifest_id, DoorEventRow.type.in_(DONE_EVENTS))
    )
    tz = zone(timezone)
    day_start = datetime.combine(day, time(0), tz)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return shift_of(day_start, day_end, first_start, last_end, last_completion)


def _trim(session: Session, driver_id: int, day: date) -> None:
    """Drop the oldest fixes of the day past the bound."""
    cutoff = session.scalar(
        select(DriverFix.id)
        .where(DriverFix.driver_id == driver_id, DriverFix.service_date == day)
        .order_by(DriverFix.recorded_at.desc(), DriverFix.id.desc())
        .offset(MAX_FIXES_PER_DAY)
        .limit(1)
    )
    if cutoff is None:
        return
    keep = (
        select(DriverFix.id)
        .where(DriverFix.driver_id == driver_id, DriverFix.service_date == day)
        .order_by(DriverFix.recorded_at.desc(), DriverFix.id.desc())
        .limit(MAX_FIXES_PER_DAY)
    )
    session.execute(
        delete(DriverFix)
        .where(
            DriverFix.driver_id == driver_id,
            DriverFix.service_date == day,
            DriverFix.id.not_in(list(session.scalars(keep))),
        )
        .execution_options(synchronize_session=False)
    )


def _update_position(
    session: Session, org_id: int, driver_id: int, fix: Fix, now: datetime
) -> None:
    position = session.get(DriverPosition, driver_id)
    if position is None:
        position = DriverPosition(org_id=org_id, driver_id=driver_id)
        session.add(position)
    elif position.recorded_at >= fix.recorded_at:
        return  # an older batch arriving late does not move the driver back
    position.lat, position.lon, position.accuracy_m = fix.lat, fix.lon, fix.accuracy_m
    position.recorded_at, position.received_at = fix.recorded_at, now
