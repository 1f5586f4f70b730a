"""Changing, cancelling, assigning and ordering stops; drivers see every change."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Manifest, Stop
from backend.domain.stops import StopStatus
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest

Auth = Callable[[str], dict[str, str]]
MINE = f"/api/v1/manifests/mine?date={SERVICE_DATE}"


def _stops(session: Session, world: World, driver: str = "driver_a", n: int = 3) -> list[int]:
    manifest = make_manifest(session, world.org_id, world.users[driver], stops=n)
    session.commit()
    return list(
        session.scalars(
            select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.sequence)
        )
    )


def test_cancelling_bumps_the_version_and_the_drivers_etag(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    etag = client.get(MINE, headers=auth("driver_a")).headers["ETag"]
    response = client.post(
        f"/api/v1/stops/{ids[1]}/cancel",
        json={"reason": "customer moved"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["status"], response.get_json()["version"]) == ("cancelled", 2)
    again = client.get(MINE, headers={**auth("driver_a"), "If-None-Match": etag})
    assert again.status_code == 200
    assert again.get_json()["stops"][1]["status"] == "cancelled"


def test_cancelling_twice_or_after_an_outcome_is_a_conflict(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    cancel = {"reason": "x"}
    client.post(f"/api/v1/stops/{ids[0]}/cancel", json=cancel, headers=auth("dispatcher"))
    again = client.post(f"/api/v1/stops/{ids[0]}/cancel", json=cancel, headers=auth("dispatcher"))
    assert (again.status_code, again.get_json()["code"]) == (409, "stop_already_cancelled")
    session.rollback()
    stop = session.get(Stop, ids[1])
    assert stop is not None
    stop.status = StopStatus.DELIVERED
    session.commit()
    late = client.post(f"/api/v1/stops/{ids[1]}/cancel", json=cancel, headers=auth("dispatcher"))
    assert (late.status_code, late.get_json()["code"]) == (409, "stop_already_attempted")


def test_a_cancellation_racing_an_offline_delivery_keeps_the_delivery(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for,  # type: ignore[no-untyped-def]
) -> None:
    from tests.sync.helpers import Device

    ids = _stops(session, world)
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    device.sync(cursor=None)
    offline_delivery = device.event(ids[0], base_version=1)  # recorded before the cancel
    client.post(f"/api/v1/stops/{ids[0]}/cancel", json={"reason": "x"}, headers=auth("dispatcher"))
    [result] = device.sync([offline_delivery]).get_json()["results"]
    assert (result["status"], result["code"]) == ("conflict", "delivered_after_cancel")
    stop = client.get(f"/api/v1/stops/{ids[0]}", headers=auth("dispatcher")).get_json()
    assert stop["status"] == "delivered"
    assert stop["cancel_reason"] == "x"


def test_changing_a_stop_bumps_its_version_and_honours_if_match(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    url = f"/api/v1/stops/{ids[0]}"
    changed = client.patch(
        url,
        json={"address": "9 Elm St", "proof_policy": {"photo": True}},
        headers={**auth("dispatcher"), "If-Match": "1"},
    )
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["address"], body["version"]) == ("9 Elm St", 2)
    assert body["proof_policy"]["signature"] is True  # untouched flags keep their value
    assert body["proof_policy"]["photo"] is True
    stale = client.patch(
        url, json={"instructions": "x"}, headers={**auth("dispatcher"), "If-Match": "1"}
    )
    assert (stale.status_code, stale.get_json()["code"]) == (412, "version_mismatch")


def test_bad_changes_are_refused_with_field_errors(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    url = f"/api/v1/stops/{ids[0]}"
    for body, field in (
        ({"lat": 91, "lon": 0}, "lat"),
        ({"lat": 10}, "lat"),
        ({}, "_schema"),
        ({"colour": "red"}, "colour"),
    ):
        response = client.patch(url, json=body, headers=auth("dispatcher"))
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"], body


def test_assigning_moves_stops_between_drivers_and_orders_them(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    a_ids = _stops(session, world, "driver_a")
    b_etag = None
    response = client.put(
        f"/api/v1/manifests/driver_b/{SERVICE_DATE}",
        json={"stop_ids": [a_ids[2], a_ids[0]]},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    assert [s["id"] for s in response.get_json()["stops"]] == [a_ids[2], a_ids[0]]
    mine_a = client.get(MINE, headers=auth("driver_a")).get_json()
    assert [s["id"] for s in mine_a["stops"]] == [a_ids[1]]
    mine_b = client.get(MINE, headers=auth("driver_b"))
    assert [s["sequence"] for s in mine_b.get_json()["stops"]] == [1, 2]
    assert b_etag != mine_b.headers["ETag"]


def test_assigning_a_list_that_drops_stops_unassigns_them(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    client.put(
        f"/api/v1/manifests/driver_a/{SERVICE_DATE}",
        json={"stop_ids": [ids[1]]},
        headers=auth("dispatcher"),
    )
    unassigned = client.get(
        f"/api/v1/stops?date={SERVICE_DATE}&unassigned=true", headers=auth("dispatcher")
    ).get_json()
    assert sorted(s["id"] for s in unassigned["items"]) == sorted([ids[0], ids[2]])


def test_only_stops_that_moved_get_a_new_version(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    client.put(
        f"/api/v1/manifests/driver_a/{SERVICE_DATE}",
        json={"stop_ids": [ids[0], ids[2], ids[1]]},
        headers=auth("dispatcher"),
    )
    session.rollback()
    versions = {s.id: s.version for s in session.scalars(select(Stop))}
    assert versions == {ids[0]: 1, ids[1]: 2, ids[2]: 2}


def test_a_bad_stop_list_changes_nothing(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    ids = _stops(session, world)
    response = client.put(
        f"/api/v1/manifests/driver_b/{SERVICE_DATE}",
        json={"stop_ids": [ids[0], ids[0], 999_999]},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 422
    assert set(response.get_json()["errors"]["stop_ids"]) == {"1", "2"}
    session.rollback()
    assert (
        session.scalar(
            select(Manifest.revision).where(Manifest.driver_id == world.users["driver_a"])
        )
        == 1
    )


def test_listing_and_overview_for_a_day(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _stops(session, world, "driver_a", 2)
    _stops(session, world, "driver_b", 3)
    listed = client.get(
        f"/api/v1/stops?date={SERVICE_DATE}&driver=driver_b", headers=auth("support")
    )
    assert listed.get_json()["total"] == 3
    overview = client.get(
        f"/api/v1/manifests?date={SERVICE_DATE}", headers=auth("support")
    ).get_json()
    assert {(m["driver"], m["stops"], m["by_status"]["pending"]) for m in overview["items"]} == {
        ("driver_a", 2, 2),
        ("driver_b", 3, 3),
    }
    one = client.get(f"/api/v1/manifests/driver_b/{SERVICE_DATE}", headers=auth("dispatcher"))
    assert len(one.get_json()["stops"]) == 3
    assert (
        client.get("/api/v1/manifests/driver_b/not-a-date", headers=auth("dispatcher")).status_code
        == 422
    )
