"""The real driver app against a revoked device: its logins end, its evidence does not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Device as DeviceRow
from backend.db.models import Stop
from driver_client import APP_VERSION
from driver_client.capture import Evidence, FixedLocation
from driver_client.device import Device
from driver_client.sync import BackgroundSync
from driver_client.transport import ServerRefused
from tests.client.conftest import LiveServer
from tests.conftest import World
from tests.sync.helpers import png

SIGNATURE = Evidence(png("strokes"), "signature", "image/png")


def _device(tmp_path: Path, server: LiveServer) -> Device:
    now = server.clock.now
    return Device(tmp_path / "phone", server.url, FixedLocation(47.611, -122.331, 8, now), now)


def _row(session: Session) -> DeviceRow:
    session.rollback()
    return session.scalars(select(DeviceRow).where(DeviceRow.user_id.is_not(None))).one()


def test_the_app_reports_its_version_and_what_it_still_owes(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.engine.sync()
    row = _row(session)
    assert (row.app_version, row.pending_events) == (APP_VERSION, 0)


def test_a_delivery_captured_before_a_revocation_is_accepted_after_a_fresh_login(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    client: FlaskClient,
    auth: Callable[[str], dict[str, str]],
) -> None:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.engine.sync()
    device.capture.deliver(stop_ids[0], "Dana", evidence=[SIGNATURE])
    server.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    revoked = client.post(f"/api/v1/admin/devices/{_row(session).id}/revoke", headers=auth("admin"))
    assert revoked.status_code == 200
    with pytest.raises(ServerRefused):
        device.engine.sync()
    assert device.store.pending_count() == 1  # nothing captured is lost
    device.login("driver_a", "pw")
    report = device.engine.sync()
    assert (report.acknowledged, report.rejected) == (1, 0)
    session.rollback()
    stop = session.get(Stop, stop_ids[0])
    assert stop is not None
    assert stop.status.value == "delivered"


def test_a_password_reset_ends_the_background_sync_and_keeps_the_outbox(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    client: FlaskClient,
    auth: Callable[[str], dict[str, str]],
    world: World,
) -> None:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.engine.sync()
    device.capture.deliver(stop_ids[0], "Dana", evidence=[SIGNATURE])
    reset = client.post(
        f"/api/v1/admin/users/{world.users['driver_a']}/reset-password",
        json={},
        headers=auth("admin"),
    )
    assert reset.status_code == 200
    sync = BackgroundSync(device.engine)
    sync.run_once()
    assert sync.login_ended
    assert sync.last_error is not None
    assert "Log in again" in sync.last_error
    # No dead token survives a restart, and nothing captured is touched.
    assert device.store.get("access_token") is None
    assert device.store.get("refresh_token") is None
    assert device.store.pending_count() == 1
    assert len(device.store.pending_files()) == 1
    device.login("driver_a", reset.get_json()["one_time_password"])
    device.transport.change_password(reset.get_json()["one_time_password"], "a long one of mine")
    report = device.engine.sync()
    assert (report.acknowledged, report.rejected) == (1, 0)


def test_a_refusal_that_is_not_about_the_login_keeps_the_sync_running(
    tmp_path: Path, server: LiveServer, stop_ids: list[int]
) -> None:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.store.put("cursor", "not a cursor the server wrote")
    sync = BackgroundSync(device.engine)
    sync.run_once()
    assert not sync.login_ended
    assert sync.last_error is not None
    assert sync.last_error.startswith("The server refused the sync: ")
    assert device.store.get("access_token") is not None
