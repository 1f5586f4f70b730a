"""Pulling plan changes: snapshots, cursors that never skip, removals on reassignment."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import Organization, Stop
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync import plan_ops
from tests.sync.helpers import Device

AUCKLAND = "Pacific/Auckland"
ONE_DAY = timedelta(days=1)


def test_a_null_cursor_returns_every_stop_of_the_drivers_day(
    device: Device, stops: list[int]
) -> None:
    body = device.sync(cursor=None).get_json()
    assert [c["stop_id"] for c in body["changes"]] == stops
    assert all(c["op"] == "upsert" and c["stop"]["version"] == 1 for c in body["changes"])
    assert body["has_more"] is False
    assert int(body["cursor"]) > 0
    assert (body["snapshot"], body["service_date"]) == (True, SERVICE_DATE.isoformat())
    assert {c["stop"]["service_date"] for c in body["changes"]} == {SERVICE_DATE.isoformat()}


def test_a_snapshot_holds_only_today_not_the_days_before_or_after(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    for other_day in (SERVICE_DATE - ONE_DAY, SERVICE_DATE + ONE_DAY):
        make_manifest(session, world.org_id, world.users["driver_a"], 2, service_date=other_day)
    session.commit()
    body = device.sync(cursor=None).get_json()
    assert [c["stop_id"] for c in body["changes"]] == stops
    assert [c["stop"]["sequence"] for c in body["changes"]] == [1, 2, 3]


def test_the_days_snapshot_follows_the_organizations_date_not_utcs(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    # The clock reads 17:00 UTC on SERVICE_DATE: in Auckland it is already 06:00 the next day.
    session.execute(
        update(Organization).where(Organization.id == world.org_id).values(timezone=AUCKLAND)
    )
    tomorrow = make_manifest(
        session, world.org_id, world.users["driver_a"], 2, service_date=SERVICE_DATE + ONE_DAY
    )
    session.commit()
    body = device.sync(cursor=None).get_json()
    assert body["service_date"] == (SERVICE_DATE + ONE_DAY).isoformat()
    assert body["time_zone"] == AUCKLAND  # the device shows times in it
    held = session.scalars(select(Stop.id).where(Stop.manifest_id == tomorrow.id).order_by(Stop.id))
    assert [c["stop_id"] for c in body["changes"]] == list(held)


def test_nothing_changed_means_no_changes(device: Device, stops: list[int]) -> None:
    device.sync(cursor=None)
    body = device.sync().get_json()
    assert body["changes"] == []


def test_a_cancellation_reaches_the_driver_as_an_upsert(
    device: Device, stops: list[int], session: Session
) -> None:
    device.sync(cursor=None)
    plan_ops.cancel(session, stops[1])
    [change] = device.sync().get_json()["changes"]
    assert change["op"] == "upsert"
    assert change["stop"]["status"] == "cancelled"
    assert change["stop"]["version"] == 2


def test_reassignment_removes_from_one_driver_and_gives_the_other_a_snapshot(
    device: Device, device_b: Device, stops: list[int], session: Session, world: World
) -> None:
    device.sync(cursor=None)
    device_b.sync(cursor=None)
    plan_ops.reassign(session, stops[2], world.users["driver_b"])
    [removal] = device.sync().get_json()["changes"]
    assert (removal["op"], removal["stop_id"]) == ("remove", stops[2])
    [snapshot] = device_b.sync().get_json()["changes"]
    assert (snapshot["op"], snapshot["stop_id"]) == ("upsert", stops[2])
    assert snapshot["stop"]["address"]
    assert snapshot["stop"]["parcels"]


def test_paging_returns_every_change_exactly_once(
    device: Device, stops: list[int], session: Session
) -> None:
    device.sync(cursor=None)
    for stop_id in stops:
        plan_ops.change_address(session, stop_id, f"{stop_id} Changed St")
    seen: list[int] = []
    while True:
        body = device.sync(pull_limit=1).get_json()
        seen.extend(c["stop_id"] for c in body["changes"])
        if not body["has_more"]:
            break
    assert seen == stops


def test_several_changes_to_one_stop_arrive_as_its_latest_state(
    device: Device, stops: list[int], session: Session
) -> None:
    device.sync(cursor=None)
    plan_ops.change_address(session, stops[0], "first")
    plan_ops.change_address(session, stops[0], "second")
    [change] = device.sync().get_json()["changes"]
    assert change["stop"]["address"] == "second"
    assert change["stop"]["version"] == 3


def test_a_malformed_cursor_is_a_validation_error(device: Device, stops: list[int]) -> None:
    response = device.sync(cursor="yesterday")
    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]
