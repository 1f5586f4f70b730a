"""ETA accuracy: how far the estimate a recipient was shown lay from the actual arrival.

The day is the demo's (its seed: five Seattle routes of 120 to 160 stops, windows
re-planned along each route the way `make demo` does), driven by a simulation in
simulated time rather than by the demo's devices, whose day lasts minutes: each
driver drives every leg at the great-circle estimate times a random factor (traffic,
parking: lognormal, median 1.1) and spends a random time at the door (lognormal,
median 3 min); it waits for a working window that has not opened. Every five simulated
minutes each driver "syncs": the reports since the last sync become door events and
the driver's current position a fix, and the one call the sync makes
(``backend.eta.service.after_sync``) recomputes the ETAs and appends the snapshots.

The error at a lead time L is, per stop reached, |ETA - arrival| for the newest
snapshot computed at least L before the arrival; reported as the mean over stops
(MAE, minutes). There is no floor to compare with: the number is the model's.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import Depot, DoorEventRow, EtaSnapshot, Manifest, Stop
from backend.db.session import Database, scope_to_tenant
from backend.domain.clock import local_date
from backend.domain.eta import Point
from backend.domain.events import EventType
from backend.domain.stops import StopStatus
from backend.eta.service import after_sync
from backend.eta.travel import GreatCircle
from bench.common import Row, fresh_settings
from demo.day import move_windows_around
from demo.seed import seed_demo
from demo.seed_data import METRO_TIMEZONE

# 08:00 in Seattle on the tests' day.
START = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
SIMULATED = timedelta(hours=6)
SYNC_EVERY = timedelta(minutes=5)
LEADS_MIN = (60, 30, 10)
TRAFFIC_SIGMA = 0.35
DOOR_MEDIAN_S = 180.0
DOOR_SIGMA = 0.5
SEED = 11


@dataclass
class Visit:
    stop_id: int
    location: Point
    arrived_at: datetime
    left_at: datetime


@dataclass
class Route:
    driver_id: int
    visits: list[Visit]
    depot: Point
    reported: int = 0  # visits whose events were sent
    arrived_reported: set[int] = field(default_factory=set)

    def where(self, moment: datetime) -> Point:
        """Where the driver is at ``moment``: at a door, or along the leg to the next."""
        previous, left = self.depot, START
        for visit in self.visits:
            if moment < visit.arrived_at:
                if moment <= left:
                    return previous
                share = (moment - left) / (visit.arrived_at - left)
                return Point(
                    previous.lat + (visit.location.lat - previous.lat) * share,
                    previous.lon + (visit.location.lon - previous.lon) * share,
                )
            if moment <= visit.left_at:
                return visit.location
            previous, left = visit.location, visit.left_at
        return previous


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        settings = fresh_settings(Path(folder))
        database = Database(settings.database_url)
        try:
            return _measure(database, settings)
        finally:
            database.dispose()


def _measure(database: Database, settings: Settings) -> list[Row]:
    rng = random.Random(SEED)
    service_date = local_date(START, METRO_TIMEZONE)
    with database.session() as session:
        seed_demo(session, settings, service_date)
    move_windows_around(database, service_date, START, random.Random(SEED))
    with database.session() as session:
        routes, org_id = _drive(session, service_date, rng)
        syncs = _sync_all_day(session, org_id, routes, service_date)
        errors = _errors(session, routes)
    reached = sum(1 for route in routes for v in route.visits if v.arrived_at <= START + SIMULATED)
    rows = [
        Row("stops reached in the simulated day", reached, "stops", note=f"{syncs} syncs"),
    ]
    for lead in LEADS_MIN:
        sample = errors[lead]
        mae = statistics.fmean(sample) if sample else math.nan
        rows.append(
            Row(
                f"ETA mean absolute error, {lead} min before arrival",
                mae,
                "min",
                note=f"{len(sample)} stops; median {statistics.median(sample):.1f} min"
                if sample
                else "no stop",
            )
        )
    return rows


def _drive(session: Session, service_date: date, rng: random.Random) -> tuple[list[Route], int]:
    """What really happens: each driver's visits, in sequence, in simulated time."""
    travel = GreatCircle()
    routes = []
    org_id = 0
    manifests = session.scalars(select(Manifest).where(Manifest.service_date == service_date))
    for manifest in manifests:
        org_id = manifest.org_id
        stops = session.scalars(
            select(Stop).where(Stop.manifest_id == manifest.id).order_by(Stop.sequence)
        ).all()
        site = session.get(Depot, manifest.depot_id) if manifest.depot_id else None
        depot = Point(site.lat, site.lon) if site else Point(stops[0].lat, stops[0].lon)
        here = depot
        moment = START
        visits = []
        for stop in stops:
            there = Point(stop.lat, stop.lon)
            drive = travel.seconds(here, there) * rng.lognormvariate(math.log(1.1), TRAFFIC_SIGMA)
            arrived = moment + timedelta(seconds=drive)
            if stop.window_start is not None and arrived < stop.window_start:
                arrived = stop.window_start
            door = rng.lognormvariate(math.log(DOOR_MEDIAN_S), DOOR_SIGMA)
            left = arrived + timedelta(seconds=door)
            visits.append(Visit(stop.id, there, arrived, left))
            here, moment = there, left
        routes.append(Route(manifest.driver_id, visits, depot))
    return routes, org_id


