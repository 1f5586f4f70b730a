"""Is an evidence file the image it claims to be? Decided once, when its bytes verify.

A hash proves the bytes are the device's, not that they are a picture: a text file, an
HTML page or an SVG can be declared ``image/jpeg`` and hash perfectly. Every file is
therefore opened as its declared format only (never sniffed into another one) and
decoded once, with its pixel count checked from the header before any pixel is
decoded, so a small file that inflates to gigabytes never gets the chance to.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from backend.domain.refusal import Refusal

# A 48 MP phone sensor bins to 12 MP; 40 MP leaves room for any camera a driver holds
# while bounding one decode to ~160 MB of RGBA.
MAX_PIXELS = 40_000_000

# The one Pillow decoder each declared type may use.
DECLARED_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}

# Stable reasons stored on the file row and shown to back office.
IMAGE_TOO_LARGE = "image_too_large"
NOT_AN_IMAGE = "not_an_image"


class ImageRefused(Refusal):
    """The bytes are not an image of the declared type within the pixel cap; ``code``
    is the stable reason stored on the file row."""


@contextmanager
def open_bounded(data: bytes, content_type: str) -> Iterator[Image.Image]:
    """The image, opened as its declared type with its size checked, not yet decoded.

    Raises ImageRefused. Pillow reads only the header here; the caller decodes (``load``,
    ``convert``, ``thumbnail``) inside the ``with`` block, knowing the pixel count is
    bounded.
    """
    fmt = DECLARED_FORMATS.get(content_type)
    if fmt is None:
        raise ImageRefused(NOT_AN_IMAGE, f"{content_type} is not an accepted image type")
    with warnings.catch_warnings():
        # Pillow's own bomb check is a warning below twice its limit; ours is the cap.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise ImageRefused(IMAGE_TOO_LARGE, str(exc)) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            # OSError covers UnidentifiedImageError: not a {fmt} at all.
            raise ImageRefused(NOT_AN_IMAGE, f"the bytes are not a {fmt} image") from exc
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageRefused(
                    IMAGE_TOO_LARGE,
                    f"the image is {width} x {height} pixels; at most {MAX_PIXELS} are accepted",
                )
            yield image


def check_image(data: bytes, content_type: str) -> None:
    """Decode the whole image once; raise ImageRefused if it is not what it claims."""
    with open_bounded(data, content_type) as image:
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            # Truncated or corrupt data past a valid header.
            raise ImageRefused(NOT_AN_IMAGE, f"the {image.format} image does not decode") from exc
