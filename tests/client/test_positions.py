"""The device sends a few recent fixes with its sync while the shift is on, and forgets
them once the server answered (against a real server on loopback)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import DriverFix, DriverPosition
from backend.domain.clock import SetClock
from driver_client.capture import Fix, FixedLocation
from driver_client.device import Device
from driver_client.fixes import EVERY, KEEP, take_shift_fix
from driver_client.transport import Offline
from tests.client.conftest import LiveServer
from tests.conftest import World


def _device(tmp_path: Path, server: LiveServer) -> Device:
    now = server.clock.now
    device = Device(tmp_path / "phone", server.url, FixedLocation(47.62, -122.33, 9, now), now)
    device.login("driver_a", "pw")
    return device


def _server_fixes(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(DriverFix)) or 0)


def test_a_fix_rides_along_with_the_sync_and_is_forgotten_once_answered(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], world: World, session: Session
) -> None:
    device = _device(tmp_path, server)
    device.engine.sync()  # the first sync brings the day: before it, no shift is known
    assert _server_fixes(session) == 0
    device.engine.sync()
    assert _server_fixes(session) == 1
    position = session.get(DriverPosition, world.users["driver_a"])
    assert position is not None
    assert (position.lat, position.accuracy_m) == (47.62, 9)
    assert device.store.fixes_to_send() == []


def test_fixes_taken_offline_wait_for_the_next_sync(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    clock: SetClock,
) -> None:
    device = _device(tmp_path, server)
    device.engine.sync()
    server.stop()
    for _ in range(3):
        clock.advance(EVERY)
        with pytest.raises(Offline):
            device.engine.sync()
    assert len(device.store.fixes_to_send()) == 3
    server.start()
    device.engine.sync()  # within half a minute of the last one: no new fix
    assert _server_fixes(session) == 3
    assert device.store.fixes_to_send() == []


def test_only_the_newest_fixes_are_kept_and_not_more_than_one_every_half_minute(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], clock: SetClock
) -> None:
    device = _device(tmp_path, server)
    device.engine.sync()
    location = FixedLocation(47.62, -122.33, 9, clock.now)
    assert take_shift_fix(device.store, location)
    first = device.store.last_fix_time()
    assert not take_shift_fix(device.store, location)  # the same half-minute
    for _ in range(KEEP + 5):
        clock.advance(EVERY)
        assert take_shift_fix(device.store, location)
    kept = [fix["recorded_at"] for _, fix in device.store.fixes_to_send()]
    assert len(kept) == KEEP
    assert first not in kept
    assert kept == sorted(kept)
    assert kept[-1] == device.store.last_fix_time()


def test_no_fix_is_kept_off_shift_or_from_a_glitching_gps(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], clock: SetClock
) -> None:
    device = _device(tmp_path, server)
    location = FixedLocation(47.62, -122.33, 9, clock.now)
    assert not take_shift_fix(device.store, location)  # no day pulled yet: no shift

    class Glitching:
        def current_fix(self) -> Fix | None:
            return Fix(float("nan"), -122.33, 5, clock.now())

    device.engine.sync()
    assert not take_shift_fix(device.store, Glitching())
    assert not take_shift_fix(device.store, None)
    clock.advance(timedelta(minutes=1))
    assert take_shift_fix(device.store, location)
