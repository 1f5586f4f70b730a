"""The proof-of-delivery document a customer is handed: one PDF page.

Everything on it comes from the evidence bundle: the address and times, the
recipient's name and signature, the photos (re-encoded here, so no location or camera
metadata can reach the customer whatever the device sent), where the proof was
captured, and the digest and receipt that ``doorstep verify`` checks.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fpdf import FPDF
from PIL import Image, ImageOps

PHOTO_MAX_SIDE = 900


def _latin(text: Any) -> str:
    # The PDF's built-in fonts cover Latin-1; anything else is shown as "?" rather
    # than failing the document.
    return str(text if text is not None else "").encode("latin-1", "replace").decode("latin-1")


def clean_photo(data: bytes) -> bytes:
    """Upright JPEG without any metadata block (EXIF, GPS, XMP, ICC)."""
    with Image.open(io.BytesIO(data)) as original:
        image = ImageOps.exif_transpose(original).convert("RGB")
    image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=82)
    return out.getvalue()


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
    for kind, title in (("signature", "Signature"), ("photo", "Photo")):
        for item in (f for f in files if f.get("kind") == kind):
            data = file_bytes(item["sha256"])
            if data is None:
                pdf.cell(0, 8, _latin(f"{title}: not yet received"), new_x="LMARGIN", new_y="NEXT")
                continue
            if kind == "photo":
                data = clean_photo(data)
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
            # Fit in a box so signature, photo and verification stay on one page.
            pdf.image(
                io.BytesIO(data), w=90, h=30 if kind == "signature" else 70, keep_aspect_ratio=True
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
        "Check the evidence bundle with: doorstep verify bundle.json",
    ):
        pdf.multi_cell(0, 4, _latin(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


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
