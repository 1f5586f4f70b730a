"""Importing the day's stops: all rows or none, every bad row named."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Parcel, PlanChange, Stop
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]
HEADER = (
    "order_number,address,lat,lon,window_start,window_end,recipient_name,parcels,"
    "signature_required,driver"
)
GOOD = [
    "A-1,100 Pine St,47.61,-122.33,09:00,12:00,Ann Lee,PKG1;PKG2,true,driver_a",
    "A-2,200 Pine St,47.62,-122.34,13:00,17:00,Bo Chan,PKG3,no,driver_a",
    "A-3,300 Pine St,47.63,-122.35,,,Cy Diaz,PKG4,,",
]


def _post_csv(client: FlaskClient, auth: Auth, lines: list[str], date: str = "2026-11-24"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/stops/import?date={date}",
        data="\n".join([HEADER, *lines]) + "\n",
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )


def _count(session: Session, model: type) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_csv_import_creates_every_stop_and_assigns_drivers(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    response = _post_csv(client, auth, GOOD)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["created"] == 3
    assert [(s["driver"], s["sequence"]) for s in body["stops"]] == [
        ("driver_a", 1),
        ("driver_a", 2),
        (None, None),
    ]
    assert _count(session, Parcel) == 4
    manifest = client.get("/api/v1/manifests/mine?date=2026-11-24", headers=auth("driver_a"))
    stops = manifest.get_json()["stops"]
    assert [s["order_number"] for s in stops] == ["A-1", "A-2"]
    assert stops[0]["time_window"]["start"] == "2026-11-24T09:00:00Z"  # org time zone is UTC
    assert stops[0]["proof_policy"]["signature"] is True


def test_imported_stops_are_published_to_their_driver_for_sync(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    _post_csv(client, auth, GOOD)
    assert _count(session, PlanChange) == 2


def test_a_json_import_is_equivalent(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    body = {
        "service_date": "2026-11-24",
        "stops": [
            {
                "order_number": "J-1",
                "address": "1 Main St",
                "lat": 47.6,
                "lon": -122.3,
                "parcels": [{"barcode": "J1", "description": "Box"}],
                "proof_policy": {"photo": True},
                "driver": "driver_b",
                "sequence": 4,
            },
        ],
    }
    response = client.post("/api/v1/stops/import", json=body, headers=auth("dispatcher"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["stops"][0]["sequence"] == 4


def test_a_file_with_bad_rows_is_refused_whole_naming_each(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    lines = [
        GOOD[0],
        "B-2,200 Pine St,91,-122.34,,,X,PKG9,,",
        "B-3,,47.6,-122.3,,,X,PKG8,,",
        GOOD[2],
        "B-5,5 Pine St,47.6,-122.3,14:00,10:00,X,PKG7,maybe,nobody",
    ]
    response = _post_csv(client, auth, lines)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "import_invalid"
    rows = body["errors"]["rows"]
    assert sorted(rows) == ["3", "4", "6"]
    assert "lat" in rows["3"]
    assert "address" in rows["4"]
    assert {"window_end", "signature_required"} <= set(rows["6"])
    assert _count(session, Stop) == 0


@pytest.mark.parametrize("lat", ["NaN", "Infinity", "-inf", "abc"])
def test_non_numbers_and_non_finite_coordinates_are_refused(
    client: FlaskClient, world: World, auth: Auth, lat: str
) -> None:
    response = _post_csv(client, auth, [f"C-1,1 Pine St,{lat},-122.3,,,X,PKG1,,"])
    assert response.status_code == 422
    assert "lat" in response.get_json()["errors"]["rows"]["2"]


def test_duplicate_order_numbers_are_refused_within_a_file_and_against_the_day(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    assert _post_csv(client, auth, [GOOD[0]]).status_code == 201
    response = _post_csv(client, auth, [GOOD[1], GOOD[0], GOOD[1].replace("PKG3", "PKG5")])
    rows = response.get_json()["errors"]["rows"]
    assert "already exists" in rows["3"]["order_number"][0]
    assert "repeats row 2" in rows["4"]["order_number"][0]


def test_an_unknown_driver_is_named(client: FlaskClient, world: World, auth: Auth) -> None:
    response = _post_csv(client, auth, [GOOD[0].replace("driver_a", "support")])
    assert "driver" in response.get_json()["errors"]["rows"]["2"]


def test_an_unknown_column_refuses_the_file(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data="order_number,address,lat,lon,parcels,colour\nA,B,1,2,P,red\n",
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert "colour" in response.get_json()["message"]


def test_an_unknown_json_field_is_named(client: FlaskClient, world: World, auth: Auth) -> None:
    body = {
        "service_date": "2026-11-24",
        "stops": [
            {"order_number": "J", "address": "x", "lat": 1, "lon": 2, "parcels": ["P"], "colour": 1}
        ],
    }
    response = client.post("/api/v1/stops/import", json=body, headers=auth("dispatcher"))
    assert response.get_json()["errors"]["rows"]["0"]["colour"] == ["unknown field"]


def test_a_bad_geofence_is_named(client: FlaskClient, world: World, auth: Auth) -> None:
    body = {
        "service_date": "2026-11-24",
        "stops": [
            {
                "order_number": "J",
                "address": "x",
                "lat": 1,
                "lon": 2,
                "parcels": ["P"],
                "geofence": [[[0, 0], [1, 0], [1, 1]]],
            }
        ],
    }
    response = client.post("/api/v1/stops/import", json=body, headers=auth("dispatcher"))
    assert "geofence" in response.get_json()["errors"]["rows"]["0"]


def test_an_empty_file_is_refused(client: FlaskClient, world: World, auth: Auth) -> None:
    response = _post_csv(client, auth, [])
    assert response.status_code == 422
    assert response.get_json()["code"] == "import_invalid"


def test_a_csv_without_a_date_is_refused(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.post(
        "/api/v1/stops/import",
        data=HEADER + "\n" + GOOD[0],
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert "date" in response.get_json()["errors"]


def test_another_content_type_is_a_415(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data="x",
        headers={**auth("dispatcher"), "Content-Type": "application/xml"},
    )
    assert response.status_code == 415
