"""Keeping each open stop's ETA current (``StopEta``) and the history of what was
shown (``EtaSnapshot``).

:func:`recompute` runs after a sync that touched the driver's stops or carried
positions, and after a plan change (assign, change, cancel), inside the caller's
transaction (no commit). It rewrites the driver's ``StopEta`` rows from the rule in
``backend.domain.eta``, deletes the rows of stops that are no longer open (done,
cancelled, re-planned, held), and appends an ``EtaSnapshot`` for each estimate that is
new or moved by at least :data:`SNAPSHOT_MOVE`. An estimate that moved by at least
:data:`WEBHOOK_MOVE` is announced as the webhook ``stop.eta_changed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import Base, DoorEventRow, DriverPosition, Manifest, Stop, StopEta
from backend.domain.clock import utc_text
from backend.domain.eta import (
    Origin,
    Point,
    RemainingStop,
    TravelSeconds,
    estimate,
    in_driving_order,
    learned_service_seconds,
    minutes_away,
)
from backend.domain.events import EventType
from backend.domain.org_settings import ARRIVING_SOON_MINUTES_RANGE
from backend.domain.stops import StopStatus
from backend.eta.positions import record_fixes
from backend.eta.travel import GreatCircle, TravelTimes, leg_seconds
from backend.notifications import triggers as notifications
from backend.webhooks import service as webhooks

SNAPSHOT_MOVE = timedelta(minutes=1)
WEBHOOK_MOVE = timedelta(minutes=5)
ETA_CHANGED = "stop.eta_changed"
# The learned service time looks this far back, at no more than this many events.
HISTORY = timedelta(days=30)
HISTORY_EVENTS = 2000
# A position older than this says little about where the driver is now.
POSITION_FRESH_FOR = timedelta(minutes=30)
OPEN = (StopStatus.PENDING, StopStatus.ARRIVED)
_SERVICE_CACHE_FOR = timedelta(minutes=15)
# The tables themselves, for the bulk writes (the models' __table__ is typed loosely).
STOP_ETA = Base.metadata.tables["stop_eta"]
ETA_SNAPSHOT = Base.metadata.tables["eta_snapshot"]
_service_cache: dict[tuple[str, int], tuple[datetime, float]] = {}


@dataclass
class Recomputed:
    """What one recompute changed."""

    # Stops whose estimate is new or moved by at least SNAPSHOT_MOVE.
    changed: list[int] = field(default_factory=list)
    # Of those, the ones announced as stop.eta_changed (moved by WEBHOOK_MOVE or more).
    announced: list[int] = field(default_factory=list)
    # Stops whose estimate was removed (no longer open).
    removed: list[int] = field(default_factory=list)


def recompute(
    session: Session,
    org_id: int,
    driver_id: int,
    service_date: date,
    now: datetime,
    *,
    travel: TravelTimes | None = None,
    service_seconds: float | None = None,
) -> Recomputed:
    """Rewrite the ETAs of ``driver_id``'s open stops on ``service_date``."""
    stops = list(
        session.scalars(
            select(Stop)
            .join(Manifest, Manifest.id == Stop.manifest_id)
            .where(Manifest.driver_id == driver_id, Manifest.service_date == service_date)
            .order_by(Stop.sequence, Stop.id)
        )
    )
    result = Recomputed()
    if not stops:
        return result
    stop_ids = [stop.id for stop in stops]
    current: dict[int, tuple[datetime, int]] = {
        stop_id: (eta_at, stops_before)
        for stop_id, eta_at, stops_before in session.execute(
            select(StopEta.stop_id, StopEta.eta_at, StopEta.stops_before).where(
                StopEta.stop_id.in_(stop_ids)
            )
        )
    }
    open_stops = [stop for stop in stops if _is_open(stop)]
    closed = [stop.id for stop in stops if not _is_open(stop) and stop.id in current]
    if closed:
        forget(session, closed)
        result.removed = closed
    if not open_stops:
        return result
    arrived, last_done = _door_times(session, stop_ids)
    remaining = [
        RemainingStop(
            stop_id=stop.id,
            location=Point(stop.lat, stop.lon),
            window_start=stop.window_start,
            arrived_at=arrived.get(stop.id) if stop.status == StopStatus.ARRIVED else None,
        )
        for stop in open_stops
    ]
    origin = _origin(session, driver_id, {s.id: s for s in stops}, last_done, now)
    seconds = (
        service_seconds if service_seconds is not None else _service_seconds(session, org_id, now)
    )
    estimates = estimate(
        remaining, origin, now, seconds, _travel_function(travel, origin, remaining)
    )
    new_rows: list[dict[str, Any]] = []
    moved_rows: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    announced: list[dict[str, Any]] = []
    for est in estimates:
        values = {"eta_at": est.eta_at, "stops_before": est.stops_before, "computed_at": now}
        previous = current.get(est.stop_id)
        if previous is None:
            new_rows.append({"org_id": org_id, "stop_id": est.stop_id, **values})
        elif previous != (est.eta_at, est.stops_before):
            # Rows that did not change are not written: a sync rewrites only what moved.
            moved_rows.append(
                {"key": est.stop_id, "new_eta": est.eta_at, "new_before": est.stops_before}
            )
        moved = abs(est.eta_at - previous[0]) if previous is not None else None
        if moved is None or moved >= SNAPSHOT_MOVE:
            result.changed.append(est.stop_id)
            snapshots.append(
                {"org_id": org_id, "stop_id": est.stop_id, "eta_at": est.eta_at, "computed_at": now}
            )
        if previous is not None and moved is not None and moved >= WEBHOOK_MOVE:
            result.announced.append(est.stop_id)
            announced.append(
                {
                    "stop_id": est.stop_id,
                    "eta_at": utc_text(est.eta_at),
                    "previous_eta_at": utc_text(previous[0]),
                    "stops_before": est.stops_before,
                }
            )
    _write(session, now, new_rows, moved_rows, snapshots)
    if announced:
        webhooks.enqueue(session, org_id, ETA_CHANGED, announced)
    if arrived or last_done is not None:
        # The route has started (the driver reported at a door today), so a recipient
        # may be due "arriving soon"; before that a plan change must not announce it.
        # Only stops that could qualify under any tenant's setting are looked at.
        soon = now + timedelta(minutes=ARRIVING_SOON_MINUTES_RANGE[1])
        session.flush()
        notifications.queue_arriving_soon(
            session,
            org_id,
            [est.stop_id for est in estimates if est.stops_before == 0 or est.eta_at <= soon],
        )
    session.flush()
    return result


