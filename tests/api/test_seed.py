"""The demo seed: a believable Seattle day that a driver can log in to."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import demo.setup
from backend.config import Settings
from backend.db.models import Depot, Manifest, Parcel, Stop, User
from backend.domain.clock import SetClock
from backend.domain.geo import haversine_m, parse_geofence
from backend.domain.stops import ProofPolicy
from demo.seed import PlannedStop, Serials, database_is_empty, plan_driver_day, seed_demo
from demo.seed_data import AGE_RESTRICTED, METRO_BOUNDS, NEIGHBOURHOODS, Neighbourhood
from demo.setup import seed_if_empty

TODAY = date(2026, 11, 24)
SEATTLE = ZoneInfo("America/Los_Angeles")
ADDRESS = re.compile(r"^(\d+) (.+?)(?: (?:Apt|Unit) \w+| #\w+)?, Seattle, WA (981\d\d)$")
# About 50 m of slack around a neighbourhood's street grid: houses sit beside the street.
SLACK_DEG = 0.0007


def _stops_by_driver(session: Session) -> dict[str, list[Stop]]:
    rows = session.execute(
        select(User.username, Stop)
        .join(Manifest, Manifest.driver_id == User.id)
        .join(Stop, Stop.manifest_id == Manifest.id)
        .order_by(User.username, Stop.sequence)
    )
    stops: dict[str, list[Stop]] = defaultdict(list)
    for username, stop in rows:
        stops[username].append(stop)
    return stops


def _area(username: str) -> Neighbourhood:
    return NEIGHBOURHOODS[int(username.removeprefix("driver")) - 1]


def test_seeding_creates_every_demo_user_with_their_role(
    session: Session, settings: Settings
) -> None:
    assert database_is_empty(session)
    summary = seed_demo(session, settings, TODAY)
    users = session.execute(select(User.username, User.role, User.full_name)).all()
    assert {name: role.value for name, role, _ in users} == {
        **{f"driver{n}": "driver" for n in range(1, 6)},
        "dispatch": "dispatcher",
        "support": "support",
        "admin": "admin",
    }
    assert all(len(full_name.split()) == 2 for _, _, full_name in users)
    assert summary.users == 8
    assert summary.depots == session.scalar(select(func.count()).select_from(Depot)) == 2
    assert not database_is_empty(session)


def test_each_driver_has_120_to_160_stops_in_contiguous_sequence(
    session: Session, settings: Settings
) -> None:
    summary = seed_demo(session, settings, TODAY)
    manifests = session.scalars(select(Manifest)).all()
    assert len(manifests) == summary.manifests == 5
    assert {m.service_date for m in manifests} == {TODAY}
    for stops in _stops_by_driver(session).values():
        assert 120 <= len(stops) <= 160
        assert [s.sequence for s in stops] == list(range(1, len(stops) + 1))


def test_each_driver_covers_one_neighbourhood_with_matching_addresses(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    (lat_lo, lat_hi), (lon_lo, lon_hi) = METRO_BOUNDS["lat"], METRO_BOUNDS["lon"]
    for username, stops in _stops_by_driver(session).items():
        area = _area(username)
        (south, north), (west, east) = area.bounds()
        street_names = {street.name for street in area.streets}
        for stop in stops:
            assert lat_lo < stop.lat < lat_hi
            assert lon_lo < stop.lon < lon_hi
            assert south - SLACK_DEG < stop.lat < north + SLACK_DEG, stop.address
            assert west - SLACK_DEG < stop.lon < east + SLACK_DEG, stop.address
            match = ADDRESS.match(stop.address)
            assert match is not None, stop.address
            assert match.group(2) in street_names
            assert match.group(3) == area.zip_code(stop.lat, stop.lon)
        assert len({s.address for s in stops}) == len(stops)


def test_house_numbers_agree_with_coordinates(session: Session, settings: Settings) -> None:
    seed_demo(session, settings, TODAY)
    for username, stops in _stops_by_driver(session).items():
        streets = {street.name: street for street in _area(username).streets}
        for stop in stops:
            match = ADDRESS.match(stop.address)
            assert match is not None
            lat, lon = streets[match.group(2)].locate(int(match.group(1)))
            # The house is set back from the centre line, never a block away from it.
            assert haversine_m(lat, lon, stop.lat, stop.lon) < 20, stop.address


def test_routes_start_near_the_depot_and_hop_between_neighbours(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    for username, stops in _stops_by_driver(session).items():
        depot = _area(username).depot
        first = haversine_m(depot.lat, depot.lon, stops[0].lat, stops[0].lon)
        assert first == min(haversine_m(depot.lat, depot.lon, s.lat, s.lon) for s in stops)
        hops = [haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(stops)]
        # A random order would average well over a kilometre between stops.
        assert sum(hops) / len(hops) < 350, username


def test_stops_carry_windows_recipients_policies_and_instructions(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    stops = session.scalars(select(Stop)).all()
    descriptions: dict[int, list[str]] = defaultdict(list)
    for stop_id, description in session.execute(select(Parcel.stop_id, Parcel.description)):
        descriptions[stop_id].append(description)
    for stop in stops:
        assert stop.window_start is not None
        assert stop.window_end is not None
        start, end = stop.window_start.astimezone(SEATTLE), stop.window_end.astimezone(SEATTLE)
        assert start.date() == end.date() == TODAY
        assert 8 <= start.hour < end.hour <= 21
        assert re.fullmatch(r"206-555-01\d\d", stop.recipient_phone)
        assert re.fullmatch(r"SEA-20261124-\d{5}", stop.order_number)
        assert len(stop.recipient_name.split()) == 2
        assert ProofPolicy.from_dict(stop.proof_policy).to_dict() == stop.proof_policy
        has_alcohol = any(d in AGE_RESTRICTED for d in descriptions[stop.id])
        assert stop.proof_policy["age_check"] == has_alcohol
        if stop.geofence is not None:
            [ring] = parse_geofence(stop.geofence)
            assert ring[0] == ring[-1]
    assert len({s.order_number for s in stops}) == len(stops)
    share = len(stops) / 100
    assert 15 * share < sum(1 for s in stops if s.geofence) < 25 * share
    assert 22 * share < sum(1 for s in stops if s.instructions) < 38 * share
    proven = sum(1 for s in stops if s.proof_policy["signature"] or s.proof_policy["photo"])
    assert proven > 90 * share
    assert any(s.proof_policy["age_check"] for s in stops)
    assert any(s.proof_policy["parcel_scan"] for s in stops)
    windows = Counter(
        (s.window_start.astimezone(SEATTLE).hour, s.window_end.astimezone(SEATTLE).hour)
        for s in stops
        if s.window_start is not None and s.window_end is not None
    )
    assert {(8, 20), (8, 12), (12, 17), (17, 21)} <= set(windows)
    assert any(end - start == 2 for start, end in windows)


def test_every_stop_has_one_to_three_parcels_with_unique_barcodes(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    per_stop = Counter(session.scalars(select(Parcel.stop_id)))
    assert set(per_stop.values()) <= {1, 2, 3}
    assert len(per_stop) == session.scalar(select(func.count()).select_from(Stop))
    barcodes = list(session.scalars(select(Parcel.barcode)))
    assert len(set(barcodes)) == len(barcodes)
    assert all(re.fullmatch(r"DS20261124\d{6}", b) for b in barcodes)


def test_the_plan_is_the_same_every_time() -> None:
    def plan() -> list[PlannedStop]:
        return plan_driver_day(NEIGHBOURHOODS[0], TODAY, 150, random.Random(7), Serials())

    assert plan() == plan()


def test_default_day_is_today_in_seattle(
    app: Flask, session: Session, settings: Settings, clock: SetClock
) -> None:
    # 20:00 in Seattle is 04:00 the next day in UTC: the demo's day is Seattle's.
    clock.set(datetime.combine(TODAY, time(20, 0), SEATTLE))
    with app.app_context():
        seed_demo(session, settings)
    assert set(session.scalars(select(Manifest.service_date))) == {TODAY}


def test_a_demo_driver_can_log_in_and_read_today_in_order(
    session: Session, settings: Settings, client: FlaskClient
) -> None:
    seed_demo(session, settings, TODAY)
    login = client.post(
        "/api/v1/auth/token",
        json={"username": "driver1", "password": settings.demo_password, "device_id": "demo"},
    )
    assert login.status_code == 200
    token = login.get_json()["access_token"]
    response = client.get(
        f"/api/v1/manifests/mine?date={TODAY}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    served = response.get_json()["stops"]
    planned = _stops_by_driver(session)["driver1"]
    assert [s["sequence"] for s in served] == list(range(1, len(planned) + 1))
    assert [s["order_number"] for s in served] == [s.order_number for s in planned]


def test_a_demo_driver_can_sync_a_delivery_on_a_seeded_stop(
    session: Session, settings: Settings, client: FlaskClient
) -> None:
    from tests.sync.helpers import Device

    seed_demo(session, settings, TODAY)
    token = client.post(
        "/api/v1/auth/token",
        json={"username": "driver1", "password": settings.demo_password, "device_id": "demo"},
    ).get_json()["access_token"]
    device = Device(client, "demo", {"Authorization": f"Bearer {token}"})
    first = device.sync(cursor=None).get_json()["changes"][0]
    [result] = device.sync([device.event(first["stop_id"], "failed")]).get_json()["results"]
    assert result["status"] == "applied"


def test_setup_seeds_an_empty_database_once(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert seed_if_empty(settings) is True
    session.rollback()
    assert not database_is_empty(session)

    def must_not_seed(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("seed_demo called on a database that has data")

    monkeypatch.setattr(demo.setup, "seed_demo", must_not_seed)
    assert seed_if_empty(settings) is False
    assert session.scalar(select(func.count()).select_from(Manifest)) == 5
