"""Where photos come from: the phone's camera or, on a desktop, a file the driver picks.

A ``PhotoSource`` answers later, because a camera does: the app asks, the camera takes
over the screen, and the picture comes back when the driver is done. Each photo is
stamped as it reaches the app, with the device's clock and its position then;
``media.prepare_photo`` strips the file's own metadata (EXIF, the camera's GPS
included), so this stamp, written into the delivery event (``payload.photos``), is
the photo's time and place of record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from backend.domain.clock import system_now
from backend.domain.events import EvidenceKind
from driver_client.capture import Evidence, LocationProvider
from driver_client.media import prepare_photo


@dataclass(frozen=True)
class Photo:
    data: bytes  # as the camera or the file gave them
    taken_at: datetime
    geo: dict[str, Any] | None  # the fix as the event writes it, None for no fix

    def evidence(self) -> Evidence:
        """The bytes to keep (upright, downscaled, no metadata) with this stamp.

        Raises ``media.MediaRejected`` when the picture cannot be read.
        """
        return Evidence(prepare_photo(self.data), EvidenceKind.PHOTO, "image/jpeg", self.stamp)

    @property
    def stamp(self) -> dict[str, Any]:
        return {"taken_at": self.taken_at.isoformat(), "geo": self.geo}


# The photo, or None and what to tell the driver ("no photo was taken", a refusal).
PhotoDone = Callable[[Photo | None, str], None]


class PhotoSource(Protocol):
    def take(self, done: PhotoDone) -> None:
        """Get one photo; ``done`` is called once, later, on the UI's thread."""
        ...


class Stamper:
    """Stamps a picture with the device's time and position at the moment it arrives."""

    def __init__(
        self, location: LocationProvider, now: Callable[[], datetime] = system_now
    ) -> None:
        self.location = location
        self.now = now

    def __call__(self, data: bytes) -> Photo:
        fix = self.location.current_fix()
        return Photo(data, self.now(), fix.to_dict() if fix else None)


class FileSource:
    """One given file as every photo: the command line and the UI tests."""

    def __init__(self, path: Path, stamp: Stamper) -> None:
        self.path = path
        self.stamp = stamp

    def take(self, done: PhotoDone) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            done(None, f"The photo could not be read: {exc.strerror or exc}.")
            return
        done(self.stamp(data), "")


class NoCamera:
    """A device with no way to take a photo (a benchmark, a kiosk)."""

    def take(self, done: PhotoDone) -> None:
        done(None, "This device cannot take photos.")
