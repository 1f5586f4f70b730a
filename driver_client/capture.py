"""Capturing what happened at the door, durably, with no network.

Order of writes, so that a kill or a dead battery at any instant loses nothing the
driver was told was saved: each evidence file is written to a temporary name, fsynced,
renamed to its hash and its folder fsynced; only then does one transaction insert the
event into the outbox (with the file rows and the clock state). A crash before that
commit leaves files no event references: ``recover_orphans`` finds them at startup
and keeps them. The capture returns only after the commit, so "saved" means saved.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from backend.domain.clock import system_now
from backend.domain.events import EventType, EvidenceKind, WhereLeft, parse_event
from backend.domain.hlc import HLCTimestamp, HybridLogicalClock
from backend.domain.stops import ProofPolicy, StopStatus
from driver_client.store import EvidenceFile, Store

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
# What the driver sees until the server's derived status comes back (a note changes
# nothing the list shows).
LOCAL_STATUS = {
    EventType.ARRIVED: StopStatus.ARRIVED,
    EventType.DELIVERED: StopStatus.DELIVERED,
    EventType.FAILED: StopStatus.FAILED,
}


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float
    fixed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "fixed_at": self.fixed_at.isoformat(),
        }


class LocationProvider(Protocol):
    def current_fix(self) -> Fix | None:
        """The latest position, or None when there is honestly no fix."""
        ...


class FixedLocation:
    """A desktop or test stand-in: always the same position."""

    def __init__(
        self,
        lat: float,
        lon: float,
        accuracy_m: float = 10.0,
        now: Callable[[], datetime] = system_now,
    ) -> None:
        self.lat, self.lon, self.accuracy_m = lat, lon, accuracy_m
        self.now = now

    def current_fix(self) -> Fix | None:
        return Fix(self.lat, self.lon, self.accuracy_m, self.now())


class NoLocation:
    def current_fix(self) -> Fix | None:
        return None


class PlyerLocation:
    """The handheld's GPS through plyer; keeps the latest fix it was given.

    A fix older than ``max_age_s`` is not used: a stale position recorded as current
    would be a false geo-stamp, and "no fix" is the honest answer. Where plyer has no
    GPS (a desktop), every capture records "no fix".
    """

    def __init__(self, max_age_s: float = 120.0, now: Callable[[], datetime] | None = None) -> None:
        self.max_age_s = max_age_s
        self.now = now or system_now
        self.latest: Fix | None = None
        self.available = False
        try:
            from plyer import gps

            gps.configure(on_location=self.on_location)
            gps.start(minTime=1000, minDistance=1)
            self.available = True
        except (ImportError, NotImplementedError, ModuleNotFoundError):
            self.available = False

    def on_location(self, **kwargs: Any) -> None:
        try:
            self.latest = Fix(
                float(kwargs["lat"]),
                float(kwargs["lon"]),
                float(kwargs.get("accuracy", 50.0)),
                self.now(),
            )
        except (KeyError, TypeError, ValueError):
            return  # a malformed reading is no fix, not a crash

    def current_fix(self) -> Fix | None:
        fix = self.latest
        if fix is None or (self.now() - fix.fixed_at).total_seconds() > self.max_age_s:
            return None
        return fix


# Control characters (a scanner's NUL, a stray escape) carry no meaning in a name or a
# note, and the server rejects an event holding NUL: a delivery must never be refused
# for a keystroke nobody can see, so they are dropped when the text is captured.
_INVISIBLE = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n") | {0x7F: None}


def printable(text: str) -> str:
    """``text`` without control characters (tabs and line breaks are kept)."""
    return text.translate(_INVISIBLE)


class CaptureRefused(Exception):
    """The capture was not saved; ``reasons`` says why, in words for the driver."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


class StorageFull(CaptureRefused):
    """The device could not write the capture (disk full, storage failing)."""


