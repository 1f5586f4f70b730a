"""Parcel barcodes read from camera pictures: generated labels, turned, blurred, in a photo."""

from __future__ import annotations

import io
from collections.abc import Callable

import barcode
import pytest
import qrcode
from barcode.writer import ImageWriter
from PIL import Image, ImageFilter

from driver_client.barcodes import ScannerMissing, check_scans, decode

try:
    decode(b"")
except ScannerMissing:
    pytest.skip("zbar is not installed (make test installs libzbar0)", allow_module_level=True)

PARCEL = "DS20261124000123"


def code128(text: str = PARCEL) -> Image.Image:
    out = io.BytesIO()
    barcode.get("code128", text, writer=ImageWriter()).write(out)
    return Image.open(out).convert("RGB")


def qr(text: str = PARCEL) -> Image.Image:
    image: Image.Image = qrcode.make(text).get_image().convert("RGB")
    return image


def as_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def in_a_photo(*labels: Image.Image) -> Image.Image:
    """Labels on a parcel in a 12-megapixel picture, the way a phone sends it."""
    photo = Image.new("RGB", (4000, 3000), (150, 110, 70))
    x = 600
    for label in labels:
        photo.paste(label.resize((label.width * 3, label.height * 3)), (x, 900))
        x += label.width * 3 + 400
    return photo


TURNS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "straight": lambda image: image,
    "upside down": lambda image: image.rotate(180),
    "sideways": lambda image: image.rotate(90, expand=True, fillcolor="white"),
    "tilted": lambda image: image.rotate(12, expand=True, fillcolor="white"),
    "slightly blurred": lambda image: image.filter(ImageFilter.GaussianBlur(1.2)),
}


@pytest.mark.parametrize("turn", TURNS)
@pytest.mark.parametrize("symbology", [code128, qr])
def test_a_parcel_label_is_read_however_it_is_held(
    symbology: Callable[[], Image.Image], turn: str
) -> None:
    assert decode(as_jpeg(TURNS[turn](symbology()))) == [PARCEL]


def test_labels_are_read_from_a_whole_phone_photo() -> None:
    photo = in_a_photo(code128("DS20261124000123"), qr("DS20261124000124"))
    assert sorted(decode(as_jpeg(photo))) == ["DS20261124000123", "DS20261124000124"]


def test_the_same_label_twice_is_one_scan() -> None:
    assert decode(as_jpeg(in_a_photo(code128(), code128()))) == [PARCEL]


def test_a_code_the_server_would_refuse_is_not_offered() -> None:
    assert decode(as_jpeg(qr("https://example.org/not a parcel"))) == []


def test_a_picture_without_a_label_or_not_a_picture_reads_nothing() -> None:
    assert decode(as_jpeg(Image.new("RGB", (800, 600), "tan"))) == []
    assert decode(b"not a picture") == []


DAY = [
    {"id": 1, "sequence": 1, "parcels": [{"barcode": "P1"}, {"barcode": "P2"}]},
    {"id": 2, "sequence": 2, "parcels": [{"barcode": "P3"}]},
]


def test_the_screen_shows_what_is_scanned_missing_and_on_another_stop() -> None:
    check = check_scans(["P1", "P3", "X9", "P1"], DAY[0], DAY)
    assert check.scanned == ("P1",)
    assert check.missing == ("P2",)
    assert dict(check.elsewhere) == {"P3": "stop 2"}
    assert check.unknown == ("X9",)
    assert check.summary() == (
        "Scanned 1 of 2.\n"
        "Still to scan: P2.\n"
        "P3 belongs to stop 2, not this stop.\n"
        "Not on today's list: X9."
    )


def test_every_parcel_scanned_says_so() -> None:
    assert check_scans(["P2", "P1"], DAY[0], DAY).summary() == "Scanned 2 of 2."
