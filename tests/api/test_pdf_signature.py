"""The proof PDF is signed itself (PAdES), not only its embedded proof.

Before, the page's text could be edited and ``doorstep verify`` still said OK, because
it checked only the ``proof.json`` attachment. Now any change to the file after
signing, in place or as an appended revision, fails in ``doorstep verify`` and in any
PDF reader, and the signature checks against the certificate the server publishes.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask.testing import FlaskClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cli import main as doorstep
from backend.config import DEMO_RECEIPT_SEED
from backend.db.models import Stop
from backend.domain.clock import SetClock
from backend.proofs.document import render_proof_pdf
from backend.proofs.pdfsign import PdfSigningKey, load_certificate_pem, sign_pdf
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, files_by_hash, png, ref

Auth = Callable[[str], dict[str, str]]


@dataclass
class Signed:
    bundle: dict[str, Any]
    pdf: bytes
    keys: dict[str, Any]
    keys_path: Path
    tmp_path: Path

    def write(self, name: str, data: bytes) -> str:
        path = self.tmp_path / name
        path.write_bytes(data)
        return str(path)


@pytest.fixture
def signed(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for: Callable[[str], str],
    tmp_path: Path,
) -> Signed:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id)).one()
    signature = png("signed-pdf")
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync([device.event(stop_id, evidence=[ref(signature)])]).get_json()
    device.upload_owed(body, files_by_hash(signature))
    bundle = client.get(f"/api/v1/stops/{stop_id}/proof", headers=auth("support")).get_json()
    pdf = client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("support"))
    assert pdf.status_code == 200
    keys = client.get("/api/v1/receipt-keys").get_json()
    keys_path = tmp_path / "keys.json"
    keys_path.write_text(json.dumps(keys))
    return Signed(bundle, pdf.data, keys, keys_path, tmp_path)


def _verify(signed: Signed, data: bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = doorstep(["verify", signed.write("copy.pdf", data), "--keys", str(signed.keys_path)])
    return status, capsys.readouterr().out


def test_the_proof_pdf_verifies_with_doorstep_verify(
    signed: Signed, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = _verify(signed, signed.pdf, capsys)

    assert status == 0, out
    assert out.startswith("OK: proof ")
    assert "PDF signed (PAdES) by" in out
    assert "covers the whole file" in out
    assert "pass --keys to pin it" not in out


def test_a_byte_edited_copy_of_the_visible_text_fails(
    signed: Signed, capsys: pytest.CaptureFixture[str]
) -> None:
    # The recipient's name as drawn on the page: one letter changed, same length.
    drawn = b"(Dana Whitfield) Tj"
    assert signed.pdf.count(drawn) == 1
    edited = signed.pdf.replace(drawn, b"(Dana Whitfielt) Tj")

    status, out = _verify(signed, edited, capsys)

    assert status == 1
    assert "FAIL: the PDF's signature does not match its bytes" in out
    assert "OK" not in out


def test_an_appended_revision_that_changes_the_page_fails(
    signed: Signed, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed.pdf))
    writer.add_stream_to_page(
        0,
        writer.add_object(
            generic.StreamObject(stream_data=b"1 1 1 rg 10 10 300 300 re f")  # white-out
        ),
    )
    out_buffer = io.BytesIO()
    writer.write(out_buffer)

    status, out = _verify(signed, out_buffer.getvalue(), capsys)

    assert status == 1
    assert "FAIL: the PDF was changed after signing" in out


def test_the_signature_is_pades_and_validates_with_pyhankos_validator(
    signed: Signed, clock: SetClock
) -> None:
    reader = PdfFileReader(io.BytesIO(signed.pdf))
    [signature] = reader.embedded_signatures
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES baseline
    [published] = signed.keys["pdf_certificates"].values()
    certificate = load_certificate_pem(published)
    root = asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))

    status = validate_pdf_signature(
        signature,
        ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail"),
    )

    assert status.bottom_line
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert signature.signer_cert.dump() == root.dump()
    # Signed at the server's "now", which is an input like everywhere else.
    assert status.signer_reported_dt is not None
    assert abs((status.signer_reported_dt - clock.now()).total_seconds()) < 300


def test_a_pdf_signed_by_a_key_the_server_never_published_fails_when_pinned(
    signed: Signed, capsys: pytest.CaptureFixture[str], clock: SetClock
) -> None:
    # A well-formed, intact PDF with the genuine proof, signed by someone else's key.
    impostor = PdfSigningKey.from_seed("receipt-demo-1", b"\x07" * 32)
    forged = sign_pdf(render_proof_pdf(signed.bundle, lambda _sha: None), impostor, clock.now())

    status, out = _verify(signed, forged, capsys)

    assert status == 1
    assert "FAIL: the PDF was signed by a certificate the server never published" in out


def test_the_signing_certificate_is_the_same_in_every_worker() -> None:
    seed = base64.b64decode(DEMO_RECEIPT_SEED)
    first = PdfSigningKey.from_seed("receipt-demo-1", seed)
    second = PdfSigningKey.from_seed("receipt-demo-1", seed)
    assert first.certificate_pem() == second.certificate_pem()
    assert first.certificate_pem() != PdfSigningKey.from_seed("other", seed).certificate_pem()
