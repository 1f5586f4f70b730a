"""Positions in the sync request, through the real /api/v1/sync endpoint (SQLite and
PostgreSQL): kept during the shift only, the newest as the driver's position, the
day's trail bounded; bad fixes refused with the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, DriverFix, DriverPosition, Stop
from backend.domain.clock import SetClock
from backend.domain.positions import MAX_FIXES_PER_DAY
from tests.conftest import World
from tests.sync.helpers import Device

DAY = datetime(2026, 11, 24, tzinfo=UTC)  # the tests' org works in UTC; windows 09:00-17:00


def fix(hour: float, lat: float = 47.62, **extra: Any) -> dict[str, Any]:
    return {
        "lat": lat,
        "lon": -122.33,
        "accuracy_m": 12.5,
        "recorded_at": (DAY + timedelta(hours=hour)).isoformat(),
        **extra,
    }


def _fixes(session: Session, driver_id: int) -> list[datetime]:
    session.rollback()
    return list(
        session.scalars(
            select(DriverFix.recorded_at)
            .where(DriverFix.driver_id == driver_id)
            .order_by(DriverFix.recorded_at)
        )
    )


def test_fixes_in_the_shift_are_kept_and_the_newest_is_the_position(
    device: Device, stops: list[int], world: World, session: Session
) -> None:
    response = device.sync(positions=[fix(16.5, lat=47.63), fix(8.5), fix(12)])
    assert response.status_code == 200, response.get_json()
    driver = world.users["driver_a"]
    assert [moment.hour for moment in _fixes(session, driver)] == [8, 12, 16]
    position = session.get(DriverPosition, driver)
    assert position is not None
    assert (position.lat, position.accuracy_m) == (47.63, 12.5)
    assert position.recorded_at == DAY + timedelta(hours=16.5)


def test_fixes_outside_the_shift_or_without_a_manifest_are_dropped(
    device: Device, device_b: Device, stops: list[int], world: World, session: Session
) -> None:
    # Shift: 08:00 (an hour before the first window) to 18:00 (an hour after the last).
    assert device.sync(positions=[fix(7.9), fix(8.0), fix(18.0), fix(16.99)]).status_code == 200
    assert [m.hour for m in _fixes(session, world.users["driver_a"])] == [8, 16]
    # driver_b has no manifest today: not on shift at all.
    assert device_b.sync(positions=[fix(12)]).status_code == 200
    assert _fixes(session, world.users["driver_b"]) == []
    assert session.get(DriverPosition, world.users["driver_b"]) is None


@pytest.fixture
def evening(clock: SetClock) -> None:
    """19:45, set before the device logs in (its token is only good for 15 minutes)."""
    clock.set(DAY + timedelta(hours=19, minutes=45))


@pytest.mark.usefixtures("evening")
def test_a_late_completion_stretches_the_shift(
    device: Device, stops: list[int], world: World, session: Session
) -> None:
    device.clock_ms = int((DAY + timedelta(hours=18, minutes=30)).timestamp() * 1000)
    delivered = device.event(stops[0])  # recorded at 18:31
    assert device.sync([delivered]).status_code == 200
    # The shift now ends at 19:31, an hour after that completion, not at 18:00.
    assert device.sync(positions=[fix(19 + 20 / 60), fix(19 + 35 / 60)]).status_code == 200
    assert [(m.hour, m.minute) for m in _fixes(session, world.users["driver_a"])] == [(19, 20)]


def test_a_fix_from_the_future_is_dropped_but_the_events_go_through(
    device: Device, stops: list[int], world: World, session: Session
) -> None:
    # The clock is 17:00; a device 30 minutes ahead is wrong, its events still count.
    response = device.sync([device.event(stops[0])], positions=[fix(17.5), fix(16)])
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "applied"
    assert [m.hour for m in _fixes(session, world.users["driver_a"])] == [16]


def test_an_older_batch_arriving_late_does_not_move_the_driver_back(
    device: Device, stops: list[int], world: World, session: Session
) -> None:
    device.sync(positions=[fix(16, lat=47.70)])
    device.sync(positions=[fix(15, lat=47.50)])
    session.rollback()
    position = session.get(DriverPosition, world.users["driver_a"])
    assert position is not None
    assert position.lat == 47.70
    assert len(_fixes(session, world.users["driver_a"])) == 2


def test_the_days_trail_keeps_only_the_newest_fixes(
    device: Device, stops: list[int], world: World, session: Session
) -> None:
    start = 9.0
    batches = MAX_FIXES_PER_DAY // 20 + 2
    for batch in range(batches):
        positions = [fix(start + (batch * 20 + n) / 120) for n in range(20)]
        assert device.sync(positions=positions).status_code == 200
    kept = _fixes(session, world.users["driver_a"])
    assert len(kept) == MAX_FIXES_PER_DAY
    assert kept[0] == DAY + timedelta(hours=start + (batches * 20 - MAX_FIXES_PER_DAY) / 120)


@pytest.mark.parametrize(
    ("positions", "where"),
    [
        ([fix(12)] * 21, "positions"),
        ([fix(12, lat=91)], "lat"),
        ([{**fix(12), "lon": -180.5}], "lon"),
        ([fix(12, accuracy_m=-1)], "accuracy_m"),
        ([{"lat": 47.6, "lon": -122.3}], "recorded_at"),
        ([{**fix(12), "recorded_at": "2026-11-24T12:00:00"}], "recorded_at"),
        ([{**fix(12), "extra": 1}], "extra"),
        ("not a list", "positions"),
    ],
)
def test_bad_fixes_refuse_the_request_and_store_nothing(
    device: Device,
    stops: list[int],
    world: World,
    session: Session,
    positions: Any,
    where: str,
) -> None:
    response = device.sync([device.event(stops[0])], positions=positions)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert where in str(body["errors"])
    assert _fixes(session, world.users["driver_a"]) == []
    assert session.scalar(select(func.count()).select_from(DoorEventRow)) == 0
    stop = session.get(Stop, stops[0])
    assert stop is not None
    assert stop.status.value == "pending"
