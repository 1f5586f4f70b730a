"""PAdES signatures on the proof PDF: the document itself, not just its attachment.

The embedded ``proof.json`` proves the delivery; it says nothing about the page around
it, whose text anyone can edit. Signing the whole file (PAdES baseline, ECDSA P-256)
makes every PDF reader report a document changed after signing, and lets ``doorstep
verify`` refuse it.

Each receipt key also yields a PDF signing key and a self-signed certificate, derived
from its seed (HKDF, so neither key reveals the other): every worker and every restart
signs with the same certificate, and it is published next to the receipt keys
(``GET /api/v1/receipt-keys``, ``pdf_certificates``) for verifiers to pin. The
certificate's fields and its own signature (RFC 6979) are deterministic for the same
reason.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

# A certificate that never needs renewing by a calendar: validity is not what makes it
# trusted, pinning it is.
_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2070, 1, 1, tzinfo=UTC)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIGNATURE_FIELD = "DoorstepProof"

T = TypeVar("T")


class PdfSignatureError(ValueError):
    """The PDF's signature is missing, broken, untrusted or does not cover the file."""


@dataclass(frozen=True)
class PdfSigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def from_seed(cls, kid: str, seed: bytes) -> PdfSigningKey:
        material = HKDF(
            algorithm=hashes.SHA256(),
            length=48,
            salt=b"doorstep",
            info=b"doorstep proof pdf signing key (P-256)",
        ).derive(seed)
        # 48 bytes reduced mod n - 1 is uniform enough and never zero.
        scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
        private_key = ec.derive_private_key(scalar, ec.SECP256R1())
        return cls(kid, private_key, _self_signed(kid, private_key))

    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(kid: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Doorstep"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Doorstep proof of delivery ({kid})"),
        ]
    )
    public = key.public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(hashlib.sha256(spki).digest()[:16], "big") >> 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def load_certificate_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _outside_any_event_loop(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread of its own.

    pyHanko drives its own event loop (``asyncio.run``), which fails in a thread whose
    loop is already running (an async server worker; Playwright's sync API in tests).
    A fresh thread has none, whoever calls.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def sign_pdf(pdf_bytes: bytes, key: PdfSigningKey, now: datetime) -> bytes:
    """``pdf_bytes`` with a PAdES signature by ``key``, dated ``now``."""
    return _outside_any_event_loop(lambda: _sign_pdf(pdf_bytes, key, now))


def _sign_pdf(pdf_bytes: bytes, key: PdfSigningKey, now: datetime) -> bytes:
    """The PDF with a PAdES signature over the whole file, signed at ``now``."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert = _asn1_certificate(key.certificate)
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([cert]),  # type: ignore[no-untyped-call]
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason="Proof of delivery issued by Doorstep",
        name=f"Doorstep ({key.kid})",
    )

    class ClockedSigner(signers.PdfSigner):
        # pyHanko would stamp the machine's time; the server's clock is an input.
        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = now
            return session

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    out = ClockedSigner(meta, signer=signer).sign_pdf(writer)
    return bytes(out.getvalue())


@dataclass(frozen=True)
class PdfSignatureReport:
    signer: str
    signed_at: datetime | None
    pinned: bool


def verify_pdf_signature(
    pdf_bytes: bytes, trusted_pems: list[str] | None = None
) -> PdfSignatureReport:
    """See :func:`_verify_pdf_signature`."""
    return _outside_any_event_loop(lambda: _verify_pdf_signature(pdf_bytes, trusted_pems))


def _verify_pdf_signature(
    pdf_bytes: bytes, trusted_pems: list[str] | None = None
) -> PdfSignatureReport:
    """Check the PDF's one signature covers the whole file, intact, by a trusted key.

    ``trusted_pems`` are the published certificates (pinned); without them only the
    certificate inside the signature is trusted, which proves the file was not changed
    after signing but not who signed it. Raises PdfSignatureError with the reason.
    """
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise PdfSignatureError(f"the PDF's signature cannot be read: {exc}") from exc
    if not signatures:
        raise PdfSignatureError("the PDF carries no signature")
    if len(signatures) > 1:
        raise PdfSignatureError(f"the PDF carries {len(signatures)} signatures, not one")
    embedded = signatures[0]
    try:
        signer_cert = embedded.signer_cert
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfSignatureError(f"the PDF's signature names no signer: {exc}") from exc
    if trusted_pems is None:
        roots = [signer_cert]
    else:
        roots = [_asn1_certificate(load_certificate_pem(pem)) for pem in trusted_pems]
        if signer_cert.dump() not in {root.dump() for root in roots}:
            raise PdfSignatureError(
                "the PDF was signed by a certificate the server never published"
            )
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
    )
    try:
        status = validate_pdf_signature(embedded, context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfSignatureError(f"the PDF's signature cannot be checked: {exc}") from exc
    if not status.intact:
        raise PdfSignatureError(
            "the PDF's signature does not match its bytes: the document was changed after signing"
        )
    if not status.valid:
        raise PdfSignatureError("the PDF's signature is not valid for its certificate")
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        raise PdfSignatureError(
            "the PDF was changed after signing: content was added after the signed revision"
        )
    if not status.trusted:
        raise PdfSignatureError("the PDF's signing certificate is not trusted")
    return PdfSignatureReport(
        signer=signer_cert.subject.human_friendly,
        signed_at=status.signer_reported_dt,
        pinned=trusted_pems is not None,
    )
