"""The demo: one Seattle delivery organization with a full day of stops per driver.

Deterministic (a fixed random seed), so every `make run` on a fresh database shows the
same day; fast (bulk inserts, one password hash), so seeding takes about a second.

Planning a driver's day (:func:`plan_driver_day`) is pure: addresses on real streets,
a nearest-neighbour route from the depot, windows, recipients, parcels and policies.
Writing it (:func:`add_driver_day`) is the only part that touches the database, so the
benchmarks can add a manifest of an exact size to a seeded organization.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend import clock
from backend.auth.passwords import hash_password
from backend.config import Settings
from backend.db.models import (
    Depot,
    Manifest,
    Organization,
    Parcel,
    PlanChange,
    PromiseChange,
    Stop,
    User,
)
from backend.db.session import begin_write
from backend.domain.clock import local_date
from backend.domain.events import ChangeOp
from backend.domain.geo import haversine_m
from backend.domain.roles import Role
from backend.domain.stops import ProofPolicy, StopStatus
from backend.planning.service import PLANNED
from backend.sync.changes import lock_plan
from demo.seed_data import (
    AGE_RESTRICTED,
    DEPOTS,
    FIRST_NAMES,
    INSTRUCTIONS,
    LAST_NAMES,
    METRO_TIMEZONE,
    NEIGHBOURHOODS,
    NORTH_DEPOT,
    PARCEL_DESCRIPTIONS,
    DepotSite,
    Neighbourhood,
)

RANDOM_SEED = 20261124
DEMO_SLUG = "demo"
STOPS_PER_DRIVER = (120, 160)
STAFF = (
    ("dispatch", Role.DISPATCHER, "Dee Dispatcher"),
    ("support", Role.SUPPORT, "Sam Support"),
    ("admin", Role.ADMIN, "Ada Admin"),
)
# (start hour, end hour) in local time, with their weights; None is a 2-hour window.
WINDOWS: tuple[tuple[tuple[int, int] | None, int], ...] = (
    ((8, 20), 40),
    ((8, 12), 20),
    ((12, 17), 20),
    ((17, 21), 10),
    (None, 10),
)
# (signature, photo) with weights: mostly a photo at the door or a signature.
POLICIES = (((False, True), 50), ((True, False), 25), ((True, True), 20), ((False, False), 5))
# Metres from the house to the street's centre line: odd numbers one side, even the other.
SETBACK_M = 12.0
METRES_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True)
class SeedSummary:
    organization: str
    depots: int
    users: int
    manifests: int
    stops: int
    parcels: int


@dataclass(frozen=True)
class Address:
    line: str
    lat: float
    lon: float


@dataclass(frozen=True)
class PlannedParcel:
    barcode: str
    description: str


@dataclass(frozen=True)
class PlannedStop:
    """One stop of a planned day, in route order (its sequence is its position)."""

    order_number: str
    address: Address
    geofence: list[list[list[float]]] | None
    window_start: datetime
    window_end: datetime
    recipient_name: str
    recipient_phone: str
    instructions: str
    proof_policy: ProofPolicy
    parcels: tuple[PlannedParcel, ...]
    recipient_email: str = ""


@dataclass
class Serials:
    """Order and barcode numbers handed out so far; both must be unique per org and day."""

    orders: int = 0
    parcels: int = 0

    def next_order(self, day: date) -> str:
        self.orders += 1
        return f"SEA-{day:%Y%m%d}-{self.orders:05d}"

    def next_barcode(self, day: date) -> str:
        self.parcels += 1
        return f"DS{day:%Y%m%d}{self.parcels:06d}"


def database_is_empty(session: Session) -> bool:
    """True when no organization exists yet (a fresh database the demo may fill)."""
    return not session.scalar(select(func.count()).select_from(Organization))


def seed_demo(session: Session, settings: Settings, today: date | None = None) -> SeedSummary:
    """Create organization "demo", its depots, users and ``today``'s manifests; commit once.

    ``today`` defaults to the demo organization's today (Seattle's date, by the
    application's clock).
    """
    rng = random.Random(RANDOM_SEED)
    today = today or local_date(clock.now(), METRO_TIMEZONE)
    org = Organization(
        slug=DEMO_SLUG, name="Doorstep Demo", timezone=METRO_TIMEZONE, geofence_threshold_m=150
    )
    session.add(org)
    session.flush()
    depots = [_depot(org.id, site) for site in DEPOTS]
    session.add_all(depots)
    session.flush()
    depot_ids = {depot.name: depot.id for depot in depots}
    # argon2 is slow by design: hash once, every demo user shares the password.
    password_hash = hash_password(settings.demo_password)
    drivers = [
        User(
            org_id=org.id,
            username=f"driver{n}",
            full_name=_person(rng),
            password_hash=password_hash,
            role=Role.DRIVER,
            depot_id=depot_ids[area.depot.name],
        )
        for n, area in enumerate(NEIGHBOURHOODS, start=1)
    ]
    staff = [
        User(
            org_id=org.id,
            username=username,
            full_name=full_name,
            password_hash=password_hash,
            role=role,
            depot_id=depot_ids[NORTH_DEPOT.name],
        )
        for username, role, full_name in STAFF
    ]
    session.add_all(drivers + staff)
    session.flush()
    stops, parcels = _plan_demo_day(session, org.id, today, rng)
    session.commit()
    return SeedSummary(
        organization=org.slug,
        depots=len(depots),
        users=len(drivers) + len(staff),
        manifests=len(drivers),
        stops=stops,
        parcels=parcels,
    )


def plan_demo_day_if_missing(session: Session, day: date | None = None) -> bool:
    """Plan the demo drivers' stops for ``day`` (default: the demo's today) unless the
    demo organization already has a plan for it; earlier days stay as history.

    The demo is seeded once, for the day it was first run; without this, the next day
    (or a server left running past midnight in Seattle) would have no manifest at all.
    Returns whether a day was planned. Commits; safe against another process planning
    the same day at the same moment (the plan lock, then a second look).
    """
    org = session.scalars(select(Organization).where(Organization.slug == DEMO_SLUG)).first()
    if org is None:
        return False
    day = day or local_date(clock.now(), org.timezone)
    if _has_plan(session, org.id, day):
        return False
    session.rollback()  # end the read, so the write below starts as one (SQLite)
    begin_write(session)
    lock_plan(session, org.id)
    if _has_plan(session, org.id, day):
        session.rollback()
        return False
    _plan_demo_day(session, org.id, day, random.Random(f"{RANDOM_SEED}:{day.isoformat()}"))
    session.commit()
    return True


def _has_plan(session: Session, org_id: int, day: date) -> bool:
    found = session.scalar(
        select(Manifest.id).where(Manifest.org_id == org_id, Manifest.service_date == day).limit(1)
    )
    return found is not None


def _plan_demo_day(session: Session, org_id: int, day: date, rng: random.Random) -> tuple[int, int]:
    """Each demo driver's stops for ``day`` in their own neighbourhood; no commit.

    Returns (stops, parcels).
    """
    drivers = {
        user.username: user
        for user in session.scalars(
            select(User).where(User.org_id == org_id, User.role == Role.DRIVER)
        )
    }
    depot_ids = {
        name: depot_id
        for name, depot_id in session.execute(
            select(Depot.name, Depot.id).where(Depot.org_id == org_id)
        )
    }
    serials = Serials()
    stop_count = parcel_count = 0
    for n, area in enumerate(NEIGHBOURHOODS, start=1):
        driver = drivers[f"driver{n}"]
        stops = plan_driver_day(area, day, rng.randint(*STOPS_PER_DRIVER), rng, serials)
        add_driver_day(session, org_id, driver.id, depot_ids[area.depot.name], day, stops)
        stop_count += len(stops)
        parcel_count += sum(len(stop.parcels) for stop in stops)
    return stop_count, parcel_count


def _depot(org_id: int, site: DepotSite) -> Depot:
    return Depot(
        org_id=org_id,
        name=site.name,
        address=site.address,
        lat=site.lat,
        lon=site.lon,
        timezone=METRO_TIMEZONE,
    )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def plan_driver_day(
    area: Neighbourhood,
    service_date: date,
    stop_count: int,
    rng: random.Random,
    serials: Serials,
) -> list[PlannedStop]:
    """``stop_count`` stops in ``area``, in nearest-neighbour order from its depot."""
    addresses = route_from(area.depot, draw_addresses(area, stop_count, rng))
    zone = ZoneInfo(METRO_TIMEZONE)
    return [_plan_stop(address, service_date, zone, rng, serials) for address in addresses]


def draw_addresses(area: Neighbourhood, count: int, rng: random.Random) -> list[Address]:
    """``count`` distinct street addresses in ``area``, each located on its block."""
    # Longer streets get more houses, as they would in a real day's deliveries.
    weights = [street.numbers[1] - street.numbers[0] for street in area.streets]
    seen: set[str] = set()
    addresses: list[Address] = []
    while len(addresses) < count:
        street = rng.choices(area.streets, weights=weights)[0]
        number = rng.randint(*street.numbers)
        lat, lon = _beside(street.locate(number), street.start, street.end, number)
        unit = _unit(rng) if rng.random() < area.unit_share else ""
        line = f"{number} {street.name}{unit}, Seattle, WA {area.zip_code(lat, lon)}"
        if line in seen:
            continue
        seen.add(line)
        addresses.append(Address(line, round(lat, 6), round(lon, 6)))
    return addresses


def _beside(
    point: tuple[float, float], start: tuple[float, float], end: tuple[float, float], number: int
) -> tuple[float, float]:
    """Move ``point`` off the centre line to the side of the street its number is on."""
    east = (end[1] - start[1]) * math.cos(math.radians(point[0]))
    north = end[0] - start[0]
    length = math.hypot(east, north)
    side = 1 if number % 2 else -1
    # The unit normal to the street, turned into degrees of latitude and longitude.
    offset = SETBACK_M / METRES_PER_DEGREE_LAT * side
    return (
        point[0] - east / length * offset,
        point[1] + north / length * offset / math.cos(math.radians(point[0])),
    )


def _unit(rng: random.Random) -> str:
    floor, door = rng.randint(1, 6), rng.choice("ABCDEF")
    return rng.choice(
        (f" Apt {floor}{door}", f" Unit {floor}0{rng.randint(1, 9)}", f" #{floor}{door}")
    )


def route_from(depot: DepotSite, addresses: Sequence[Address]) -> list[Address]:
    """Order ``addresses`` by nearest neighbour from the depot: a plausible driving order."""
    remaining = list(addresses)
    here = (depot.lat, depot.lon)
    ordered: list[Address] = []
    while remaining:
        nearest = min(remaining, key=lambda a: haversine_m(here[0], here[1], a.lat, a.lon))
        remaining.remove(nearest)
        ordered.append(nearest)
        here = (nearest.lat, nearest.lon)
    return ordered


def _plan_stop(
    address: Address, day: date, zone: ZoneInfo, rng: random.Random, serials: Serials
) -> PlannedStop:
    start, end = _window(day, zone, rng)
    descriptions = [
        rng.choice(AGE_RESTRICTED) if rng.random() < 0.03 else rng.choice(PARCEL_DESCRIPTIONS)
        for _ in range(rng.choices((1, 2, 3), weights=(60, 30, 10))[0])
    ]
    return PlannedStop(
        order_number=serials.next_order(day),
        address=address,
        geofence=geofence_around(address.lat, address.lon, rng) if rng.random() < 0.2 else None,
        window_start=start,
        window_end=end,
        recipient_name=_person(rng),
        recipient_phone=f"206-555-01{rng.randint(0, 99):02d}",
        instructions=rng.choice(INSTRUCTIONS) if rng.random() < 0.3 else "",
        proof_policy=_policy(descriptions, rng),
        parcels=tuple(PlannedParcel(serials.next_barcode(day), d) for d in descriptions),
        # A mailbox per order (example.com never delivers): the demo's messages go to
        # the local SMTP catcher, one recipient each.
        recipient_email=f"recipient-{serials.orders}@example.com",
    )


def _window(day: date, zone: ZoneInfo, rng: random.Random) -> tuple[datetime, datetime]:
    """A delivery window in local time (aware datetimes; the column stores UTC)."""
    hours = rng.choices([w for w, _ in WINDOWS], weights=[n for _, n in WINDOWS])[0]
    if hours is None:
        first = rng.randint(9, 17)
        hours = (first, first + 2)
    start, end = hours
    return datetime.combine(day, time(start), zone), datetime.combine(day, time(end), zone)


def _policy(descriptions: Sequence[str], rng: random.Random) -> ProofPolicy:
    if any(d in AGE_RESTRICTED for d in descriptions):
        # Alcohol: the recipient's ID is checked and they sign for it.
        return ProofPolicy(signature=True, age_check=True, parcel_scan=True)
    signature, photo = rng.choices([p for p, _ in POLICIES], weights=[n for _, n in POLICIES])[0]
    # Several parcels at one door are scanned, so none is left in the van.
    parcel_scan = len(descriptions) == 3 or rng.random() < 0.2
    return ProofPolicy(signature=signature, photo=photo, parcel_scan=parcel_scan)


def geofence_around(lat: float, lon: float, rng: random.Random) -> list[list[list[float]]]:
    """A closed GeoJSON ring ([[[lon, lat], ...]]) 40-80 m around the point."""
    half = rng.uniform(40, 80)
    dlat = half / METRES_PER_DEGREE_LAT
    dlon = half / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    ring = [
        (lon - dlon, lat - dlat),
        (lon + dlon, lat - dlat),
        (lon + dlon, lat + dlat),
        (lon - dlon, lat + dlat),
        (lon - dlon, lat - dlat),
    ]
    return [[[round(x, 7), round(y, 7)] for x, y in ring]]


def add_driver_day(
    session: Session,
    org_id: int,
    driver_id: int,
    depot_id: int,
    service_date: date,
    stops: Sequence[PlannedStop],
) -> int:
    """Write a manifest with ``stops`` (sequence = position) and publish it; no commit.

    Returns the manifest id. Bulk inserts: a few statements per manifest, not per stop.
    """
    manifest = Manifest(
        org_id=org_id, driver_id=driver_id, service_date=service_date, depot_id=depot_id
    )
    session.add(manifest)
    session.flush()
    now = clock.now()
    rows = [
        _stop_row(org_id, manifest.id, depot_id, service_date, sequence, stop, now)
        for sequence, stop in enumerate(stops, start=1)
    ]
    # sort_by_parameter_order: the ids come back in the order of the rows, on every
    # backend, so each parcel lands on its own stop.
    stop_ids = list(
        session.scalars(insert(Stop).returning(Stop.id, sort_by_parameter_order=True), rows)
    )
    session.execute(
        insert(Parcel),
        [
            {
                "org_id": org_id,
                "stop_id": stop_id,
                "barcode": parcel.barcode,
                "description": parcel.description,
            }
            for stop_id, stop in zip(stop_ids, stops, strict=True)
            for parcel in stop.parcels
        ],
    )
    # Version 1 of every stop is published to its driver: the sync feed and the
    # "what the driver saw" check both start from here.
    session.execute(
        insert(PlanChange),
        [
            {
                "org_id": org_id,
                "driver_id": driver_id,
                "stop_id": stop_id,
                "kind": ChangeOp.UPSERT.value,
                "stop_version": 1,
                "created_at": now,
            }
            for stop_id in stop_ids
        ],
    )
    session.execute(
        insert(PromiseChange),
        [
            {
                "org_id": org_id,
                "stop_id": stop_id,
                "promised_start": stop.window_start,
                "promised_end": stop.window_end,
                "reason": PLANNED,
                "created_at": now,
            }
            for stop_id, stop in zip(stop_ids, stops, strict=True)
        ],
    )
    return manifest.id


def _stop_row(
    org_id: int,
    manifest_id: int,
    depot_id: int,
    service_date: date,
    sequence: int,
    stop: PlannedStop,
    now: datetime,
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "service_date": service_date,
        "order_number": stop.order_number,
        "manifest_id": manifest_id,
        "depot_id": depot_id,
        "sequence": sequence,
        "address": stop.address.line,
        "lat": stop.address.lat,
        "lon": stop.address.lon,
        "geofence": stop.geofence,
        "window_start": stop.window_start,
        "window_end": stop.window_end,
        # The customer is promised the working window the route was planned with.
        "promised_start": stop.window_start,
        "promised_end": stop.window_end,
        "recipient_name": stop.recipient_name,
        "recipient_email": stop.recipient_email,
        "recipient_phone": stop.recipient_phone,
        "instructions": stop.instructions,
        "proof_policy": stop.proof_policy.to_dict(),
        "status": StopStatus.PENDING,
        "version": 1,
        "material_version": 1,
        "cancel_reason": "",
        "created_at": now,
        "updated_at": now,
    }