def _write(
    session: Session,
    now: datetime,
    new_rows: list[dict[str, Any]],
    moved_rows: list[dict[str, Any]],
    snapshots: list[dict[str, Any]],
) -> None:
    """A few executemany statements rather than a unit of work over 150 objects: this
    runs in most syncs of the day. The stop ids come from the tenant-scoped read above."""
    if new_rows:
        session.execute(insert(STOP_ETA), new_rows)
    if moved_rows:
        session.execute(
            update(STOP_ETA)
            .where(STOP_ETA.c.stop_id == bindparam("key"))
            .values(
                eta_at=bindparam("new_eta"),
                stops_before=bindparam("new_before"),
                computed_at=now,
            ),
            moved_rows,
        )
    if snapshots:
        session.execute(insert(ETA_SNAPSHOT), snapshots)


def after_sync(
    session: Session,
    org_id: int,
    driver_id: int,
    service_date: date,
    now: datetime,
    *,
    timezone: str,
    positions: Iterable[Mapping[str, Any]],
    stops_touched: bool,
    travel: TravelTimes | None,
) -> Recomputed | None:
    """The sync's one call: keep the fixes, then recompute the driver's day if the
    request changed anything an ETA depends on (nothing is read otherwise)."""
    fixes = list(positions)
    days = record_fixes(session, org_id, driver_id, fixes, now, timezone) if fixes else []
    if not stops_touched and service_date not in days:
        return None
    return recompute(session, org_id, driver_id, service_date, now, travel=travel)


def forget(session: Session, stop_ids: Sequence[int]) -> None:
    """Remove the estimates of stops no one is driving to any more."""
    if stop_ids:
        session.execute(
            delete(StopEta)
            .where(StopEta.stop_id.in_(list(stop_ids)))
            .execution_options(synchronize_session=False)
        )


def eta_view(session: Session, stop: Stop, now: datetime | None = None) -> dict[str, Any] | None:
    """The stop's current ETA as the tracking page and the console show it, or None
    when there is none (not assigned, not started, done). ``now`` defaults to the
    application's clock."""
    now = now or clock.now()
    if not _is_open(stop):
        return None
    row = session.get(StopEta, stop.id)
    if row is None:
        return None
    return {
        "eta_at": utc_text(row.eta_at),
        "minutes_away": minutes_away(row.eta_at, now),
        "stops_before": row.stops_before,
    }


