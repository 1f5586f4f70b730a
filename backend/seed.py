"""The demo: one Seattle delivery organization with a full day of stops per driver.

Deterministic (a fixed random seed), so every `make run` on a fresh database shows the
same day; fast (bulk inserts, one password hash), so it adds well under a few seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend.auth.passwords import hash_password
from backend.config import Settings
from backend.db.models import Depot, Manifest, Organization, Parcel, PlanChange, Stop, User
from backend.domain.geo import geodesic_m
from backend.domain.stops import Role
from backend.seed_data import (
    DEPOT,
    FIRST_NAMES,
    INSTRUCTIONS,
    LAST_NAMES,
    METRO_TIMEZONE,
    NEIGHBOURHOODS,
    PARCEL_DESCRIPTIONS,
    Neighbourhood,
)

RANDOM_SEED = 20261124
DRIVERS = 5
STAFF = (
    ("dispatch", Role.DISPATCHER, "Dee Dispatcher"),
    ("support", Role.SUPPORT, "Sam Support"),
    ("admin", Role.ADMIN, "Ada Admin"),
)
# (start, end) in local hours, with how often each kind of window occurs.
WINDOWS = (((8, 20), 40), ((8, 12), 20), ((12, 17), 20), ((17, 21), 10), (None, 10))


@dataclass(frozen=True)
class SeedSummary:
    organization: str
    users: int
    manifests: int
    stops: int
    parcels: int


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Organization))


def seed_demo(session: Session, settings: Settings, today: date | None = None) -> SeedSummary:
    """Create organization "demo", its users, and today's manifests. Commits once."""
    rng = random.Random(RANDOM_SEED)
    zone = ZoneInfo(METRO_TIMEZONE)
    today = today or datetime.now(zone).date()
    org = Organization(
        slug="demo", name="Doorstep Demo", timezone=METRO_TIMEZONE, geofence_threshold_m=150
    )
    session.add(org)
    session.flush()
    depot = Depot(org_id=org.id, timezone=METRO_TIMEZONE, **DEPOT)
    session.add(depot)
    session.flush()
    password_hash = hash_password(settings.demo_password)
    drivers = [
        User(
            org_id=org.id,
            username=f"driver{n}",
            full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            password_hash=password_hash,
            role=Role.DRIVER,
            depot_id=depot.id,
        )
        for n in range(1, DRIVERS + 1)
    ]
    staff = [
        User(
            org_id=org.id,
            username=name,
            full_name=full,
            password_hash=password_hash,
            role=role,
            depot_id=depot.id,
        )
        for name, role, full in STAFF
    ]
    session.add_all(drivers + staff)
    session.flush()
    stop_count = parcel_count = 0
    serial = 0
    for driver, area in zip(drivers, NEIGHBOURHOODS, strict=True):
        manifest = Manifest(
            org_id=org.id, driver_id=driver.id, service_date=today, depot_id=depot.id
        )
        session.add(manifest)
        session.flush()
        drafts = _route(rng, [_stop_draft(rng, area) for _ in range(rng.randint(120, 160))])
        rows = []
        for sequence, draft in enumerate(drafts, start=1):
            serial += 1
            rows.append(
                _stop_row(rng, org.id, depot.id, manifest.id, today, zone, sequence, serial, draft)
            )
        stop_ids = list(session.scalars(insert(Stop).returning(Stop.id), rows))
        parcels = []
        for stop_id in stop_ids:
            for _ in range(rng.choices((1, 2, 3), weights=(60, 30, 10))[0]):
                parcel_count += 1
                parcels.append(
                    {
                        "org_id": org.id,
                        "stop_id": stop_id,
                        "barcode": f"DS{today:%Y%m%d}{parcel_count:06d}",
                        "description": rng.choice(PARCEL_DESCRIPTIONS),
                    }
                )
        session.execute(insert(Parcel), parcels)
        # Version 1 of every stop is published to its driver: the sync feed and the
        # "what the driver saw" check both start from here.
        session.execute(
            insert(PlanChange),
            [
                {
                    "org_id": org.id,
                    "driver_id": driver.id,
                    "stop_id": stop_id,
                    "kind": "upsert",
                    "stop_version": 1,
                    "created_at": datetime.now(UTC),
                }
                for stop_id in stop_ids
            ],
        )
        stop_count += len(stop_ids)
    session.commit()
    return SeedSummary("demo", len(drivers) + len(staff), len(drivers), stop_count, parcel_count)


def _stop_draft(rng: random.Random, area: Neighbourhood) -> dict[str, Any]:
    low, high = area.house_numbers
    number = rng.randint(low, high)
    street = rng.choice(area.streets)
    unit = f" Apt {rng.randint(1, 4)}{rng.choice('ABCD')}" if rng.random() < 0.2 else ""
    return {
        "address": f"{number} {street}{unit}, Seattle, WA {rng.choice(area.zips)}",
        "lat": round(rng.uniform(*area.lat), 6),
        "lon": round(rng.uniform(*area.lon), 6),
    }


def _route(rng: random.Random, drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order stops by nearest neighbour from the depot: a plausible driving order."""
    remaining = drafts[:]
    here = (DEPOT["lat"], DEPOT["lon"])
    ordered = []
    while remaining:
        nearest = min(remaining, key=lambda d: geodesic_m(here[0], here[1], d["lat"], d["lon"]))
        remaining.remove(nearest)
        ordered.append(nearest)
        here = (nearest["lat"], nearest["lon"])
    return ordered


def _geofence(lat: float, lon: float, rng: random.Random) -> list[list[list[float]]]:
    """A closed square-ish ring 40-80 m around the point (GeoJSON order: lon, lat)."""
    half = rng.uniform(40, 80)
    dlat = half / 111_320
    dlon = half / (111_320 * math.cos(math.radians(lat)))
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
        [lon - dlon, lat - dlat],
    ]
    return [[[round(x, 7), round(y, 7)] for x, y in ring]]


def _stop_row(
    rng: random.Random,
    org_id: int,
    depot_id: int,
    manifest_id: int,
    today: date,
    zone: ZoneInfo,
    sequence: int,
    serial: int,
    draft: dict[str, Any],
) -> dict[str, Any]:
    hours = rng.choices([w for w, _ in WINDOWS], weights=[n for _, n in WINDOWS])[0]
    if hours is None:
        start_hour = rng.randint(9, 17)
        hours = (start_hour, start_hour + 2)
    start = datetime.combine(today, time(hours[0]), zone)
    end = datetime.combine(today, time(0), zone) + timedelta(hours=hours[1])
    kind = rng.random()
    policy = {
        "signature": kind < 0.55 or kind > 0.9,
        "photo": kind > 0.45,
        "age_check": kind > 0.95,
        "parcel_scan": rng.random() < 0.25,
    }
    return {
        "org_id": org_id,
        "service_date": today,
        "order_number": f"SEA-{today:%Y%m%d}-{serial:05d}",
        "manifest_id": manifest_id,
        "depot_id": depot_id,
        "sequence": sequence,
        "address": draft["address"],
        "lat": draft["lat"],
        "lon": draft["lon"],
        "geofence": _geofence(draft["lat"], draft["lon"], rng) if rng.random() < 0.2 else None,
        "window_start": start.astimezone(UTC),
        "window_end": end.astimezone(UTC),
        "recipient_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        "recipient_phone": f"206-555-01{rng.randint(0, 99):02d}",
        "instructions": rng.choice(INSTRUCTIONS) if rng.random() < 0.3 else "",
        "proof_policy": policy,
        "status": "pending",
        "version": 1,
        "material_version": 1,
        "cancel_reason": "",
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
    }
