"""The real Kivy app under Xvfb, driven by touch.

One run logs in, opens a stop, signs, takes a photo, saves the delivery with the server
down, brings it back and watches the badge drop to zero. Another delivers three stops
offline, is killed, restarts, and syncs. Both then find complete proofs on the server,
each delivery exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import Organization, User
from driver_client.i18n import compile_mo
from tests.client.conftest import LiveServer
from tests.client.test_media import _camera_jpeg
from tests.conftest import World

SEATTLE = "America/Los_Angeles"
SCENARIO = Path(__file__).with_name("scenario.py")
SCREENSHOTS = Path(os.environ.get("DOORSTEP_SCREENSHOTS", "var/screenshots"))

pytestmark = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="Xvfb is not installed (make test installs it)"
)


def _run_scenario(
    tmp_path: Path,
    server: LiveServer,
    mode: str,
    requests: dict[str, Callable[[], str]] | None = None,
    catalogue: Path | None = None,
) -> tuple[Any, int]:
    """Run the scenario ``mode``; ``requests`` answers its other requests (the text
    returned goes back after ``ok``); ``catalogue`` is a .mo the app reads words from."""
    photo = tmp_path / "door.jpg"
    if not photo.exists():
        photo.write_bytes(_camera_jpeg((1200, 900)))
    env = {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
    argv = [
        str(shutil.which("xvfb-run")),
        "-a",
        "-s",
        "-screen 0 480x800x24",
        sys.executable,
        str(SCENARIO),
        server.url,
        str(tmp_path / "phone"),
        str(SCREENSHOTS),
        str(photo),
        mode,
        # The phone's clock starts at the test server's reading, as a real phone's
        # agrees with a real server's.
        server.clock.now().isoformat(),
        *([str(catalogue)] if catalogue else []),
    ]
    process = subprocess.Popen(  # noqa: S603 - fixed argv: Xvfb wrapper and our own script
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdin is not None
    assert process.stdout is not None
    result = None
    for line in process.stdout:
        answer = ""
        if line.startswith("REQUEST server_down"):
            server.stop()
        elif line.startswith("REQUEST server_up"):
            server.start()
        elif line.startswith("REQUEST ") and line.split()[1] in (requests or {}):
            answer = (requests or {})[line.split()[1]]()
        elif line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
            continue
        elif line.startswith("FAILED "):
            process.kill()
            pytest.fail(line)
        else:
            continue
        process.stdin.write(f"ok {answer}\n" if answer else "ok\n")
        process.stdin.flush()
    return result, process.wait(timeout=60)


def _proof(client: FlaskClient, auth: Any, stop_id: int) -> dict[str, Any]:
    body: dict[str, Any] = client.get(
        f"/api/v1/stops/{stop_id}/proof", headers=auth("support")
    ).get_json()
    return body


def test_a_driver_delivers_offline_and_the_proof_arrives_when_back_online(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    client: FlaskClient,
    auth: Any,
    session: Session,
    world: World,
) -> None:
    session.execute(
        update(Organization).where(Organization.id == world.org_id).values(timezone=SEATTLE)
    )
    session.commit()
    result, _code = _run_scenario(tmp_path, server, "full")
    assert result is not None, "the scenario ended without a result"
    assert "a signature is required" in result["refusal"]
    assert result["scan_status"] == "Scanned 1 of 1."
    assert result["fix"] == "Position within 6 m, just now."
    # The capture screen names the stop; its 09:00-17:00 UTC window read in Seattle.
    assert result["capture_heading"] == [
        "Stop 1   01:00-09:00",
        "101 Pine St, Seattle, WA 98101",
        "Recipient 1",
    ]
    assert result["offered"] == [stop_ids[1], "Stop 1: delivery saved."]
    assert result["after_arrived"] == ["stop", "Arrival saved at 09:00."]
    assert result["after_note"] == "Note saved."
    assert result["badge_offline"] == "Waiting to sync: 3"
    assert result["badge_online"] == "Waiting to sync: 0"
    arrival_and_note = _proof(client, auth, stop_ids[1])["events"]
    assert [e["type"] for e in arrival_and_note] == ["arrived", "note"]
    assert arrival_and_note[1]["payload"]["text"] == "Dog in the yard"
    body = _proof(client, auth, result["stop_id"])
    assert body["status"] == "delivered"
    assert body["evidence_pending"] is False
    assert len(body["events"]) == 1
    assert {f["kind"] for f in body["files"]} == {"signature", "photo"}
    assert body["proof"]["fields"]["recipient_name"] == "Dana Whitfield"
    assert body["proof"]["fields"]["scanned_barcodes"] == [result["scanned"]]
    digest = body["proof"]["digest"]
    assert result["sealed"].startswith("Proof sealed at ")
    assert result["sealed"].endswith(
        f"receipt {body['receipt']['kid']}, digest {digest[:16]} {digest[16:32]}"
        f" {digest[32:48]} {digest[48:]}"
    )
    for name in ("02-manifest", "04-capture", "05-next-stop", "06-saved-offline", "08-synced"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000


def test_three_deliveries_survive_killing_the_app_and_arrive_once(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], client: FlaskClient, auth: Any
) -> None:
    killed, code = _run_scenario(tmp_path, server, "kill")
    assert killed is None
    assert code != 0  # killed, not finished
    result, _code = _run_scenario(tmp_path, server, "resume")
    assert result is not None, "the restarted app did not finish"
    assert result["badge_after_restart"] == "Waiting to sync: 3"
    assert result["badge_online"] == "Waiting to sync: 0"
    for stop_id in stop_ids:
        body = _proof(client, auth, stop_id)
        assert body["status"] == "delivered"
        assert body["evidence_pending"] is False
        assert len([e for e in body["events"] if e["type"] == "delivered"]) == 1


def test_a_first_day_driver_sets_a_password_then_fails_a_stop_with_a_photo(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    client: FlaskClient,
    auth: Any,
    session: Session,
    world: World,
) -> None:
    session.execute(
        update(User).where(User.id == world.users["driver_a"]).values(must_change_password=True)
    )
    session.commit()
    result, _code = _run_scenario(tmp_path, server, "first_day")
    assert result is not None, "the scenario ended without a result"
    assert result["mismatch"] == "The two new passwords differ."
    assert result["photo_button"] == "Add photo (1)"
    assert "Not delivered: 1" in result["day_offline"]
    assert "Still to do: 2" in result["day_offline"]
    assert "Waiting to sync: 1 capture(s), 1 file(s)" in result["day_offline"]
    assert "Oldest capture waiting: 0 min" in result["day_offline"]
    assert "Waiting to sync: 0 capture(s), 0 file(s)" in result["day_synced"]
    body = _proof(client, auth, result["stop_id"])
    assert body["status"] == "failed"
    [failed] = body["events"]
    assert (failed["payload"]["reason"], failed["payload"]["note"]) == (
        "access_denied",
        "Gate locked",
    )
    assert [f["kind"] for f in body["files"]] == ["photo"]
    assert body["evidence_pending"] is False
    # The new password is the driver's: the one-time one no longer logs in.
    fresh = {"device_id": "other", "username": "driver_a"}
    assert client.post("/api/v1/auth/token", json={**fresh, "password": "pw"}).status_code == 401
    ok = client.post("/api/v1/auth/token", json={**fresh, "password": "a long one of my own"})
    assert ok.status_code == 200
    assert ok.get_json()["must_change_password"] is False


# A word of the sync in a made-up language: shown so only if sync.py reads the catalogue.
# (The login screen's message stays English, so the screenshot reads as a driver's.)
SYNC_WORDS = {"No connection to the server.": "XX no connection XX"}
LOGIN_ENDED = (
    "Your login has ended (a new password or a revoked phone). "
    "Log in again: nothing waiting to sync is lost."
)


def test_a_password_reset_mid_shift_sends_the_driver_to_log_in_and_loses_nothing(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    client: FlaskClient,
    auth: Any,
    world: World,
) -> None:
    catalogue = tmp_path / "xx.mo"
    catalogue.write_bytes(
        compile_mo({"": "Content-Type: text/plain; charset=UTF-8\n"} | SYNC_WORDS)
    )

    def reset_password() -> str:
        # Reset while the phone cannot reach the server (the test client needs no
        # network), then let it back: its next sync must meet the revoked login.
        reset = client.post(
            f"/api/v1/admin/users/{world.users['driver_a']}/reset-password",
            json={},
            headers=auth("admin"),
        )
        assert reset.status_code == 200, reset.get_json()
        server.start()
        return str(reset.get_json()["one_time_password"])

    result, _code = _run_scenario(
        tmp_path, server, "login_ended", {"reset_password": reset_password}, catalogue
    )
    assert result is not None, "the scenario ended without a result"
    assert result["offline"] == "XX no connection XX"
    assert result["login_message"] == LOGIN_ENDED
    assert result["username"] == "driver_a"
    assert result["waiting_at_login"] == 1  # the arrival waited through the new login
    [arrival] = _proof(client, auth, result["stop_id"])["events"]
    assert arrival["type"] == "arrived"
    # The same phone carried on: one device id before and after the new login.
    assert arrival["device_id"] == result["device_id"]
    assert (SCREENSHOTS / "13-login-ended.png").stat().st_size > 1000
