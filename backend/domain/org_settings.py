"""An organization's settings: what they are, their defaults and what a valid one is.

Contract: :class:`OrgSettings` is the one shape every reader gets (the server reads it
through ``backend.admin.settings.org_settings``); :func:`validated` turns a person's
changes into a new :class:`OrgSettings` or refuses with one message per field at fault,
so a bad value never half-applies. Pure: no I/O, usable by the API, console and CLI.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from backend.domain.refusal import Refusal
from backend.domain.stops import ProofPolicy

# How far (metres, beyond a fix's own accuracy) a proof may be captured from its stop.
GEOFENCE_THRESHOLD_RANGE = (10, 5000)
RETENTION_DAYS_RANGE = (1, 3650)
DEFAULT_GEOFENCE_THRESHOLD_M = 150
DEFAULT_RETENTION_DAYS = 365
# How close (minutes of ETA) a stop must be for its recipient to hear "arriving soon".
ARRIVING_SOON_MINUTES_RANGE = (5, 120)
DEFAULT_ARRIVING_SOON_MINUTES = 15
CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9 ()-]{4,40}")

# The fields a person may change; ``version`` is the server's.
EDITABLE = (
    "timezone",
    "geofence_threshold_m",
    "default_proof_policy",
    "evidence_retention_days",
    "tracking_page_name",
    "tracking_logo_url",
    "notification_sender_name",
    "notification_sender_email",
    "notification_sender_phone",
    "quiet_hours_start",
    "quiet_hours_end",
    "require_staff_totp",
    "arriving_soon_minutes",
    "tracking_show_photo",
    "delivery_weekdays",
)
# Weekday names as delivery_weekdays holds them, Monday first.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OrgSettings:
    """One version of an organization's settings, as every reader sees it."""

    timezone: str = "UTC"
    geofence_threshold_m: int = DEFAULT_GEOFENCE_THRESHOLD_M
    # The proof a new stop requires when its import row names none.
    default_proof_policy: ProofPolicy = field(default_factory=ProofPolicy)
    evidence_retention_days: int = DEFAULT_RETENTION_DAYS
    tracking_page_name: str = ""
    tracking_logo_url: str = ""
    notification_sender_name: str = ""
    notification_sender_email: str = ""
    notification_sender_phone: str = ""
    # Local "HH:MM" times between which recipients get no messages; both or neither.
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    # Console staff must sign in with a TOTP code too (those without one enrol at login).
    require_staff_totp: bool = False
    # A recipient hears "arriving soon" when the ETA is this close (or theirs is next).
    arriving_soon_minutes: int = DEFAULT_ARRIVING_SOON_MINUTES
    # The tracking page shows the delivery photo to whoever holds the link.
    tracking_show_photo: bool = False
    # The days the organization delivers (a recipient may ask to reschedule to one).
    delivery_weekdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat")
    # 0 until the first change; each change makes the next version.
    version: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def editable_dict(self) -> dict[str, Any]:
        """The settings without their version: what a version row stores."""
        whole = self.to_dict()
        return {name: whole[name] for name in EDITABLE}

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any], version: int) -> OrgSettings:
        """Settings as stored by the server (already valid); missing keys default."""
        known = {k: v for k, v in stored.items() if k in EDITABLE}
        if "default_proof_policy" in known:
            known["default_proof_policy"] = ProofPolicy.from_dict(known["default_proof_policy"])
        if "delivery_weekdays" in known:
            known["delivery_weekdays"] = tuple(known["delivery_weekdays"])
        return cls(**known, version=version)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_exists(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows (``Europe/Paris``).

    Checked against the zone list, never by opening a file named after the input:
    a folder such as ``America`` or an over-long name must be refused, not raise.
    """
    return name in _known_zones()


def _int_in(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"must be a whole number from {low} to {high}"
    return None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or len(value) > limit:
        return f"must be text of at most {limit} characters"
    return None


def _one_line(value: Any, limit: int) -> str | None:
    """Text shown as one line: a name in a mail's From header, a page's title. A line
    break there would start a new header (or be refused when the mail is built), so
    control characters and line separators are refused here, when a person can fix it."""
    problem = _text(value, limit)
    if problem is None and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        return f"must be one line of text of at most {limit} characters (no control characters)"
    return problem


def _policy(value: Any) -> tuple[ProofPolicy | None, str | None]:
    allowed = set(ProofPolicy().to_dict())
    if not isinstance(value, Mapping) or not set(value) <= allowed:
        return None, f"must be an object with {', '.join(sorted(allowed))}"
    flags = {k: v for k, v in value.items() if k != "min_photos"}
    if not all(isinstance(v, bool) for v in flags.values()):
        return None, "signature, photo, age_check and parcel_scan must be true or false"
    min_photos = value.get("min_photos", 0)
    if _int_in(min_photos, 0, 10):
        return None, "min_photos must be a whole number from 0 to 10"
    return ProofPolicy(**flags, min_photos=min_photos), None


def _problem(name: str, value: Any) -> str | None:
    if name == "timezone":
        if not isinstance(value, str) or not value or not zone_exists(value):
            return "is not a time zone (use an IANA name such as Europe/Paris)"
        return None
    if name == "geofence_threshold_m":
        return _int_in(value, *GEOFENCE_THRESHOLD_RANGE)
    if name == "evidence_retention_days":
        return _int_in(value, *RETENTION_DAYS_RANGE)
    if name == "tracking_page_name":
        return _one_line(value, 100)
    if name == "tracking_logo_url":
        if _text(value, 2000) or (value and urlsplit(value).scheme != "https"):
            return "must be an https:// URL (or empty)"
        if value and not urlsplit(value).hostname:
            return "must be an https:// URL (or empty)"
        return None
    if name == "notification_sender_name":
        return _one_line(value, 100)
    if name == "notification_sender_email":
        if _text(value, 254) or (value and not EMAIL.fullmatch(value)):
            return "must be an e-mail address (or empty)"
        return None
    if name == "notification_sender_phone":
        if _text(value, 40) or (value and not PHONE.fullmatch(value)):
            return "must be a phone number (or empty)"
        return None
    if name == "arriving_soon_minutes":
        return _int_in(value, *ARRIVING_SOON_MINUTES_RANGE)
    if name in ("require_staff_totp", "tracking_show_photo"):
        return None if isinstance(value, bool) else "must be true or false"
    if name == "delivery_weekdays":
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(day, str) and day in WEEKDAYS for day in value)
        ):
            return f"must be a non-empty list of {', '.join(WEEKDAYS)}"
        return None
    # quiet_hours_start, quiet_hours_end
    if value is not None and (not isinstance(value, str) or not CLOCK_TIME.fullmatch(value)):
        return "must be a local time as HH:MM (or null)"
    return None


def validated(current: OrgSettings, changes: Mapping[str, Any]) -> OrgSettings:
    """``current`` with ``changes`` applied, or a ``validation_error`` naming every bad
    field (nothing applies then)."""
    errors: dict[str, list[str]] = {}
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in EDITABLE:
            errors[name] = ["unknown setting"]
            continue
        if name == "default_proof_policy":
            policy, problem = _policy(value)
            if problem:
                errors[name] = [problem]
            updates[name] = policy
            continue
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        problem = _problem(name, value)
        if problem:
            errors[name] = [problem]
        elif name == "delivery_weekdays":
            value = tuple(day for day in WEEKDAYS if day in value)
        updates[name] = value
    if not errors:
        merged = replace(current, **updates)
        if (merged.quiet_hours_start is None) != (merged.quiet_hours_end is None):
            errors["quiet_hours_end"] = ["give both ends of the quiet hours, or neither"]
    if errors:
        raise Refusal(
            "validation_error",
            f"{len(errors)} setting(s) are invalid; nothing was changed",
            errors=errors,
        )
    return merged
