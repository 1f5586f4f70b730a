"""Pulling plan changes: snapshots, cursors that never skip, removals on reassignment."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.conftest import World
from tests.sync import plan_ops
from tests.sync.helpers import Device


def test_a_null_cursor_returns_every_stop_the_driver_holds(
    device: Device, stops: list[int]
) -> None:
    body = device.sync(cursor=None).get_json()
    assert [c["stop_id"] for c in body["changes"]] == stops
    assert all(c["op"] == "upsert" and c["stop"]["version"] == 1 for c in body["changes"])
    assert body["has_more"] is False
    assert int(body["cursor"]) > 0


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
