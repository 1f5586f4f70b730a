"""Evidence must be what it claims: every image is decoded once on arrival, with a cap.

Bytes that hash right but are not the image they were declared as are kept (evidence
is never discarded), marked invalid, answered 422, never count towards a proof policy,
raise ``evidence_invalid`` for back office, and nothing says they verify. A
decompression bomb is refused at upload without being decoded, there or in the PDF.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageFile
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cli import main as doorstep
from backend.db.models import EvidenceFile, Stop
from backend.evidence.images import MAX_PIXELS
from backend.evidence.storage import S3Store
from backend.proofs.document import printable_image
from tests.client.test_media import _camera_jpeg
from tests.conftest import World
from tests.console.pages import log_in
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync.helpers import Device, png, ref

Auth = Callable[[str], dict[str, str]]
NOON = "2026-11-24T12:00:00+00:00"

TEXT = b"This is a delivery note, not a photo.\n" * 8
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert("door")</script><rect width="10" height="10"/></svg>'
)
HTML = b"<!DOCTYPE html><html><body><script>alert('door')</script></body></html>"


def png_bomb(side: int = 12000) -> bytes:
    """A valid greyscale PNG of ``side`` x ``side`` black pixels, a few hundred KB.

    Written chunk by chunk so making it costs the test no more memory than the file:
    decoded, it is ``side * side`` bytes (144 MB at 12000).
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte, then the row
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb()


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image whose pixels Pillow decodes while the test runs."""
    sizes: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        sizes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


@dataclass
class Delivery:
    stop_id: int
    signature_sha: str
    photo_sha: str
    device: Device


def _deliver(
    client: FlaskClient,
    world: World,
    session: Session,
    token_for: Callable[[str], str],
    photo: bytes,
    content_type: str = "image/jpeg",
    photo_status: int = 422,
) -> Delivery:
    """A stop that needs a signature and a photo, delivered with a good signature and
    ``photo`` declared as ``content_type``; the photo's upload answers ``photo_status``."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    stop = session.scalars(select(Stop).where(Stop.manifest_id == manifest.id)).one()
    stop.proof_policy = {"signature": True, "photo": True}
    session.commit()
    stop_id = stop.id
    signature = png("signature")
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    event = {
        **device.event(stop_id, evidence=[ref(signature), ref(photo, "photo", content_type)]),
        "recorded_at": NOON,  # inside the stop's window: no other exception in the way
    }
    body = device.sync([event]).get_json()
    assert len(body["uploads"]) == 2
    for data, kind, status in ((signature, "image/png", 200), (photo, content_type, photo_status)):
        response = client.put(
            f"/api/v1/evidence/{ref(data)['sha256']}",
            data=data,
            headers={**device.headers, "Content-Type": kind},
        )
        assert response.status_code == status, response.get_json()
    return Delivery(stop_id, ref(signature)["sha256"], ref(photo)["sha256"], device)


def _file(session: Session, sha256: str) -> EvidenceFile:
    session.rollback()
    return session.scalars(select(EvidenceFile).where(EvidenceFile.sha256 == sha256)).one()


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _open_exceptions(client: FlaskClient, auth: Auth, stop_id: int) -> dict[str, str]:
    body = client.get(
        f"/api/v1/reconciliation?date={SERVICE_DATE}", headers=auth("dispatcher")
    ).get_json()
    [stop] = [s for s in body["stops"] if s["stop_id"] == stop_id]
    return {e["kind"]: e["detail"] for e in stop["exceptions"] if e["state"] == "open"}


def test_a_text_file_declared_as_jpeg_is_kept_marked_invalid_and_refused_with_422(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
) -> None:
    delivery = _deliver(client, world, session, token_for, TEXT)

    again = client.put(
        f"/api/v1/evidence/{delivery.photo_sha}",
        data=TEXT,
        headers={**delivery.device.headers, "Content-Type": "image/jpeg"},
    )
    assert (again.status_code, again.get_json()["code"]) == (422, "not_an_image")
    file = _file(session, delivery.photo_sha)
    assert file.verified_at is not None  # the bytes are the device's: kept
    assert file.invalid_reason == "not_an_image"
    kept = client.get(f"/api/v1/evidence/{delivery.photo_sha}", headers=auth("support"))
    assert kept.status_code == 200
    assert kept.data == TEXT
    # Never handed back as the image it pretends to be.
    assert kept.mimetype == "application/octet-stream"
    assert _file(session, delivery.signature_sha).invalid_reason is None


def test_an_invalid_photo_never_satisfies_photo_required_and_raises_evidence_invalid(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
) -> None:
    delivery = _deliver(client, world, session, token_for, TEXT)

    open_exceptions = _open_exceptions(client, auth, delivery.stop_id)
    assert set(open_exceptions) == {"evidence_invalid", "policy_unmet"}
    assert delivery.photo_sha[:12] in open_exceptions["evidence_invalid"]
    assert "0 of 1 photo(s)" in open_exceptions["policy_unmet"]
    body = client.get(
        f"/api/v1/reconciliation?date={SERVICE_DATE}", headers=auth("dispatcher")
    ).get_json()
    [stop] = [s for s in body["stops"] if s["stop_id"] == delivery.stop_id]
    assert stop["proof_meets_policy"] is False


def test_a_real_photo_satisfies_photo_required_with_no_exception(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
) -> None:
    delivery = _deliver(client, world, session, token_for, _camera_jpeg((64, 48)), photo_status=200)

    assert _file(session, delivery.photo_sha).invalid_reason is None
    assert _open_exceptions(client, auth, delivery.stop_id) == {}


