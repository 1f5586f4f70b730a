"""The driver client's core against a real server: offline capture, sync, recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, Stop
from driver_client.capture import CaptureRefused, Evidence, FixedLocation
from driver_client.device import Device
from driver_client.transport import Offline
from tests.client.conftest import LiveServer
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync.helpers import jpeg, png

ONE_DAY = timedelta(days=1)

SIGNATURE = Evidence(png("strokes"), "signature", "image/png")
PHOTO = Evidence(jpeg("door"), "photo", "image/jpeg")


def _device(tmp_path: Path, server: LiveServer) -> Device:
    now = server.clock.now  # the phone's clock agrees with the server's
    return Device(tmp_path / "phone", server.url, FixedLocation(47.611, -122.331, 8, now), now)


def _logged_in(tmp_path: Path, server: LiveServer) -> Device:
    device = _device(tmp_path, server)
    device.login("driver_a", "pw")
    device.engine.sync()
    return device


def _server_events(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(DoorEventRow)) or 0)


def _server_status(session: Session, stop_id: int) -> str:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop.status.value


def test_first_sync_brings_the_days_stops(
    tmp_path: Path, server: LiveServer, stop_ids: list[int]
) -> None:
    device = _logged_in(tmp_path, server)
    assert [s["id"] for s in device.store.stops()] == stop_ids


def test_deliveries_captured_offline_reach_the_server_once_it_is_back(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    device = _logged_in(tmp_path, server)
    server.stop()
    for stop_id in stop_ids:
        device.capture.deliver(stop_id, "Dana", evidence=[SIGNATURE, PHOTO])
    with pytest.raises(Offline):
        device.engine.sync()
    assert device.store.pending_count() == 3
    server.start()
    report = device.engine.sync()
    assert (report.acknowledged, report.rejected, report.requests) == (3, 0, 1)
    assert report.uploaded == 2  # the same signature and photo bytes serve all three
    assert device.store.pending_count() == 0
    assert [_server_status(session, s) for s in stop_ids] == ["delivered"] * 3
    device.engine.sync()
    assert _server_events(session) == 3


def test_a_lost_response_is_resent_and_answered_duplicate(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = _logged_in(tmp_path, server)
    device.capture.fail(stop_ids[0], "recipient_absent")
    real_send = device.transport.send

    def send_then_lose_the_answer(*args, **kwargs):  # type: ignore[no-untyped-def]
        real_send(*args, **kwargs)
        raise Offline("connection reset after the server committed")

    monkeypatch.setattr(device.transport, "send", send_then_lose_the_answer)
    with pytest.raises(Offline):
        device.engine.sync()
    assert device.store.pending_count() == 1  # no acknowledgement named it
    monkeypatch.setattr(device.transport, "send", real_send)
    device.engine.sync()
    assert device.store.pending_count() == 0
    [row] = device.store.query("SELECT result FROM outbox")
    assert row["result"] == "duplicate"
    assert _server_events(session) == 1


def test_the_proof_policy_is_enforced_before_saving(
    tmp_path: Path, server: LiveServer, stop_ids: list[int]
) -> None:
    device = _logged_in(tmp_path, server)
    with pytest.raises(CaptureRefused) as refused:
        device.capture.deliver(stop_ids[0], "Dana", evidence=[PHOTO])
    assert "a signature is required" in refused.value.reasons
    assert device.store.pending_count() == 0


def test_an_expired_token_is_refreshed_mid_sync(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    settings,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from backend.auth.tokens import Principal, TokenType, issue_token
    from backend.domain.roles import Role

    device = _logged_in(tmp_path, server)
    claims = __import__("jwt").decode(
        device.store.get("access_token"), options={"verify_signature": False}
    )
    expired = issue_token(
        replace(settings, access_token_ttl_s=-3600),
        TokenType.ACCESS,
        Principal(int(claims["sub"]), claims["org"], Role.DRIVER, "driver_a", device.device_id),
        now=server.clock.now(),
    ).token
    device.store.put("access_token", expired)
    device.capture.arrive(stop_ids[0])
    assert device.engine.sync().acknowledged == 1
    assert device.store.get("access_token") != expired


def test_a_stop_taken_away_mid_stop_keeps_what_was_captured(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    auth,
    world,  # type: ignore[no-untyped-def]
) -> None:
    from tests.sync import plan_ops

    device = _logged_in(tmp_path, server)
    device.capture.deliver(stop_ids[0], "Dana", evidence=[SIGNATURE])
    plan_ops.reassign(session, stop_ids[0], world.users["driver_b"])
    report = device.engine.sync()
    assert stop_ids[0] not in [s["id"] for s in device.store.stops()]
    assert report.acknowledged == 1
    assert [c["kind"] for c in report.conflicts] == ["reported_by_unassigned_driver"]
    assert device.store.query("SELECT uploaded FROM files")[0]["uploaded"] == 1


def test_files_from_a_capture_that_crashed_before_commit_are_kept(
    tmp_path: Path, server: LiveServer, stop_ids: list[int]
) -> None:
    device = _logged_in(tmp_path, server)
    stray = device.files_dir / ("ab" * 32 + ".png")
    stray.write_bytes(b"half a signature")
    half = device.files_dir / ".capture-xyz"
    half.write_bytes(b"partial")
    device.close()
    restarted = _device(tmp_path, server)
    assert set(restarted.orphans) == {stray, half}
    assert stray.exists()
    assert half.exists()
    restarted.close()


def test_the_store_survives_a_restart_with_its_outbox(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    device = _logged_in(tmp_path, server)
    server.stop()
    device.capture.deliver(stop_ids[1], "Dana", evidence=[SIGNATURE])
    device.close()  # the app is killed
    server.start()
    again = _device(tmp_path, server)
    assert again.store.pending_count() == 1
    again.engine.sync()
    assert _server_status(session, stop_ids[1]) == "delivered"
    again.close()


def test_invisible_characters_in_typed_text_never_cost_a_delivery(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session
) -> None:
    device = _logged_in(tmp_path, server)
    # A barcode wedge or a paste can slip a NUL into the name; the server refuses NUL.
    device.capture.deliver(stop_ids[0], "Ann\x00 Lee\x1b", evidence=[SIGNATURE])
    device.capture.fail(stop_ids[1], "recipient_absent", note="gate\x00 locked\nsecond line")
    report = device.engine.sync()
    assert (report.acknowledged, report.rejected) == (2, 0)
    session.rollback()
    payloads = {row.stop_id: row.payload for row in session.scalars(select(DoorEventRow))}
    assert payloads[stop_ids[0]]["recipient_name"] == "Ann Lee"
    assert payloads[stop_ids[1]]["note"] == "gate locked\nsecond line"


def test_the_device_lists_only_its_day_and_starts_the_next_day_afresh(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session: Session, world: World
) -> None:
    device = _logged_in(tmp_path, server)
    session.rollback()  # end the fixture's read before writing beside the server
    tomorrow = make_manifest(
        session, world.org_id, world.users["driver_a"], 2, service_date=SERVICE_DATE + ONE_DAY
    )
    session.commit()
    device.engine.sync()  # tomorrow's stops arrive now, and wait for their day
    assert [s["id"] for s in device.store.stops()] == stop_ids
    assert [s["sequence"] for s in device.store.stops()] == [1, 2, 3]

    server.clock.advance(ONE_DAY)
    device.engine.sync()

    tomorrows = session.scalars(select(Stop.id).where(Stop.manifest_id == tomorrow.id))
    assert [s["id"] for s in device.store.stops()] == sorted(tomorrows)
    assert device.store.get("service_date") == (SERVICE_DATE + ONE_DAY).isoformat()
