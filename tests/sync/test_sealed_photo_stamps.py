"""Each photo's capture time and place are under the proof's seal (digest version 2),
and proofs sealed before that (version 1) still verify by their own rule."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.cli import main as doorstep
from tests.sync.helpers import Device, default_payload, jpeg, png, ref

Auth = Any
FIXTURES = Path(__file__).with_name("fixtures")
TAKEN_AT = "2026-11-24T17:00:30+00:00"
WHERE = {"lat": 47.611, "lon": -122.331, "accuracy_m": 6.0, "fixed_at": None}


def _stamped_delivery(
    device: Device, stops: list[int], client: FlaskClient, auth: Auth
) -> tuple[dict[str, Any], dict[str, bytes]]:
    signature, photo = png("sig"), jpeg("door")
    photo_ref = ref(photo, "photo", "image/jpeg")
    stamp = {"sha256": photo_ref["sha256"], "taken_at": TAKEN_AT, "geo": WHERE}
    payload = default_payload("delivered") | {"photos": [stamp]}
    body = device.sync(
        [device.event(stops[0], payload=payload, evidence=[ref(signature), photo_ref])]
    ).get_json()
    files = {ref(signature)["sha256"]: signature, photo_ref["sha256"]: photo}
    device.upload_owed(body, files)
    bundle = client.get(f"/api/v1/stops/{stops[0]}/proof", headers=auth("support")).get_json()
    return bundle, files


def _verify(tmp_path: Path, bundle: dict[str, Any], files: dict[str, bytes], keys: Any) -> int:
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for sha, data in files.items():
        (folder / sha).write_bytes(data)
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    argv = ["verify", str(tmp_path / "bundle.json"), "--files", str(folder)]
    return doorstep([*argv, "--keys", str(tmp_path / "keys.json")])


def test_the_photo_stamps_are_sealed_and_the_exported_bundle_verifies(
    device: Device,
    stops: list[int],
    client: FlaskClient,
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle, files = _stamped_delivery(device, stops, client, auth)
    fields = bundle["proof"]["fields"]
    assert fields["digest_version"] == 2
    [stamp] = fields["photos"]
    assert (stamp["taken_at"], stamp["geo"]) == (TAKEN_AT, WHERE)
    keys = client.get("/api/v1/receipt-keys").get_json()
    assert _verify(tmp_path, bundle, files, keys) == 0
    out = capsys.readouterr().out
    assert "OK: proof" in out
    assert "digest version 2: 1 photo stamp(s) sealed" in out
    assert f"taken {TAKEN_AT} at 47.611, -122.331 (within 6.0 m)" in out


STAMP_TAMPERINGS = {
    "taken earlier": lambda f: f["photos"][0].__setitem__("taken_at", "2026-11-24T15:00:00+00:00"),
    "taken elsewhere": lambda f: f["photos"][0]["geo"].__setitem__("lat", 47.7),
    "position removed": lambda f: f["photos"][0].__setitem__("geo", None),
    "stamp removed": lambda f: f.__setitem__("photos", []),
    # Passing a version 2 proof off as version 1, whose seal says nothing of stamps.
    "downgraded to version 1": lambda f: [f.pop("digest_version"), f.pop("photos")],
}


@pytest.mark.parametrize("tampering", sorted(STAMP_TAMPERINGS))
def test_a_changed_photo_stamp_breaks_the_seal(
    device: Device,
    stops: list[int],
    client: FlaskClient,
    auth: Auth,
    tmp_path: Path,
    tampering: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle, files = _stamped_delivery(device, stops, client, auth)
    altered = copy.deepcopy(bundle)
    STAMP_TAMPERINGS[tampering](altered["proof"]["fields"])
    keys = client.get("/api/v1/receipt-keys").get_json()
    assert _verify(tmp_path, altered, files, keys) == 1
    assert "FAIL: proof digest mismatch" in capsys.readouterr().out


def test_a_stamp_for_a_file_the_proof_does_not_hold_is_no_proof(
    device: Device,
    stops: list[int],
    client: FlaskClient,
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle, files = _stamped_delivery(device, stops, client, auth)
    bundle["proof"]["fields"]["photos"][0]["sha256"] = "0" * 64
    keys = client.get("/api/v1/receipt-keys").get_json()
    assert _verify(tmp_path, bundle, files, keys) == 1
    assert "is for a file not in the proof" in capsys.readouterr().out


def test_an_unknown_digest_version_is_refused_not_guessed(
    device: Device,
    stops: list[int],
    client: FlaskClient,
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle, files = _stamped_delivery(device, stops, client, auth)
    bundle["proof"]["fields"]["digest_version"] = 3
    keys = client.get("/api/v1/receipt-keys").get_json()
    assert _verify(tmp_path, bundle, files, keys) == 1
    assert "digest version 3 is not one this verifier knows" in capsys.readouterr().out


def test_a_proof_sealed_before_version_2_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written by the server as it was before photo stamps were sealed (the stamps sat
    # in the event, beside the proof), with that server's public keys and the files.
    bundle = json.loads((FIXTURES / "proof-digest-v1.json").read_text())
    assert "digest_version" not in bundle["proof"]["fields"]
    keys = FIXTURES / "proof-digest-v1-keys.json"
    shutil.copytree(FIXTURES / "proof-digest-v1-files", tmp_path / "files")
    argv = ["verify", str(FIXTURES / "proof-digest-v1.json"), "--files", str(tmp_path / "files")]
    assert doorstep([*argv, "--keys", str(keys)]) == 0
    out = capsys.readouterr().out
    assert "OK: proof" in out
    assert "digest version 1: sealed before photo stamps were covered" in out
    # And version 1's rule still catches a change.
    bundle["proof"]["fields"]["recipient_name"] = "Mallory"
    (tmp_path / "altered.json").write_text(json.dumps(bundle))
    assert doorstep(["verify", str(tmp_path / "altered.json"), "--keys", str(keys)]) == 1
    assert "FAIL: proof digest mismatch" in capsys.readouterr().out