def test_the_evidence_view_bundle_and_pdf_never_say_an_invalid_file_verifies(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delivery = _deliver(client, world, session, token_for, TEXT)

    bundle = client.get(f"/api/v1/stops/{delivery.stop_id}/proof", headers=auth("support"))
    files = {f["sha256"]: f for f in bundle.get_json()["files"]}
    assert files[delivery.photo_sha]["verified"] is False
    assert files[delivery.photo_sha]["invalid_reason"] == "not_an_image"
    assert files[delivery.signature_sha]["verified"] is True
    assert bundle.get_json()["evidence_pending"] is False

    log_in(client, "support")
    page = client.get(f"/console/deliveries/{delivery.stop_id}").get_data(as_text=True)
    assert "The proof verifies" not in page
    assert "The proof does not verify" in page
    assert "not a valid image/jpeg" in page
    assert f"file {delivery.photo_sha} (photo) is not a valid image/jpeg" in page
    assert f"file {delivery.photo_sha} is missing" not in page  # held, and its hash checked
    assert f'/console/evidence/{delivery.photo_sha}"><img' not in page

    pdf = client.get(f"/api/v1/stops/{delivery.stop_id}/proof.pdf", headers=auth("support"))
    assert pdf.status_code == 200
    text = _pdf_text(pdf.data)
    assert "Photo: cannot be shown, it is not a valid image/jpeg (not_an_image" in text
    assert "verifies" not in text
    path = tmp_path / "proof.pdf"
    path.write_bytes(pdf.data)
    keys = tmp_path / "keys.json"
    keys.write_text(client.get("/api/v1/receipt-keys").get_data(as_text=True))
    capsys.readouterr()
    assert doorstep(["verify", str(path), "--keys", str(keys)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL: file {delivery.photo_sha} (photo) is not a valid image/jpeg" in out
    assert "OK" not in out


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (SVG, "image/png"),
        (SVG, "image/jpeg"),
        (HTML, "image/jpeg"),
        (HTML, "image/webp"),
        (png("a real png"), "image/jpeg"),  # an image, but not the type declared
        (_camera_jpeg((64, 48))[:300], "image/jpeg"),  # a real header, cut short
    ],
    ids=["svg-as-png", "svg-as-jpeg", "html-as-jpeg", "html-as-webp", "png-as-jpeg", "cut"],
)
def test_svg_html_and_mislabelled_images_are_kept_but_invalid(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
    data: bytes,
    content_type: str,
) -> None:
    delivery = _deliver(client, world, session, token_for, data, content_type)

    file = _file(session, delivery.photo_sha)
    assert (file.verified_at is not None, file.invalid_reason) == (True, "not_an_image")
    assert "evidence_invalid" in _open_exceptions(client, auth, delivery.stop_id)
    kept = client.get(f"/api/v1/evidence/{delivery.photo_sha}", headers=auth("support"))
    assert (kept.data, kept.mimetype) == (data, "application/octet-stream")


def test_a_12000_by_12000_png_bomb_is_refused_at_upload_without_being_decoded(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
    bomb: bytes,
    decoded_sizes: list[tuple[int, int]],
) -> None:
    with (
        pytest.warns(Image.DecompressionBombWarning),
        Image.open(io.BytesIO(bomb)) as header,
    ):
        assert header.size == (12000, 12000)  # header only: nothing decoded yet
    assert MAX_PIXELS < 12000 * 12000
    assert len(bomb) < 1024 * 1024

    delivery = _deliver(client, world, session, token_for, bomb, "image/png")

    refused = client.put(
        f"/api/v1/evidence/{delivery.photo_sha}",
        data=bomb,
        headers={**delivery.device.headers, "Content-Type": "image/png"},
    )
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "image_too_large"
    file = _file(session, delivery.photo_sha)
    assert file.invalid_reason == "image_too_large"
    assert file.verified_at is not None  # kept as evidence, never counted
    assert "evidence_invalid" in _open_exceptions(client, auth, delivery.stop_id)

    pdf = client.get(f"/api/v1/stops/{delivery.stop_id}/proof.pdf", headers=auth("support"))
    assert pdf.status_code == 200
    assert "it is not a valid image/png (image_too_large" in _pdf_text(pdf.data)
    assert (12000, 12000) not in decoded_sizes


def test_the_pdf_renderer_never_decodes_a_bomb_even_one_not_marked_invalid(
    bomb: bytes, decoded_sizes: list[tuple[int, int]]
) -> None:
    # Files verified before uploads were decoded carry no mark; the renderer checks too.
    assert printable_image(bomb, "signature", "image/png") is None
    assert printable_image(bomb, "photo", "image/png") is None
    assert decoded_sizes == []


def test_a_direct_s3_upload_of_html_declared_as_jpeg_is_kept_invalid_and_refused_at_complete(
    app: Flask,
    client: FlaskClient,
    world: World,
    session: Session,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> None:
    app.extensions["doorstep.store"] = s3_store
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id)).one()
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync(
        [device.event(stop_id, evidence=[ref(HTML, "photo", "image/jpeg")])]
    ).get_json()
    [target] = body["uploads"]
    uploaded = requests.post(
        target["url"], data=target["fields"], files={"file": ("p", HTML, "image/jpeg")}, timeout=10
    )
    assert uploaded.status_code in (200, 204)
    complete = target["complete_url"].removeprefix("http://localhost")

    for _attempt in range(2):
        done = client.post(complete, headers=device.headers)
        assert (done.status_code, done.get_json()["code"]) == (422, "not_an_image")

    file = _file(session, ref(HTML)["sha256"])
    assert (file.verified_at is not None, file.invalid_reason) == (True, "not_an_image")
    assert s3_store.exists(world.org_id, ref(HTML)["sha256"])  # kept
    assert device.sync().get_json()["uploads"] == []  # no longer owed
