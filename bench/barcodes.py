"""Barcode decode time per camera frame (zbar through pyzbar, as the driver app uses it).

A parcel label's Code 128 and a QR code, each printed at a label's size in a
camera-sized frame (1280 x 720 and 1920 x 1080) over a noisy, unevenly lit
background, the way a phone's preview frame looks. Each is timed three ways, as the
median of several runs:

- the floor: Pillow's grayscale conversion of the same RGB frame, the least any
  decoder must do with it;
- zbar on that grayscale frame (a camera preview's path);
- zbar told to look for that one symbology only (what restricting the app's
  symbologies would save);
- the app's ``driver_client.barcodes.decode`` on the frame as a JPEG still (the
  "Scan" button's path: JPEG decode, upright, grayscale, zbar, sharpen-and-retry
  only when nothing was read).

Data Matrix is reported as not measured: zbar does not read it (docs/driver-client.md).
A frame whose code is not read is named in the row's note; that is a failure of the
bench, not a slow number.
"""

from __future__ import annotations

import functools
import io
import random
import statistics
import time
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

from bench.common import Row
from driver_client.barcodes import ScannerMissing, decode

FRAMES = ((1280, 720), (1920, 1080))
RUNS = 9
PARCEL = "DS00012345678"
# What a label takes of the frame when the driver holds the phone at arm's length.
CODE_WIDTH_SHARE = 0.35


def _code128(text: str) -> Image.Image:
    import barcode
    from barcode.writer import ImageWriter

    out = io.BytesIO()
    barcode.get("code128", text, writer=ImageWriter()).write(out)
    return Image.open(out).convert("RGB")


def _qr(text: str) -> Image.Image:
    import qrcode

    picture: Image.Image = qrcode.make(text, border=4).get_image()
    return picture.convert("RGB")


# (name, maker, zbar's name for it)
SYMBOLOGIES: tuple[tuple[str, Callable[[str], Image.Image], str], ...] = (
    ("Code 128", _code128, "CODE128"),
    ("QR", _qr, "QRCODE"),
)


def camera_frame(code: Image.Image, size: tuple[int, int], seed: int = 7) -> Image.Image:
    """``code`` on a label, on a cardboard-coloured, noisy, unevenly lit frame."""
    width, height = size
    rng = random.Random(seed)
    noise = Image.frombytes("L", (width // 4, height // 4), rng.randbytes(width * height // 16))
    grain = noise.resize(size).filter(ImageFilter.GaussianBlur(1))
    frame = Image.new("RGB", size, (176, 140, 98))
    frame = Image.blend(frame, Image.merge("RGB", (grain, grain, grain)), 0.18)
    shade = Image.linear_gradient("L").resize(size).point(lambda v: 200 + v // 5)
    frame = Image.composite(frame, Image.new("RGB", size, (40, 30, 20)), shade)
    scale = width * CODE_WIDTH_SHARE / code.width
    label = code.resize(
        (int(code.width * scale), int(code.height * scale)), Image.Resampling.BICUBIC
    )
    margin = 24
    card = Image.new("RGB", (label.width + 2 * margin, label.height + 2 * margin), "white")
    card.paste(label, (margin, margin))
    card = card.rotate(4, expand=True, fillcolor=(176, 140, 98))
    frame.paste(card, ((width - card.width) // 2, (height - card.height) // 2))
    ImageDraw.Draw(frame).rectangle((0, 0, width - 1, height - 1), outline=(90, 70, 50))
    return frame


def _median_ms(work: Callable[[], object]) -> float:
    work()  # warm: first calls load libraries and fill caches
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run() -> list[Row]:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError):
        return [Row("barcode decode: skipped, zbar (libzbar0) is not installed", 0, "")]
    rows: list[Row] = []
    for name, make, zbar_name in SYMBOLOGIES:
        only = [getattr(pyzbar.ZBarSymbol, zbar_name)]
        code = make(PARCEL)
        for size in FRAMES:
            frame = camera_frame(code, size)
            grey = frame.convert("L")
            still = io.BytesIO()
            frame.save(still, format="JPEG", quality=90)
            jpeg = still.getvalue()
            read_raw = [s.data.decode() for s in pyzbar.decode(grey)]
            try:
                read_app = decode(jpeg)
            except ScannerMissing:
                read_app = []
            label = f"{name}, {size[0]}x{size[1]}"
            floor = _median_ms(functools.partial(frame.convert, "L"))
            rows.append(Row(f"{label}: grayscale conversion (floor)", floor, "ms"))
            rows.append(
                Row(
                    f"{label}: zbar on the grey frame",
                    _median_ms(functools.partial(pyzbar.decode, grey)),
                    "ms",
                    floor=floor,
                    note="" if read_raw == [PARCEL] else f"NOT READ: {read_raw}",
                )
            )
            rows.append(
                Row(
                    f"{label}: zbar, {name} only",
                    _median_ms(functools.partial(pyzbar.decode, grey, symbols=only)),
                    "ms",
                    floor=floor,
                )
            )
            rows.append(
                Row(
                    f"{label}: the app's decode of the JPEG still",
                    _median_ms(functools.partial(decode, jpeg)),
                    "ms",
                    floor=floor,
                    note="" if read_app == [PARCEL] else f"NOT READ: {read_app}",
                )
            )
    rows.append(Row("Data Matrix: not measured, zbar does not read it", 0, ""))
    return rows