def learned_service_time(session: Session, org_id: int, now: datetime) -> float:
    """Seconds a driver typically spends at the door for this tenant: from arrived to
    the outcome, over the newest events of the last 30 days (``backend.domain.eta``)."""
    rows = session.execute(
        select(DoorEventRow.stop_id, DoorEventRow.type, DoorEventRow.recorded_at)
        .where(
            DoorEventRow.org_id == org_id,
            DoorEventRow.type.in_(
                [EventType.ARRIVED.value, EventType.DELIVERED.value, EventType.FAILED.value]
            ),
        )
        .order_by(DoorEventRow.id.desc())
        .limit(HISTORY_EVENTS)
    ).all()
    since = now - HISTORY
    arrived: dict[int, datetime] = {}
    outcome: dict[int, datetime] = {}
    for stop_id, kind, recorded_at in rows:
        if recorded_at < since:
            continue
        if kind == EventType.ARRIVED.value:
            arrived[stop_id] = min(recorded_at, arrived.get(stop_id, recorded_at))
        else:
            outcome[stop_id] = min(recorded_at, outcome.get(stop_id, recorded_at))
    samples = [
        (outcome[stop_id] - at).total_seconds()
        for stop_id, at in arrived.items()
        if stop_id in outcome
    ]
    return learned_service_seconds(samples)


def _service_seconds(session: Session, org_id: int, now: datetime) -> float:
    """The learned service time, read at most every 15 minutes per tenant: it moves
    slowly, and a sync should not re-read a month of events."""
    bind = session.get_bind()
    key = (str(bind.engine.url), org_id)
    cached = _service_cache.get(key)
    if cached is not None and cached[0] <= now < cached[0] + _SERVICE_CACHE_FOR:
        return cached[1]
    seconds = learned_service_time(session, org_id, now)
    _service_cache[key] = (now, seconds)
    return seconds


def _is_open(stop: Stop) -> bool:
    return (
        stop.status in OPEN
        and stop.cancelled_at is None
        and stop.replanned_at is None
        and stop.held_at is None
    )


def _door_times(
    session: Session, stop_ids: Sequence[int]
) -> tuple[dict[int, datetime], tuple[int, datetime] | None]:
    """When the driver arrived at each stop, and the newest completion (stop, time)."""
    arrived: dict[int, datetime] = {}
    last_done: tuple[int, datetime] | None = None
    for stop_id, kind, recorded_at in session.execute(
        select(DoorEventRow.stop_id, DoorEventRow.type, DoorEventRow.recorded_at).where(
            DoorEventRow.stop_id.in_(list(stop_ids)),
            DoorEventRow.type.in_(
                [EventType.ARRIVED.value, EventType.DELIVERED.value, EventType.FAILED.value]
            ),
        )
    ):
        if kind == EventType.ARRIVED.value:
            arrived[stop_id] = max(recorded_at, arrived.get(stop_id, recorded_at))
        elif last_done is None or recorded_at > last_done[1]:
            last_done = (stop_id, recorded_at)
    return arrived, last_done


def _origin(
    session: Session,
    driver_id: int,
    stops: dict[int, Stop],
    last_done: tuple[int, datetime] | None,
    now: datetime,
) -> Origin | None:
    """The newer of the driver's last fresh position and the last completed stop."""
    candidates: list[Origin] = []
    if last_done is not None and last_done[0] in stops:
        done = stops[last_done[0]]
        candidates.append(Origin(Point(done.lat, done.lon), min(last_done[1], now)))
    position = session.get(DriverPosition, driver_id)
    if position is not None and now - POSITION_FRESH_FOR <= position.recorded_at:
        candidates.append(Origin(Point(position.lat, position.lon), min(position.recorded_at, now)))
    return max(candidates, key=lambda origin: origin.at) if candidates else None


def _travel_function(
    travel: TravelTimes | None, origin: Origin | None, stops: Sequence[RemainingStop]
) -> TravelSeconds:
    """The legs the rule will drive, asked of the provider up front, looked up by point."""
    ordered = [stop.location for stop in in_driving_order(stops)]
    starts: list[Point | None] = [origin.location if origin is not None else None, *ordered]
    pairs = [(a, b) for a, b in zip(starts, ordered, strict=False) if a is not None]
    table = dict(zip(pairs, leg_seconds(travel or GreatCircle(), pairs), strict=True))

    def seconds(a: Point, b: Point) -> float:
        return table.get((a, b), 0.0)

    return seconds
