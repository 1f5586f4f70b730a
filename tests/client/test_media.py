"""Signatures and photos become the exact bytes that are hashed and sent."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from driver_client.media import MediaRejected, prepare_photo, render_signature

STROKES = [[(10, 10), (60, 80), (120, 20), (200, 90)], [(250, 50), (300, 60)]]


def test_a_signature_renders_as_a_small_black_on_white_png() -> None:
    png = render_signature(STROKES, canvas_size=(400, 133))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (600, 200)
    assert len(png) < 10_000
    histogram = image.convert("L").histogram()
    assert histogram[0] > 200  # ink
    assert histogram[255] > 100_000  # paper


def test_kivy_coordinates_are_flipped_to_image_rows() -> None:
    png = render_signature([[(0, 0), (40, 0)]], canvas_size=(400, 133))
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.getpixel((30, 198)) == 0  # bottom row in Kivy is the bottom of the image
    assert image.getpixel((30, 2)) == 255


def test_the_same_strokes_give_the_same_bytes() -> None:
    assert render_signature(STROKES, (400, 133)) == render_signature(STROKES, (400, 133))


def test_an_empty_pad_is_not_a_signature() -> None:
    with pytest.raises(MediaRejected, match="no signature"):
        render_signature([], canvas_size=(400, 133))


def _camera_jpeg(size: tuple[int, int] = (4000, 3000), orientation: int = 6) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0] // 4):
        image.putpixel((x, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = orientation  # rotated 90 degrees, as phones write it
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (47.0, 36.0, 40.0), 3: "W", 4: (122.0, 19.0, 52.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def test_photos_are_turned_upright_and_downscaled() -> None:
    processed = Image.open(io.BytesIO(prepare_photo(_camera_jpeg())))
    assert processed.format == "JPEG"
    assert processed.size == (1200, 1600)  # 4000x3000 rotated, longest side 1600


def test_photos_lose_every_metadata_block_including_gps() -> None:
    raw = prepare_photo(_camera_jpeg())
    processed = Image.open(io.BytesIO(raw))
    assert dict(processed.getexif()) == {}
    assert "exif" not in processed.info
    assert "icc_profile" not in processed.info
    assert b"PhoneMaker" not in raw


def test_something_that_is_not_a_photo_is_refused() -> None:
    with pytest.raises(MediaRejected, match="could not be read"):
        prepare_photo(b"definitely not a jpeg")
