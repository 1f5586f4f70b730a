"""Door events as devices report them, and the rules each must pass to be accepted.

``parse_event`` turns one untrusted JSON object into a :class:`DoorEvent` or raises
:class:`EventRejected` with a stable ``code`` and the offending ``field``; the sync
endpoint answers each event on its own line, so one bad event never blocks the rest.

The sync protocol's closed sets of words (event types, evidence kinds, result
statuses, change ops) are defined here, once, for the device and the server alike.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from backend.domain.digest import canonical_json, is_sha256_hex, sha256_hex
from backend.domain.hlc import HLCTimestamp
from backend.domain.refusal import Refusal
from backend.domain.untrusted import find_problems

MAX_EVIDENCE_PER_EVENT = 20
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_BARCODES = 200
BARCODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # always fullmatch: "$" passes a trailing "\n"
# recorded_at and fixed_at must fall in this window: earlier than any device of ours
# (a clock reset to 1970, a corrupt value), or more than a day after the server's own
# clock (a device clock set far ahead) is refused as implausible_time.
EARLIEST_TIME = datetime(2020, 1, 1, tzinfo=UTC)
MAX_TIME_AHEAD = timedelta(days=1)
EVENT_KEYS = frozenset(
    {"id", "stop_id", "type", "recorded_at", "hlc", "base_version", "payload", "evidence"}
)


class EventType(enum.StrEnum):
    ARRIVED = "arrived"
    DELIVERED = "delivered"
    FAILED = "failed"
    NOTE = "note"


class FailureReason(enum.StrEnum):
    RECIPIENT_ABSENT = "recipient_absent"
    ADDRESS_NOT_FOUND = "address_not_found"
    ACCESS_DENIED = "access_denied"
    REFUSED = "refused"
    DAMAGED = "damaged"
    UNSAFE_LOCATION = "unsafe_location"
    BUSINESS_CLOSED = "business_closed"
    AGE_CHECK_FAILED = "age_check_failed"
    OTHER = "other"


class WhereLeft(enum.StrEnum):
    HANDED_TO_RECIPIENT = "handed_to_recipient"
    FRONT_DOOR = "front_door"
    BACK_DOOR = "back_door"
    RECEPTION = "reception"
    NEIGHBOUR = "neighbour"
    PARCEL_LOCKER = "parcel_locker"
    MAILROOM = "mailroom"
    OTHER = "other"


class EvidenceKind(enum.StrEnum):
    SIGNATURE = "signature"
    PHOTO = "photo"


class EventResultStatus(enum.StrEnum):
    """How a sync answer settles one event the device sent (docs/sync-protocol.md)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class ChangeOp(enum.StrEnum):
    """What one plan change in a sync answer asks of the device."""

    UPSERT = "upsert"  # hold the stop as sent, at its current version
    REMOVE = "remove"  # stop offering it: taken from this driver, or withdrawn


CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


class EventRejected(Refusal):
    """The event cannot be accepted; ``code`` is stable, ``field`` names the culprit."""


@dataclass(frozen=True)
class EvidenceRef:
    sha256: str
    kind: EvidenceKind
    content_type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "kind": self.kind.value,
            "content_type": self.content_type,
            "size": self.size,
        }


@dataclass(frozen=True)
class DoorEvent:
    id: str
    stop_id: int
    type: EventType
    recorded_at: datetime
    hlc: HLCTimestamp
    base_version: int
    payload: Mapping[str, Any]
    evidence: tuple[EvidenceRef, ...]
    device_id: str


