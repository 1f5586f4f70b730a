"""The real Kivy app under Xvfb, driven by touch: log in, open a stop, sign, take a photo,
save the delivery with the server down, bring it back, watch the badge drop to zero,
and find the complete proof on the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.client.conftest import LiveServer
from tests.client.test_media import _camera_jpeg

SCENARIO = Path(__file__).with_name("scenario.py")
SCREENSHOTS = Path(os.environ.get("DOORSTEP_SCREENSHOTS", "var/screenshots"))

pytestmark = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="Xvfb is not installed (make test installs it)"
)


def test_a_driver_delivers_offline_and_the_proof_arrives_when_back_online(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    client: FlaskClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(_camera_jpeg((1200, 900)))
    env = {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
    process = subprocess.Popen(  # noqa: S603 - fixed argv: Xvfb wrapper and our own script
        [
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
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    result = None
    for line in process.stdout:
        if line.startswith("REQUEST server_down"):
            server.stop()
            process.stdin.write("ok\n")
            process.stdin.flush()
        elif line.startswith("REQUEST server_up"):
            server.start()
            process.stdin.write("ok\n")
            process.stdin.flush()
        elif line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
        elif line.startswith("FAILED "):
            pytest.fail(line)
    process.wait(timeout=60)
    assert result is not None, "the scenario ended without a result"
    assert "a signature is required" in result["refusal"]
    assert result["badge_offline"] == "Waiting to sync: 1"
    assert result["badge_online"] == "Waiting to sync: 0"
    bundle = client.get(f"/api/v1/stops/{result['stop_id']}/proof", headers=auth("support"))
    body = bundle.get_json()
    assert body["status"] == "delivered"
    assert body["evidence_pending"] is False
    assert len(body["events"]) == 1
    assert {f["kind"] for f in body["files"]} == {"signature", "photo"}
    assert body["proof"]["fields"]["recipient_name"] == "Dana Whitfield"
    for name in ("02-manifest", "04-capture", "05-saved-offline", "07-synced"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000
