"""Parcel barcodes read from a camera picture, and what they say about the stop.

Decoding is zbar's (pyzbar; python-for-android packages both): Code 128 and QR, the
labels parcels carry, plus the retail and older symbologies zbar reads. zbar does not
read Data Matrix. A picture is decoded in grey at phone-photo size; a code the
server would refuse (outside the protocol's barcode alphabet) is never offered.
Typing, or a keyboard-wedge scanner typing for the driver, stays the fallback.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from backend.domain.events import BARCODE
from driver_client.i18n import _

# A 12-megapixel frame decodes several times slower than this and reads no more
# parcel labels held at arm's length.
DECODE_MAX_SIDE = 2000


class ScannerMissing(RuntimeError):
    """zbar is not installed (the desktop needs libzbar0: `make test` installs it)."""


def _symbols() -> Any:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as exc:  # pyzbar raises ImportError without libzbar
        raise ScannerMissing("barcode scanning needs zbar (libzbar0)") from exc
    return pyzbar


def decode(picture: bytes) -> list[str]:
    """The parcel barcodes in a picture, in reading order, each once."""
    pyzbar = _symbols()
    try:
        with Image.open(io.BytesIO(picture)) as opened:
            image = ImageOps.exif_transpose(opened).convert("L")
    except (OSError, ValueError, Image.DecompressionBombError):
        return []
    image.thumbnail((DECODE_MAX_SIDE, DECODE_MAX_SIDE))
    symbols = pyzbar.decode(image)
    if not symbols:
        # A hand that shook: stretched contrast and sharpened edges read a slightly
        # blurred label that zbar misses as it is.
        sharpened = ImageOps.autocontrast(image).filter(
            ImageFilter.UnsharpMask(radius=2, percent=200, threshold=0)
        )
        symbols = pyzbar.decode(sharpened)
    found: list[str] = []
    for symbol in symbols:
        try:
            text = symbol.data.decode("ascii").strip()
        except UnicodeDecodeError:
            continue
        if BARCODE.fullmatch(text) and text not in found:
            found.append(text)
    return found


@dataclass(frozen=True)
class ScanCheck:
    """The stop's parcels against what was scanned, for the capture screen."""

    scanned: tuple[str, ...]  # this stop's parcels, scanned
    missing: tuple[str, ...]  # this stop's parcels, not scanned yet
    elsewhere: Mapping[str, str]  # a scanned code -> the other stop it belongs to
    unknown: tuple[str, ...]  # scanned, on no stop of the day

    def summary(self) -> str:
        total = len(self.scanned) + len(self.missing)
        lines = [_("Scanned {done} of {total}.").format(done=len(self.scanned), total=total)]
        if self.missing:
            lines.append(_("Still to scan: {codes}.").format(codes=", ".join(self.missing)))
        lines.extend(
            _("{code} belongs to {stop}, not this stop.").format(code=code, stop=stop)
            for code, stop in self.elsewhere.items()
        )
        if self.unknown:
            lines.append(_("Not on today's list: {codes}.").format(codes=", ".join(self.unknown)))
        return "\n".join(lines)


def check_scans(
    codes: Iterable[str], stop: Mapping[str, Any], day: Sequence[Mapping[str, Any]]
) -> ScanCheck:
    """``codes`` against ``stop``'s parcels and the other stops of ``day``."""
    expected = [p["barcode"] for p in stop.get("parcels", [])]
    owners = {
        parcel["barcode"]: _("stop {number}").format(number=other.get("sequence") or other["id"])
        for other in day
        if other["id"] != stop.get("id")
        for parcel in other.get("parcels", [])
    }
    codes = list(dict.fromkeys(codes))
    return ScanCheck(
        scanned=tuple(c for c in expected if c in codes),
        missing=tuple(c for c in expected if c not in codes),
        elsewhere={c: owners[c] for c in codes if c not in expected and c in owners},
        unknown=tuple(c for c in codes if c not in expected and c not in owners),
    )
