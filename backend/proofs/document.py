"""The proof-of-delivery document a customer is handed: one PDF page.

Everything on it comes from the evidence bundle: the address and times, the
recipient's name and signature, the photos (re-encoded here, so no location or camera
metadata can reach the customer whatever the device sent), where the proof was
captured, and the digest and receipt that ``doorstep verify`` checks.

The PDF also carries a ``proof.json`` attachment (``verification_record``): the sealed
proof, its receipt and the public keys, so that ``doorstep verify proof.pdf`` checks the
document on its own. It holds only what verification needs: the bundle's events, other
proofs, conflicts and stop details are internal and stay out of the customer's hands
(the sealed fields travel whole, driver and device included, as the digest covers
them). Reading the document back (``read_embedded_proof``, ``read_printed_digest``)
lives here too, so the PDF format is known to this module alone.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

from fpdf import FPDF
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from backend.evidence.images import ImageRefused, open_bounded

PHOTO_MAX_SIDE = 900
SIGNATURE_MAX_SIDE = 1200
PDF_MAGIC = b"%PDF-"
EMBEDDED_PROOF_NAME = "proof.json"
EMBEDDED_PROOF_VERSION = 1
# The label of the digest line in the page's verification block (see render_proof_pdf).
_PRINTED_DIGEST = re.compile(r"\bdigest\s+([0-9a-f]{64})\b")
# pypdf raises its own errors for most damage, but a crafted or truncated file can
# surface as a plain Python error from deep in the parser; none may reach the user as
# a traceback.
_UNREADABLE_PDF = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError)


class ProofDocumentError(ValueError):
    """The bytes are not a readable proof-of-delivery PDF."""


def _latin(text: Any) -> str:
    # The PDF's built-in fonts cover Latin-1; anything else is shown as "?" rather
    # than failing the document.
    return str(text if text is not None else "").encode("latin-1", "replace").decode("latin-1")


def clean_photo(data: bytes, content_type: str = "image/jpeg") -> bytes:
    """Upright JPEG without any metadata block (EXIF, GPS, XMP, ICC).

    Raises ImageRefused for anything but a ``content_type`` image within the pixel cap.
    """
    with open_bounded(data, content_type) as original:
        # A JPEG decodes straight to near the size shown, at a fraction of the memory.
        original.draft("RGB", (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
        image = ImageOps.exif_transpose(original)
        image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=82)
    return out.getvalue()


def _clean_signature(data: bytes, content_type: str = "image/png") -> bytes:
    """The signature redrawn as a plain PNG on white, whatever chunks the file carried."""
    with open_bounded(data, content_type) as original:
        original.load()
        original.thumbnail((SIGNATURE_MAX_SIDE, SIGNATURE_MAX_SIDE))
        rgba = original.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, "white")
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def printable_image(data: bytes, kind: str, content_type: str | None = None) -> bytes | None:
    """The image re-encoded for the page, or None if it cannot be decoded.

    Every image is decoded and re-encoded here, never embedded as sent: the hash proves
    the bytes are the device's, not that they are a well-formed image, and a file that
    is not one must cost the customer a line of text, not the whole document. Only the
    declared type is tried, and the pixel cap is checked from the header first, so a
    file verified before uploads were checked cannot exhaust the worker either.
    """
    declared = content_type or ("image/png" if kind == "signature" else "image/jpeg")
    try:
        if kind == "signature":
            return _clean_signature(data, declared)
        return clean_photo(data, declared)
    except (ImageRefused, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        # OSError covers PIL's UnidentifiedImageError and truncated files.
        return None


def verification_record(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """What ``doorstep verify`` needs from a bundle, or None while there is no receipt."""
    proof = bundle.get("proof")
    receipt = bundle.get("receipt")
    if not proof or not receipt:
        return None
    return {
        "proof_version": EMBEDDED_PROOF_VERSION,
        "stop": {"order_number": bundle["stop"].get("order_number")},
        "proof": {
            "fields": proof.get("fields"),
            "files": [
                {
                    key: item.get(key)
                    for key in ("sha256", "kind", "content_type", "size", "invalid_reason")
                    if key != "invalid_reason" or item.get(key)
                }
                for item in proof.get("files") or []
            ],
            "digest": proof.get("digest"),
        },
        "receipt": receipt,
        "public_keys": bundle.get("public_keys") or {},
    }


def render_proof_pdf(bundle: dict[str, Any], file_bytes: Callable[[str], bytes | None]) -> bytes:
    """Build the PDF from a bundle; ``file_bytes(sha256)`` returns a file, if held."""
    pdf = FPDF(format="A4")
    pdf.set_compression(False)  # a page of text and a few images; keeps it inspectable
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    stop = bundle["stop"]
    proof = bundle.get("proof") or {}
    fields = proof.get("fields") or {}
    receipt = bundle.get("receipt") or {}

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Proof of delivery", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    lines = [
        ("Order", stop.get("order_number")),
        ("Address", stop.get("address")),
        ("Status", bundle.get("status")),
        ("Delivered at", fields.get("recorded_at")),
        ("Received by", fields.get("recipient_name")),
        ("Left", (fields.get("where_left") or "").replace("_", " ")),
        ("Parcels scanned", ", ".join(fields.get("scanned_barcodes") or []) or "none"),
        ("Location check", _geo_line(proof.get("geo_check"))),
    ]
    for label, value in lines:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(40, 7, _latin(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 7, _latin(value), new_x="LMARGIN", new_y="NEXT")

    files = proof.get("files") or []
    purged = {f["sha256"] for f in bundle.get("files") or [] if f.get("purged")}
    for kind, title in (("signature", "Signature"), ("photo", "Photo")):
        for item in (f for f in files if f.get("kind") == kind):
            if item.get("invalid_reason"):
                # Never decoded again: it failed once, or was too large to try.
                why = (
                    f"cannot be shown, it is not a valid {item.get('content_type')} "
                    f"({item['invalid_reason']}; file {item['sha256'][:12]})"
                )
                pdf.cell(0, 8, _latin(f"{title}: {why}"), new_x="LMARGIN", new_y="NEXT")
                continue
            data = file_bytes(item["sha256"])
            image = (
                printable_image(data, kind, item.get("content_type")) if data is not None else None
            )
            if image is None:
                if item["sha256"] in purged:
                    why = "deleted by the retention policy (its hash still verifies)"
                elif data is None:
                    why = "not yet received"
                else:
                    why = f"cannot be shown (file {item['sha256'][:12]}); its hash is below"
                pdf.cell(0, 8, _latin(f"{title}: {why}"), new_x="LMARGIN", new_y="NEXT")
                continue
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
            # Fit in a box so signature, photo and verification stay on one page.
            pdf.image(
                io.BytesIO(image), w=90, h=30 if kind == "signature" else 70, keep_aspect_ratio=True
            )

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Verification", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 8)
    for text in (
        f"digest    {proof.get('digest', 'none')}",
        f"receipt   {receipt.get('alg', '')} key {receipt.get('kid', '')} "
        f"issued {receipt.get('issued_at', '')}",
        f"signature {receipt.get('signature', '')}",
        "Check this document with: doorstep verify <this file>.pdf",
    ):
        pdf.multi_cell(0, 4, _latin(text), new_x="LMARGIN", new_y="NEXT")
    record = verification_record(bundle)
    if record is not None:
        pdf.embed_file(
            bytes=json.dumps(record, indent=2, ensure_ascii=False).encode("utf-8"),
            basename=EMBEDDED_PROOF_NAME,
            mime_type="application/json",
            desc="Proof of delivery and its signed receipt: doorstep verify <this file>.pdf",
        )
    return bytes(pdf.output())


def is_pdf(data: bytes) -> bool:
    return data.startswith(PDF_MAGIC)


def _reader(pdf_bytes: bytes) -> PdfReader:
    try:
        return PdfReader(io.BytesIO(pdf_bytes))
    except _UNREADABLE_PDF as exc:
        raise ProofDocumentError(f"cannot read the PDF: {exc}") from exc


def read_embedded_proof(pdf_bytes: bytes) -> dict[str, Any] | None:
    """The ``proof.json`` attachment of a proof PDF; None if the PDF has none.

    Raises ProofDocumentError if the PDF or the attachment cannot be read.
    """
    reader = _reader(pdf_bytes)
    try:
        contents = reader.attachments.get(EMBEDDED_PROOF_NAME)
    except _UNREADABLE_PDF as exc:
        raise ProofDocumentError(f"cannot read the PDF's attachments: {exc}") from exc
    if not contents:
        return None
    if len(contents) > 1:
        # Two different proof.json files would let a reader be shown one while
        # verifying the other.
        raise ProofDocumentError(f"the PDF carries {len(contents)} {EMBEDDED_PROOF_NAME} files")
    try:
        record = json.loads(contents[0])
    except ValueError as exc:
        raise ProofDocumentError(f"{EMBEDDED_PROOF_NAME} is not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise ProofDocumentError(f"{EMBEDDED_PROOF_NAME} is not a JSON object")
    return record


def read_printed_digest(pdf_bytes: bytes) -> str | None:
    """The digest shown in the page's verification block, if the text has one."""
    reader = _reader(pdf_bytes)
    try:
        text = "\n".join(page.extract_text() for page in reader.pages)
    except _UNREADABLE_PDF as exc:
        raise ProofDocumentError(f"cannot read the PDF's text: {exc}") from exc
    found = _PRINTED_DIGEST.findall(text)
    # The verification block is drawn last, so its digest is the last one on the page.
    return found[-1] if found else None


def _geo_line(check: dict[str, Any] | None) -> str:
    if not check:
        return "no proof yet"
    if check.get("outcome") == "no_fix":
        return "the device had no position"
    distance = check.get("distance_m")
    return (
        f"{check.get('outcome')} ({distance:.0f} m from the stop)"
        if distance is not None
        else str(check.get("outcome"))
    )