def _sync_all_day(session: Session, org_id: int, routes: list[Route], service_date: date) -> int:
    scope_to_tenant(session, org_id)
    syncs = 0
    moment = START
    while moment <= START + SIMULATED:
        for route in routes:
            touched = _report(session, org_id, route, moment)
            position = route.where(moment)
            fix = {
                "lat": position.lat,
                "lon": position.lon,
                "accuracy_m": 10.0,
                "recorded_at": moment,
            }
            after_sync(
                session,
                org_id,
                route.driver_id,
                service_date,
                moment,
                timezone=METRO_TIMEZONE,
                positions=[fix],
                stops_touched=touched,
                travel=None,
            )
            session.commit()
            syncs += 1
        moment += SYNC_EVERY
    return syncs


def _report(session: Session, org_id: int, route: Route, moment: datetime) -> bool:
    """The door events since the last sync, as the sync would have stored them."""
    touched = False
    for visit in route.visits[route.reported :]:
        if visit.arrived_at > moment:
            break
        stop = session.get(Stop, visit.stop_id)
        assert stop is not None
        if visit.stop_id not in route.arrived_reported:
            session.add(
                _event(org_id, route.driver_id, visit.stop_id, EventType.ARRIVED, visit.arrived_at)
            )
            route.arrived_reported.add(visit.stop_id)
            stop.status = StopStatus.ARRIVED
            touched = True
        if visit.left_at > moment:
            break
        session.add(
            _event(org_id, route.driver_id, visit.stop_id, EventType.DELIVERED, visit.left_at)
        )
        stop.status = StopStatus.DELIVERED
        route.reported += 1
        touched = True
    session.flush()
    return touched


def _event(
    org_id: int, driver_id: int, stop_id: int, kind: EventType, at: datetime
) -> DoorEventRow:
    return DoorEventRow(
        org_id=org_id,
        event_id=f"{kind.value}-{stop_id}",
        stop_id=stop_id,
        driver_id=driver_id,
        device_key=f"bench-{driver_id}",
        type=kind.value,
        recorded_at=at,
        received_at=at,
        hlc="0",
        base_version=1,
        payload={},
        evidence=[],
        fingerprint="bench",
        result="applied",
    )


def _errors(session: Session, routes: list[Route]) -> dict[int, list[float]]:
    """Per lead time, |shown ETA - arrival| in minutes for each stop reached."""
    snapshots: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for stop_id, computed_at, eta_at in session.execute(
        select(EtaSnapshot.stop_id, EtaSnapshot.computed_at, EtaSnapshot.eta_at).order_by(
            EtaSnapshot.stop_id, EtaSnapshot.computed_at, EtaSnapshot.id
        )
    ):
        snapshots[stop_id].append((computed_at, eta_at))
    errors: dict[int, list[float]] = {lead: [] for lead in LEADS_MIN}
    for route in routes:
        for visit in route.visits:
            if visit.arrived_at > START + SIMULATED:
                break
            shown = snapshots.get(visit.stop_id, [])
            times = [computed for computed, _ in shown]
            for lead in LEADS_MIN:
                index = bisect_right(times, visit.arrived_at - timedelta(minutes=lead)) - 1
                if index >= 0:
                    error = abs((shown[index][1] - visit.arrived_at).total_seconds()) / 60
                    errors[lead].append(error)
    return errors
