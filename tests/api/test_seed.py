"""The demo seed: a believable Seattle day that a driver can log in to."""

from __future__ import annotations

from collections import Counter
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.cli import seed_if_empty
from backend.config import Settings
from backend.db.models import Manifest, Parcel, Stop, User
from backend.domain.geo import parse_geofence
from backend.seed import database_is_empty, seed_demo
from backend.seed_data import METRO_BOUNDS

TODAY = date(2026, 11, 24)


def test_seeding_creates_every_demo_user_with_their_role(
    session: Session, settings: Settings
) -> None:
    assert database_is_empty(session)
    seed_demo(session, settings, TODAY)
    roles = {name: role for name, role in session.execute(select(User.username, User.role))}
    assert {name: role.value for name, role in roles.items()} == {
        **{f"driver{n}": "driver" for n in range(1, 6)},
        "dispatch": "dispatcher",
        "support": "support",
        "admin": "admin",
    }
    assert not database_is_empty(session)


def test_each_driver_has_120_to_160_stops_in_driving_order(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    manifests = session.scalars(select(Manifest)).all()
    assert len(manifests) == 5
    for manifest in manifests:
        assert manifest.service_date == TODAY
        sequences = list(
            session.scalars(select(Stop.sequence).where(Stop.manifest_id == manifest.id))
        )
        assert 120 <= len(sequences) <= 160
        assert sorted(sequences) == list(range(1, len(sequences) + 1))


def test_stops_are_real_looking_seattle_deliveries(session: Session, settings: Settings) -> None:
    seed_demo(session, settings, TODAY)
    stops = session.scalars(select(Stop)).all()
    (lat_lo, lat_hi), (lon_lo, lon_hi) = METRO_BOUNDS["lat"], METRO_BOUNDS["lon"]
    for stop in stops:
        assert lat_lo < stop.lat < lat_hi
        assert lon_lo < stop.lon < lon_hi
        assert stop.address.split(", ")[1:3] == ["Seattle", stop.address.split(", ")[2]]
        assert stop.address.endswith(tuple(f"WA 981{n:02d}" for n in range(100)))
        assert stop.window_start is not None
        assert stop.window_end is not None
        assert stop.window_end > stop.window_start
        if stop.geofence is not None:
            parse_geofence(stop.geofence)
    assert len({s.order_number for s in stops}) == len(stops)
    assert sum(1 for s in stops if s.geofence) > len(stops) // 10
    assert sum(1 for s in stops if s.instructions) > len(stops) // 10


def test_every_stop_has_one_to_three_parcels_with_unique_barcodes(
    session: Session, settings: Settings
) -> None:
    seed_demo(session, settings, TODAY)
    per_stop = Counter(session.scalars(select(Parcel.stop_id)))
    assert set(per_stop.values()) <= {1, 2, 3}
    assert len(per_stop) == session.scalar(select(func.count()).select_from(Stop))
    barcodes = list(session.scalars(select(Parcel.barcode)))
    assert len(set(barcodes)) == len(barcodes)


def test_a_demo_driver_can_log_in_and_read_today(
    session: Session, settings: Settings, client: FlaskClient
) -> None:
    seed_demo(session, settings, TODAY)
    login = client.post(
        "/api/v1/auth/token",
        json={"username": "driver1", "password": settings.demo_password, "device_id": "demo"},
    )
    token = login.get_json()["access_token"]
    response = client.get(
        f"/api/v1/manifests/mine?date={TODAY}", headers={"Authorization": f"Bearer {token}"}
    )
    body = response.get_json()
    assert [s["sequence"] for s in body["stops"]] == list(range(1, len(body["stops"]) + 1))


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


def test_setup_does_not_seed_twice(session: Session, settings: Settings) -> None:
    assert seed_if_empty(settings) is True
    assert seed_if_empty(settings) is False
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Manifest)) == 5
