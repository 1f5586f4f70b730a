"""Turning what the driver drew and photographed into the bytes that are sent.

The hash of a piece of evidence is the hash of exactly these bytes, so everything is
decided here, once, before the capture is saved: signatures become small PNGs, photos
are turned upright, downscaled, re-encoded as JPEG and stripped of every metadata
block (EXIF, including GPS; XMP; ICC) — the proof's own geo-stamp is the location of
record, and a customer's copy must not leak the camera's.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageOps

Point = tuple[float, float]

SIGNATURE_SIZE = (600, 200)
PHOTO_MAX_SIDE = 1600
PHOTO_QUALITY = 80
# Refuse absurd images before decoding them fully (a 'photo' of 100k x 100k pixels).
MAX_PIXELS = 50_000_000


class MediaRejected(ValueError):
    """The drawing or photo cannot be used; the message is for the driver."""


def render_signature(
    strokes: Sequence[Sequence[Point]],
    canvas_size: tuple[float, float],
    size: tuple[int, int] = SIGNATURE_SIZE,
    line_width: int = 4,
    origin_bottom_left: bool = True,
) -> bytes:
    """Render touch strokes (canvas coordinates) to a compact black-on-white PNG.

    Kivy's origin is the bottom-left corner; images count rows from the top, hence
    ``origin_bottom_left``. Strokes are scaled to fit ``size`` keeping their shape.
    """
    points = [p for stroke in strokes for p in stroke]
    if len(points) < 2:
        raise MediaRejected("no signature was drawn")
    width, height = canvas_size
    if width <= 0 or height <= 0:
        raise MediaRejected("the signature pad has no size")
    scale = min(size[0] / width, size[1] / height)
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)

    def place(point: Point) -> tuple[float, float]:
        x, y = point
        if origin_bottom_left:
            y = height - y
        return (x * scale, y * scale)

    for stroke in strokes:
        placed = [place(p) for p in stroke]
        if len(placed) == 1:
            x, y = placed[0]
            r = line_width / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
        elif placed:
            draw.line(placed, fill=0, width=line_width, joint="curve")
    # Two colours are enough for ink; a 1-bit PNG of a signature is a few kilobytes.
    out = io.BytesIO()
    image.convert("1").save(out, format="PNG", optimize=True)
    return out.getvalue()


def prepare_photo(
    data: bytes, max_side: int = PHOTO_MAX_SIDE, quality: int = PHOTO_QUALITY
) -> bytes:
    """Upright, downscaled JPEG with no metadata: the bytes that will be hashed and sent."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise MediaRejected("the photo is too large to process")
            probe.verify()
        with Image.open(io.BytesIO(data)) as original:
            image = ImageOps.exif_transpose(original)
            image = image.convert("RGB")
    except MediaRejected:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaRejected("the photo could not be read") from exc
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, no icc_profile=, no xmp=: Pillow writes none of them unless asked.
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()
