"""The customer's proof-of-delivery PDF, and checking it with ``doorstep verify``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cli import main as doorstep
from backend.db.models import Stop
from backend.proofs.document import read_embedded_proof, read_printed_digest, render_proof_pdf
from driver_client.media import render_signature
from tests.client.test_media import _camera_jpeg
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, ref

Auth = Callable[[str], dict[str, str]]


@dataclass
class Delivered:
    """A stop delivered through the real sync API, with what support can download."""

    stop_id: int
    undelivered_stop_id: int
    bundle: dict[str, Any]
    pdf: bytes
    keys_path: Path


@pytest.fixture
def delivered(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
    tmp_path: Path,
) -> Delivered:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    session.commit()
    stop_id, undelivered_stop_id = session.scalars(
        select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
    ).all()
    signature = render_signature([[(10, 10), (80, 60), (150, 20)]], (200, 80))
    photo = _camera_jpeg((800, 600))  # as a careless device might send it: with EXIF + GPS
    files = {ref(signature)["sha256"]: signature, ref(photo)["sha256"]: photo}
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync(
        [device.event(stop_id, evidence=[ref(signature), ref(photo, "photo", "image/jpeg")])]
    ).get_json()
    device.upload_owed(body, files)
    bundle = client.get(f"/api/v1/stops/{stop_id}/proof", headers=auth("support")).get_json()
    response = client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("support"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    keys_path = tmp_path / "receipt-keys.json"
    keys_response = client.get("/api/v1/receipt-keys")
    assert keys_response.status_code == 200
    keys_path.write_text(json.dumps(keys_response.get_json()))
    return Delivered(stop_id, undelivered_stop_id, bundle, response.data, keys_path)


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_the_pdf_carries_the_proof_and_its_digest_but_no_photo_metadata(
    delivered: Delivered,
) -> None:
    pdf = delivered.pdf
    assert pdf.startswith(b"%PDF")
    assert b"Proof of delivery" in pdf
    assert delivered.bundle["proof"]["digest"].encode() in pdf
    assert b"/Subtype /Image" in pdf
    assert pdf.count(b"/Subtype /Image") >= 2
    assert b"PhoneMaker" not in pdf  # the camera's EXIF did not survive
    assert b"doorstep verify <this file>.pdf" in pdf
    assert read_printed_digest(pdf) == delivered.bundle["proof"]["digest"]


def test_the_pdf_verifies_on_its_own_against_the_servers_keys(
    delivered: Delivered, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Named like a JSON file on purpose: the verifier goes by the bytes, not the name.
    for name in ("proof.pdf", "renamed.json"):
        path = _write(tmp_path, name, delivered.pdf)
        assert doorstep(["verify", path, "--keys", str(delivered.keys_path)]) == 0
        out = capsys.readouterr().out
        assert f"OK: proof {delivered.bundle['proof']['digest']} verifies" in out
        assert "FAIL" not in out
        assert "pass --keys" not in out


def test_without_keys_the_pdf_verifies_with_its_own_keys_but_says_so(
    delivered: Delivered, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert doorstep(["verify", _write(tmp_path, "proof.pdf", delivered.pdf)]) == 0
    out = capsys.readouterr().out
    assert "OK: proof" in out
    assert "pass --keys to pin" in out


def test_a_pdf_rebuilt_with_another_recipient_fails_with_a_digest_mismatch(
    delivered: Delivered, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = copy.deepcopy(delivered.bundle)
    forged["proof"]["fields"]["recipient_name"] = "Mallory"
    pdf = render_proof_pdf(forged, lambda _sha256: None)
    path = _write(tmp_path, "proof.pdf", pdf)
    assert doorstep(["verify", path, "--keys", str(delivered.keys_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: proof digest mismatch" in out
    assert "OK" not in out


def test_a_pdf_whose_page_shows_another_digest_fails(
    delivered: Delivered, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = delivered.bundle["proof"]["digest"]
    other = ("0" if digest[0] != "0" else "1") + digest[1:]
    # Only the page's text line is changed (same length, so the PDF stays well formed);
    # the attachment, which still verifies, keeps the real digest.
    printed = f"digest    {digest}".encode()
    assert delivered.pdf.count(printed) == 1
    pdf = delivered.pdf.replace(printed, f"digest    {other}".encode())
    assert read_printed_digest(pdf) == other
    path = _write(tmp_path, "proof.pdf", pdf)
    assert doorstep(["verify", path, "--keys", str(delivered.keys_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: the digest printed on the page differs from the embedded proof" in out


def test_a_pdf_without_a_proof_attachment_fails(
    client: FlaskClient,
    delivered: Delivered,
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A stop with no proof yet still gets a document, but nothing to verify in it.
    response = client.get(
        f"/api/v1/stops/{delivered.undelivered_stop_id}/proof.pdf", headers=auth("support")
    )
    assert response.status_code == 200
    assert read_embedded_proof(response.data) is None
    path = _write(tmp_path, "proof.pdf", response.data)
    assert doorstep(["verify", path, "--keys", str(delivered.keys_path)]) == 1
    assert "FAIL: the PDF carries no proof.json attachment" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    [b"\x00\xff\xfe garbage, not a proof", b"%PDF-1.7\n truncated", b"[1, 2, 3]", b""],
    ids=["garbage", "broken-pdf", "json-not-a-bundle", "empty"],
)
def test_a_file_that_is_not_a_proof_fails_without_a_traceback(
    delivered: Delivered, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "proof.pdf", content)
    assert doorstep(["verify", path, "--keys", str(delivered.keys_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("FAIL: ")
    assert "Traceback" not in captured.out + captured.err


def test_the_attachment_holds_only_what_verification_needs(delivered: Delivered) -> None:
    record = read_embedded_proof(delivered.pdf)
    assert record is not None
    assert set(record) == {"proof_version", "stop", "proof", "receipt", "public_keys"}
    assert not {"events", "other_proofs", "conflicts", "files"} & set(record)
    assert record["stop"] == {"order_number": delivered.bundle["stop"]["order_number"]}
    assert set(record["proof"]) == {"fields", "files", "digest"}
    assert record["proof"]["digest"] == delivered.bundle["proof"]["digest"]
    assert record["receipt"] == delivered.bundle["receipt"]
    assert record["public_keys"] == delivered.bundle["public_keys"]
    for item in record["proof"]["files"]:
        assert set(item) == {"sha256", "kind", "content_type", "size"}
    # The sealed fields name the driver and the digest covers every field, so they must
    # travel whole; nothing else in the attachment may name the driver.
    assert delivered.bundle["stop"]["driver"] == "driver_a"
    unsealed = {**record, "proof": {**record["proof"], "fields": None}}
    assert "driver_a" not in json.dumps(unsealed)


def test_drivers_cannot_download_proof_documents(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert (
        client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("driver_a")).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("other_dispatcher")
        ).status_code
        == 404
    )


def test_an_evidence_file_that_is_no_image_costs_a_line_not_the_document(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for,  # type: ignore[no-untyped-def]
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    not_a_png = b"\x89PNG\r\n\x1a\n" + b"garbage" * 40  # hashes fine, decodes not at all
    not_a_jpeg = b"\xff\xd8\xff" + b"\x00" * 300
    files = {ref(not_a_png)["sha256"]: not_a_png, ref(not_a_jpeg)["sha256"]: not_a_jpeg}
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync(
        [device.event(stop_id, evidence=[ref(not_a_png), ref(not_a_jpeg, "photo", "image/jpeg")])]
    ).get_json()
    device.upload_owed(body, files, status=422)

    response = client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("support"))
    assert response.status_code == 200
    text = response.data
    assert b"Signature: cannot be shown" in text
    assert b"Photo: cannot be shown" in text
    assert b"/Subtype /Image" not in text
