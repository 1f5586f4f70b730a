"""The device clock is not the only witness: the server bounds each recorded time by what
it saw itself, and keeps (but raises) a report outside those bounds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conflict, DoorEventRow
from backend.domain.clock import SetClock
from tests.sync.helpers import Device


def _recorded(device: Device, stop_id: int, at: datetime) -> dict[str, Any]:
    device.clock_ms = int(at.timestamp() * 1000) - 60_000  # event() adds a minute
    return device.event(stop_id)


def _later(device: Device, clock: SetClock, by: timedelta) -> None:
    """Move the clock on; the device logs in again, as its old token has expired."""
    clock.advance(by)
    response = device.client.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": device.device_id},
    )
    device.headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def _conflict(session: Session, stop_id: int, kind: str) -> Conflict:
    session.rollback()
    [conflict] = session.scalars(
        select(Conflict).where(Conflict.stop_id == stop_id, Conflict.kind == kind)
    ).all()
    return conflict


def test_a_delivery_recorded_in_the_future_is_kept_and_raises_clock_skew(
    device: Device, stops: list[int], session: Session, clock: SetClock
) -> None:
    future = _recorded(device, stops[0], clock.now() + timedelta(hours=2))
    [result] = device.sync([future]).get_json()["results"]  # no sent_at: no skew measured
    assert (result["status"], result["code"]) == ("conflict", "clock_skew")
    assert "in the future" in _conflict(session, stops[0], "clock_skew").detail
    assert session.scalar(select(DoorEventRow.event_id)) == future["id"]


def test_a_report_recorded_before_the_device_last_sent_everything_is_backdated(
    device: Device, stops: list[int], session: Session, clock: SetClock
) -> None:
    drained_at = clock.now()
    device.sync([], outbox_drained=True)
    _later(device, clock, timedelta(hours=3))
    # Delivered at 20:00 (outside the 09-17 window), claimed at 16:00: before 17:00, when
    # the device had sent everything it held.
    backdated = _recorded(device, stops[0], drained_at - timedelta(hours=1))
    [result] = device.sync([backdated], sent_at=clock.now().isoformat()).get_json()["results"]

    assert (result["status"], result["code"]) == ("conflict", "backdated")
    detail = _conflict(session, stops[0], "backdated").detail
    assert drained_at.strftime("%H:%M") in detail
    assert (drained_at - timedelta(hours=1)).strftime("%H:%M") in detail


def test_times_within_the_tolerance_or_without_a_drained_sync_raise_nothing(
    device: Device, stops: list[int], session: Session, clock: SetClock
) -> None:
    device.sync([])  # not drained: says nothing about what the device held
    _later(device, clock, timedelta(hours=1))
    offline_for_hours = _recorded(device, stops[0], clock.now() - timedelta(hours=2))
    [result] = device.sync([offline_for_hours], outbox_drained=True).get_json()["results"]
    assert result["status"] == "applied"
    # Recorded while that drained request was on its way: within the tolerance.
    in_flight = _recorded(device, stops[1], clock.now() - timedelta(minutes=2))
    [result] = device.sync([in_flight], sent_at=clock.now().isoformat()).get_json()["results"]
    assert result["status"] == "applied"