@dataclass(frozen=True)
class Evidence:
    data: bytes
    kind: EvidenceKind
    content_type: str
    # A photo's {taken_at, geo} when it reached the app (photos.py); its file has none.
    stamp: dict[str, Any] | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Capture:
    def __init__(
        self,
        store: Store,
        files_dir: Path,
        device_id: str,
        location: LocationProvider,
        now: Callable[[], datetime] = system_now,
    ) -> None:
        self.store = store
        self.files_dir = files_dir
        self.device_id = device_id
        self.location = location
        self.now = now
        files_dir.mkdir(parents=True, exist_ok=True)
        state = store.get("hlc")
        last = HLCTimestamp(state["wall_ms"], state["counter"], device_id) if state else None
        self.clock = HybridLogicalClock(device_id, lambda: int(self.now().timestamp() * 1000), last)

    # -- the four things a driver records ------------------------------------------

    def arrive(self, stop_id: int) -> dict[str, Any]:
        return self._record(stop_id, EventType.ARRIVED, {"geo": self._geo()}, [])

    def note(self, stop_id: int, text: str) -> dict[str, Any]:
        return self._record(stop_id, EventType.NOTE, {"text": printable(text)}, [])

    def fail(
        self, stop_id: int, reason: str, note: str = "", evidence: Sequence[Evidence] = ()
    ) -> dict[str, Any]:
        """Record a failed attempt; ``reason`` is a ``FailureReason`` (checked before saving).
        ``evidence``: photos of why (the closed gate), saved like a delivery's."""
        payload = {"reason": reason, "note": printable(note), "geo": self._geo()}
        return self._record(stop_id, EventType.FAILED, payload, evidence)

    def deliver(
        self,
        stop_id: int,
        recipient_name: str,
        scanned_barcodes: Sequence[str] = (),
        where_left: str = WhereLeft.HANDED_TO_RECIPIENT,
        evidence: Sequence[Evidence] = (),
        age_verified: bool | None = None,
    ) -> dict[str, Any]:
        """Record a delivery; refused (nothing saved) if the stop's proof policy is unmet."""
        recipient_name = printable(recipient_name)
        stop = self.store.stop(stop_id)
        if stop is None:
            raise CaptureRefused(["this stop is not on the device"])
        self._check_policy(stop, recipient_name, scanned_barcodes, evidence, age_verified)
        payload: dict[str, Any] = {
            "recipient_name": recipient_name,
            "geo": self._geo(),
            "scanned_barcodes": list(scanned_barcodes),
            "where_left": where_left,
        }
        if age_verified is not None:
            payload["age_verified"] = age_verified
        stamped = [e for e in evidence if e.stamp is not None]
        if stamped:
            payload["photos"] = [
                {"sha256": hashlib.sha256(e.data).hexdigest(), **(e.stamp or {})} for e in stamped
            ]
        return self._record(stop_id, EventType.DELIVERED, payload, evidence)

    # -- internals -------------------------------------------------------------------

    def _geo(self) -> dict[str, Any] | None:
        fix = self.location.current_fix()
        return fix.to_dict() if fix else None

    @staticmethod
    def _check_policy(
        stop: dict[str, Any],
        recipient_name: str,
        barcodes: Sequence[str],
        evidence: Sequence[Evidence],
        age_verified: bool | None,
    ) -> None:
        policy = ProofPolicy.from_dict(stop.get("proof_policy"))
        missing = []
        if policy.signature and not any(e.kind == EvidenceKind.SIGNATURE for e in evidence):
            missing.append("a signature is required")
        photos = sum(1 for e in evidence if e.kind == EvidenceKind.PHOTO)
        if photos < policy.min_photos:
            missing.append(f"{policy.min_photos} photo(s) required, {photos} taken")
        if policy.signature and not recipient_name.strip():
            missing.append("the recipient's name is required with a signature")
        if policy.age_check and age_verified is not True:
            missing.append("the recipient's age must be checked")
        if policy.parcel_scan:
            expected = {p["barcode"] for p in stop.get("parcels", [])}
            unscanned = expected - set(barcodes)
            if unscanned:
                missing.append(f"scan every parcel ({len(unscanned)} not scanned)")
        if missing:
            raise CaptureRefused(missing)

    def _write_file(self, item: Evidence) -> EvidenceFile:
        sha = hashlib.sha256(item.data).hexdigest()
        final = self.files_dir / f"{sha}.{EXTENSIONS[item.content_type]}"
        if not final.exists():
            fd, tmp = tempfile.mkstemp(dir=self.files_dir, prefix=".capture-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(item.data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, final)
                _fsync_dir(self.files_dir)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return EvidenceFile(sha, final, item.kind, item.content_type, len(item.data))

    def _record(
        self,
        stop_id: int,
        type_: EventType,
        payload: dict[str, Any],
        evidence: Sequence[Evidence],
    ) -> dict[str, Any]:
        try:
            return self._write(stop_id, type_, payload, evidence)
        except (OSError, sqlite3.OperationalError) as exc:
            # Nothing was committed: the outbox is as it was, earlier captures intact.
            # Files already written stay and are picked up as orphans at next start.
            raise StorageFull(
                [f"not saved: the phone could not store the capture ({exc}); free some space"]
            ) from exc

    def _write(
        self,
        stop_id: int,
        type_: EventType,
        payload: dict[str, Any],
        evidence: Sequence[Evidence],
    ) -> dict[str, Any]:
        stop = self.store.stop(stop_id)
        if stop is None:
            raise CaptureRefused(["this stop is not on the device"])
        files = [self._write_file(item) for item in evidence]
        event = {
            "id": str(uuid.uuid4()),
            "stop_id": stop_id,
            "type": type_.value,
            "recorded_at": self.now().isoformat(),
            "hlc": str(self.clock.tick()),
            "base_version": stop["version"],
            "payload": payload,
            "evidence": [
                {
                    "sha256": f.sha256,
                    "kind": str(f.kind),
                    "content_type": f.content_type,
                    "size": f.size,
                }
                for f in files
            ],
        }
        # The server would refuse a malformed event forever; refuse it here instead.
        parse_event(event, self.device_id, self.now())
        status = LOCAL_STATUS.get(type_)
        shown = None if status is None else {**stop, "status": status.value}
        self.store.record_capture(event, files, shown, self.clock.state())
        return event


def recover_orphans(store: Store, files_dir: Path) -> list[Path]:
    """Files written by a capture that crashed before its event committed.

    They are kept, never deleted (a half-written ``.capture-*`` file included): support
    can still recover a signature from them. The list is kept in the store for the
    sync status screen.
    """
    if not files_dir.exists():
        return []
    known = store.known_file_paths()
    orphans = [path for path in sorted(files_dir.iterdir()) if str(path) not in known]
    store.put("orphans", [str(p) for p in orphans])
    return orphans