def _reject(code: str, message: str, field: str) -> EventRejected:
    return EventRejected(code, message, field=field)


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_time(value: Any, field: str, now: datetime) -> datetime:
    """An aware time between EARLIEST_TIME and ``now`` + MAX_TIME_AHEAD, as sent."""
    if not isinstance(value, str) or len(value) > 40:
        raise _reject("invalid_time", "times are ISO-8601 strings with an offset", field)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _reject("invalid_time", f"{value!r} is not an ISO-8601 time", field) from exc
    if moment.tzinfo is None:
        raise _reject("invalid_time", "times must carry an offset (Z or +hh:mm)", field)
    try:
        # Year 1 with a positive offset (or 9999-12-31 with a negative one) has no UTC
        # equivalent; every later comparison or INSERT would overflow.
        utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise _reject("invalid_time", "the time is outside the calendar", field) from exc
    if not EARLIEST_TIME <= utc <= now + MAX_TIME_AHEAD:
        raise _reject(
            "implausible_time",
            "times are from 2020-01-01 to one day after the server's clock",
            field,
        )
    return moment


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject("invalid_geo", "must be a number", field)
    number = float(value)
    if not math.isfinite(number):
        raise _reject("invalid_geo", "must be a finite number", field)
    return number


def parse_geo(raw: Any, field: str, now: datetime) -> dict[str, Any] | None:
    """A geo-stamp ``{lat, lon, accuracy_m, fixed_at}``, or None for an honest no-fix."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _reject("invalid_geo", "geo is an object or null", field)
    unknown = set(raw) - {"lat", "lon", "accuracy_m", "fixed_at"}
    if unknown:
        raise _reject("unknown_field", f"unknown geo field {sorted(unknown)[0]!r}", field)
    for key in ("lat", "lon", "accuracy_m"):
        if key not in raw:
            raise _reject("invalid_geo", f"geo needs {key}", f"{field}.{key}")
    lat = _number(raw["lat"], f"{field}.lat")
    lon = _number(raw["lon"], f"{field}.lon")
    accuracy = _number(raw["accuracy_m"], f"{field}.accuracy_m")
    if not -90 <= lat <= 90:
        raise _reject("invalid_geo", "latitude must be between -90 and 90", f"{field}.lat")
    if not -180 <= lon <= 180:
        raise _reject("invalid_geo", "longitude must be between -180 and 180", f"{field}.lon")
    if not 0 <= accuracy <= 100_000:
        raise _reject(
            "invalid_geo", "accuracy_m must be between 0 and 100000", f"{field}.accuracy_m"
        )
    fixed_at = raw.get("fixed_at")
    geo: dict[str, Any] = {"lat": lat, "lon": lon, "accuracy_m": accuracy, "fixed_at": None}
    if fixed_at is not None:
        geo["fixed_at"] = _parse_time(fixed_at, f"{field}.fixed_at", now).isoformat()
    return geo


def _text(value: Any, field: str, max_len: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_len or (required and not value.strip()):
        raise _reject(
            "invalid_payload", f"must be a string of {1 if required else 0}..{max_len}", field
        )
    if "\x00" in value:
        # No database text column can hold NUL; the report would never be stored.
        raise _reject("invalid_payload", "must not contain NUL (U+0000) characters", field)
    return value


def _payload_keys(payload: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(payload) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise _reject("unknown_field", f"unknown payload field {name!r}", f"payload.{name}")


def _photos(raw: Any, now: datetime) -> list[dict[str, Any]]:
    """When and where each photo was taken, by its file's hash.

    The photo files carry no metadata (the device strips EXIF, the camera's GPS
    included), so the event is where a photo's time and place are kept.
    """
    if not isinstance(raw, list) or len(raw) > MAX_EVIDENCE_PER_EVENT:
        raise _reject(
            "invalid_payload", f"a list of at most {MAX_EVIDENCE_PER_EVENT}", "payload.photos"
        )
    photos = []
    for index, item in enumerate(raw):
        field = f"payload.photos[{index}]"
        if not isinstance(item, dict) or set(item) != {"sha256", "taken_at", "geo"}:
            raise _reject("invalid_payload", "each photo is {sha256, taken_at, geo}", field)
        if not is_sha256_hex(item["sha256"]):
            raise _reject("invalid_payload", "sha256 is 64 lowercase hex digits", f"{field}.sha256")
        photos.append(
            {
                "sha256": item["sha256"],
                "taken_at": _parse_time(item["taken_at"], f"{field}.taken_at", now).isoformat(),
                "geo": parse_geo(item["geo"], f"{field}.geo", now),
            }
        )
    return photos


def _delivered(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _payload_keys(
        payload,
        {"recipient_name", "geo", "scanned_barcodes", "where_left", "age_verified", "photos"},
    )
    barcodes = payload.get("scanned_barcodes", [])
    if not isinstance(barcodes, list) or len(barcodes) > MAX_BARCODES:
        raise _reject(
            "invalid_payload", f"a list of at most {MAX_BARCODES}", "payload.scanned_barcodes"
        )
    for code in barcodes:
        if not isinstance(code, str) or not BARCODE.fullmatch(code):
            raise _reject(
                "invalid_payload",
                "barcodes are 1-64 of [A-Za-z0-9_-]",
                "payload.scanned_barcodes",
            )
    where = payload.get("where_left", WhereLeft.HANDED_TO_RECIPIENT.value)
    if where not in {w.value for w in WhereLeft}:
        raise _reject("invalid_payload", "where_left is not a known place", "payload.where_left")
    age = payload.get("age_verified")
    if age is not None and not isinstance(age, bool):
        raise _reject(
            "invalid_payload", "age_verified is true, false or absent", "payload.age_verified"
        )
    if "geo" not in payload:
        raise _reject(
            "invalid_geo", "a delivery carries geo (null when there was no fix)", "payload.geo"
        )
    clean = {
        "recipient_name": _text(payload.get("recipient_name"), "payload.recipient_name", 200),
        "geo": parse_geo(payload["geo"], "payload.geo", now),
        "scanned_barcodes": list(barcodes),
        "where_left": where,
        "age_verified": age,
    }
    # Only when sent: an event recorded before photos were stamped keeps its fingerprint.
    if "photos" in payload:
        clean["photos"] = _photos(payload["photos"], now)
    return clean


def _failed(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _payload_keys(payload, {"reason", "note", "geo"})
    reason = payload.get("reason")
    if reason not in {r.value for r in FailureReason}:
        raise _reject(
            "invalid_reason", "reason must be one of the documented codes", "payload.reason"
        )
    note = _text(payload.get("note"), "payload.note", 2000)
    if reason == FailureReason.OTHER and not note.strip():
        raise _reject("note_required", "a failure for 'other' reasons needs a note", "payload.note")
    return {
        "reason": reason,
        "note": note,
        "geo": parse_geo(payload.get("geo"), "payload.geo", now),
    }


def _arrived(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _payload_keys(payload, {"geo"})
    return {"geo": parse_geo(payload.get("geo"), "payload.geo", now)}


def _note(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _payload_keys(payload, {"text"})
    return {"text": _text(payload.get("text"), "payload.text", 2000, required=True)}


_PAYLOAD_RULES = {
    EventType.DELIVERED: _delivered,
    EventType.FAILED: _failed,
    EventType.ARRIVED: _arrived,
    EventType.NOTE: _note,
}


def _evidence(raw: Any, event_type: EventType) -> tuple[EvidenceRef, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or len(raw) > MAX_EVIDENCE_PER_EVENT:
        raise _reject(
            "invalid_evidence", f"a list of at most {MAX_EVIDENCE_PER_EVENT} files", "evidence"
        )
    if raw and event_type not in (EventType.DELIVERED, EventType.FAILED):
        raise _reject(
            "evidence_not_allowed", f"a {event_type.value} event carries no files", "evidence"
        )
    refs: list[EvidenceRef] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        field = f"evidence[{index}]"
        if not isinstance(item, dict) or set(item) != {"sha256", "kind", "content_type", "size"}:
            raise _reject(
                "invalid_evidence", "each file is {sha256, kind, content_type, size}", field
            )
        sha = item["sha256"]
        if not isinstance(sha, str) or not is_sha256_hex(sha):
            raise _reject(
                "invalid_evidence", "sha256 is 64 lowercase hex digits", f"{field}.sha256"
            )
        if sha in seen:
            raise _reject("invalid_evidence", "the same file is listed twice", f"{field}.sha256")
        seen.add(sha)
        if item["kind"] not in {k.value for k in EvidenceKind}:
            raise _reject("invalid_evidence", "kind is signature or photo", f"{field}.kind")
        if item["content_type"] not in CONTENT_TYPES:
            raise _reject(
                "invalid_evidence",
                "content_type is image/png, image/jpeg or image/webp",
                f"{field}.content_type",
            )
        size = item["size"]
        if not _is_int(size) or not 1 <= size <= MAX_FILE_BYTES:
            raise _reject("invalid_evidence", f"size is 1..{MAX_FILE_BYTES} bytes", f"{field}.size")
        refs.append(EvidenceRef(sha, EvidenceKind(item["kind"]), item["content_type"], size))
    return tuple(refs)


def parse_event(raw: Mapping[str, Any], device_id: str, now: datetime) -> DoorEvent:
    """Validate one event from a device; raise EventRejected on the first problem.

    ``now`` is the receiver's clock, the reference for plausible times.
    """
    for problem in find_problems(raw, check_nul=False):
        # A lone surrogate, a huge integer or deep nesting anywhere in the event; NUL
        # is refused per text field below (invalid_payload).
        raise _reject(problem.code, f"{problem.path} {problem.message}", problem.path)
    unknown = set(raw) - EVENT_KEYS
    if unknown:
        name = sorted(unknown)[0]
        raise _reject("unknown_field", f"unknown event field {name!r}", name)
    event_id = raw.get("id")
    try:
        if not isinstance(event_id, str) or len(event_id) != 36:
            raise ValueError
        canonical_id = str(uuid.UUID(event_id))
    except ValueError as exc:
        raise _reject("invalid_event_id", "id is a UUID string chosen by the device", "id") from exc
    stop_id: Any = raw.get("stop_id")
    if not _is_int(stop_id) or not 1 <= stop_id < 2**63:
        raise _reject("invalid_stop", "stop_id is a positive integer", "stop_id")
    try:
        event_type = EventType(str(raw.get("type")))
    except ValueError as exc:
        raise _reject("invalid_type", "type is arrived, delivered, failed or note", "type") from exc
    recorded_at = _parse_time(raw.get("recorded_at"), "recorded_at", now)
    try:
        hlc = HLCTimestamp.parse(raw.get("hlc"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise _reject("invalid_hlc", str(exc), "hlc") from exc
    base_version: Any = raw.get("base_version")
    if not _is_int(base_version) or not 1 <= base_version < 2**31:
        raise _reject("invalid_base_version", "base_version is a positive integer", "base_version")
    payload = raw.get("payload", {})
    if not isinstance(payload, dict):
        raise _reject("invalid_payload", "payload is an object", "payload")
    clean_payload = _PAYLOAD_RULES[event_type](payload, now)
    evidence = _evidence(raw.get("evidence"), event_type)
    photo_files = {ref.sha256 for ref in evidence if ref.kind is EvidenceKind.PHOTO}
    for index, photo in enumerate(clean_payload.get("photos", ())):
        if photo["sha256"] not in photo_files:
            raise _reject(
                "invalid_payload",
                "a photo's time and place name a photo file of this event",
                f"payload.photos[{index}].sha256",
            )
    return DoorEvent(
        id=canonical_id,
        stop_id=stop_id,
        type=event_type,
        recorded_at=recorded_at,
        hlc=hlc,
        base_version=base_version,
        payload=MappingProxyType(clean_payload),
        evidence=evidence,
        device_id=device_id,
    )


def event_fingerprint(event: DoorEvent) -> str:
    """A hash of the event's content: the same id must always carry the same content."""
    return sha256_hex(
        canonical_json(
            {
                "id": event.id,
                "stop_id": event.stop_id,
                "type": event.type.value,
                "recorded_at": event.recorded_at.isoformat(),
                "hlc": str(event.hlc),
                "base_version": event.base_version,
                "payload": dict(event.payload),
                "evidence": [ref.to_dict() for ref in event.evidence],
            }
        )
    )
