"""Parsing and validating an import file, row by row, with no database.

``parse_csv`` / ``parse_json`` turn a file into raw rows; ``validate_rows`` turns rows
into :class:`StopDraft` values or an error map naming every bad row and field. The
service then checks what needs the database (duplicate order numbers, driver names)
and writes all rows or none.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain import untrusted
from backend.domain.geo import InvalidGeofence, parse_geofence
from backend.domain.org_settings import EMAIL
from backend.domain.refusal import Refusal
from backend.domain.stops import ProofPolicy

MAX_ROWS = 5000
MAX_PARCELS = 50
BARCODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: "$" passes a trailing "\n"
ORDER_NUMBER = re.compile(r"[A-Za-z0-9_./-]{1,64}")
POLICY_FIELDS = {
    "signature_required": "signature",
    "photo_required": "photo",
    "age_check": "age_check",
    "parcel_scan": "parcel_scan",
}
CSV_COLUMNS = frozenset(
    {
        "order_number",
        "address",
        "lat",
        "lon",
        "window_start",
        "window_end",
        "promised_start",
        "promised_end",
        "recipient_name",
        "recipient_email",
        "recipient_phone",
        "instructions",
        "parcels",
        "geofence",
        "driver",
        "sequence",
        "depot",
        *POLICY_FIELDS,
    }
)
JSON_FIELDS = (CSV_COLUMNS - set(POLICY_FIELDS)) | {"proof_policy"}
TRUE_WORDS = {"true", "1", "yes", "y"}
FALSE_WORDS = {"false", "0", "no", "n", ""}

RowErrors = dict[str, list[str]]


class ImportFileError(Refusal):
    """The file as a whole cannot be read (not CSV, not JSON, empty, too long)."""

    def __init__(self, message: str) -> None:
        super().__init__("import_invalid", message, field="_file")


@dataclass
class StopDraft:
    order_number: str
    address: str
    lat: float
    lon: float
    window_start: datetime | None
    window_end: datetime | None
    recipient_name: str
    recipient_phone: str
    instructions: str
    # The window promised to the customer; the working window when the row gives none.
    promised_start: datetime | None
    promised_end: datetime | None
    recipient_email: str
    parcels: list[tuple[str, str]]
    # None when the row gives no proof policy: the organization's default applies.
    proof_policy: dict[str, Any] | None
    geofence: Any | None
    driver: str | None
    sequence: int | None
    # The depot's name, resolved by the service among the depots not retired.
    depot: str | None = None
    row: str = field(default="")


def parse_csv(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Rows keyed by their line number (the header is line 1)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ImportFileError("the CSV file is empty")
    unknown = [name for name in reader.fieldnames if name.strip() not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError(f"unknown column(s): {', '.join(unknown)}")
    rows = []
    for index, raw in enumerate(reader, start=2):
        if None in raw:
            rows.append((str(index), {"__extra__": raw[None]}))
            continue
        rows.append((str(index), {k.strip(): (v or "").strip() for k, v in raw.items()}))
        if len(rows) > MAX_ROWS:
            raise ImportFileError(f"at most {MAX_ROWS} rows per import")
    if not rows:
        raise ImportFileError("the file has a header but no rows")
    return rows


def parse_json_rows(stops: Any) -> list[tuple[str, dict[str, Any]]]:
    """Rows keyed by their 0-based index in ``stops``."""
    if not isinstance(stops, list) or not stops:
        raise ImportFileError("stops must be a non-empty list")
    if len(stops) > MAX_ROWS:
        raise ImportFileError(f"at most {MAX_ROWS} rows per import")
    return [
        (str(i), row if isinstance(row, dict) else {"__not_object__": row})
        for i, row in enumerate(stops)
    ]


def _text(
    raw: Mapping[str, Any], name: str, errors: RowErrors, max_len: int, required: bool = False
) -> str:
    value = raw.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(name, []).append("must be text")
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(name, []).append("is required")
    if len(value) > max_len:
        errors.setdefault(name, []).append(f"must be at most {max_len} characters")
    return value


def _coordinate(raw: Mapping[str, Any], name: str, limit: float, errors: RowErrors) -> float:
    value = raw.get(name)
    if value is None or value == "":
        errors.setdefault(name, []).append("is required")
        return 0.0
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append("must be a number")
        return 0.0
    if not math.isfinite(number):
        errors.setdefault(name, []).append("must be a finite number")
    elif not -limit <= number <= limit:
        errors.setdefault(name, []).append(f"must be between -{limit:g} and {limit:g}")
    return number


def _moment(
    value: Any, name: str, service_date: date, zone: ZoneInfo, errors: RowErrors
) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.setdefault(name, []).append("must be HH:MM or an ISO-8601 time")
        return None
    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = (int(part) for part in value.split(":"))
        if hours > 23 or minutes > 59:
            errors.setdefault(name, []).append("is not a time of day")
            return None
        return _in_calendar(
            datetime.combine(service_date, time(hours, minutes), zone), name, errors
        )
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.setdefault(name, []).append("must be HH:MM or an ISO-8601 time")
        return None
    if moment.tzinfo is None:
        errors.setdefault(name, []).append("an ISO-8601 time needs an offset")
        return None
    return _in_calendar(moment, name, errors)


def _in_calendar(moment: datetime, name: str, errors: RowErrors) -> datetime | None:
    # At the calendar's edges (year 1 ahead of UTC, 9999-12-31 behind it) a time has
    # no UTC equivalent, and storing it would overflow.
    try:
        moment.astimezone(UTC)
    except OverflowError:
        errors.setdefault(name, []).append("is outside the range of the calendar")
        return None
    return moment


def _parcels(value: Any, errors: RowErrors) -> list[tuple[str, str]]:
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(";") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        items = []
    parcels: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, dict) and set(item) <= {"barcode", "description"}:
            barcode, description = item.get("barcode"), item.get("description", "")
        else:
            barcode, description = item, ""
        if not isinstance(barcode, str) or not BARCODE.fullmatch(barcode):
            errors.setdefault("parcels", []).append(
                f"{barcode!r} is not a barcode (1-64 of A-Z a-z 0-9 _ -)"
            )
            continue
        if not isinstance(description, str) or len(description) > 200:
            errors.setdefault("parcels", []).append("a description is text up to 200 characters")
            continue
        parcels.append((barcode, description))
    if not parcels and "parcels" not in errors:
        errors.setdefault("parcels", []).append("at least one parcel barcode is required")
    if len(parcels) > MAX_PARCELS:
        errors.setdefault("parcels", []).append(f"at most {MAX_PARCELS} parcels per stop")
    if len({b for b, _ in parcels}) != len(parcels):
        errors.setdefault("parcels", []).append("a barcode is listed twice")
    return parcels


def _flag(value: Any, name: str, errors: RowErrors) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    if value is None:
        return False
    errors.setdefault(name, []).append("must be true or false")
    return False


def _policy(raw: Mapping[str, Any], errors: RowErrors) -> dict[str, Any] | None:
    if "proof_policy" in raw:
        if raw["proof_policy"] is None:
            return None
        given = raw["proof_policy"]
        if not isinstance(given, dict) or not set(given) <= set(ProofPolicy().to_dict()):
            errors.setdefault("proof_policy", []).append(
                "must be an object with signature, photo, min_photos, age_check, parcel_scan"
            )
            return ProofPolicy().to_dict()
        flags = {
            k: _flag(v, f"proof_policy.{k}", errors) for k, v in given.items() if k != "min_photos"
        }
        min_photos = given.get("min_photos", 0)
        if (
            not isinstance(min_photos, int)
            or isinstance(min_photos, bool)
            or not 0 <= min_photos <= 10
        ):
            errors.setdefault("proof_policy.min_photos", []).append("must be 0..10")
            min_photos = 0
        return ProofPolicy(**flags, min_photos=min_photos).to_dict()
    if all(raw.get(column) in (None, "") for column in POLICY_FIELDS):
        return None
    flags = {
        field: _flag(raw.get(column), column, errors) for column, field in POLICY_FIELDS.items()
    }
    return ProofPolicy(**flags).to_dict()


def _geofence(value: Any, errors: RowErrors) -> Any | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            errors.setdefault("geofence", []).append("must be GeoJSON Polygon coordinates")
            return None
    try:
        parse_geofence(value)
    except InvalidGeofence as exc:
        errors.setdefault("geofence", []).append(str(exc))
        return None
    return value


def _sequence(value: Any, errors: RowErrors) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        errors.setdefault("sequence", []).append("must be a positive whole number")
        return None
    if number < 1:
        errors.setdefault("sequence", []).append("must be a positive whole number")
    return number


def _email(raw: Mapping[str, Any], errors: RowErrors) -> str:
    value = _text(raw, "recipient_email", errors, 254)
    if value and not EMAIL.fullmatch(value):
        errors.setdefault("recipient_email", []).append("must be an e-mail address (or empty)")
    return value


def _check_window(
    start: datetime | None, end: datetime | None, prefix: str, errors: RowErrors
) -> None:
    """Both ends or neither, the end after the start (``window_*`` or ``promised_*``)."""
    start_name, end_name = f"{prefix}_start", f"{prefix}_end"
    if (start is None) != (end is None) and not {start_name, end_name} & set(errors):
        errors.setdefault(end_name if start is not None else start_name, []).append(
            "give both ends of the time window, or neither"
        )
    if start and end and end <= start:
        errors.setdefault(end_name, []).append(f"must be after {start_name}")


def validate_row(
    raw: Mapping[str, Any], service_date: date, zone: ZoneInfo, allowed: frozenset[str]
) -> tuple[StopDraft | None, RowErrors]:
    errors: RowErrors = {}
    if "__extra__" in raw:
        return None, {"_row": ["has more values than the header has columns"]}
    if "__not_object__" in raw:
        return None, {"_row": ["must be an object"]}
    for name in sorted(set(raw) - allowed):
        errors.setdefault(name, []).append("unknown field")
    for name, value in raw.items():
        # NUL (no PostgreSQL text can hold it) can arrive in a CSV cell; JSON imports
        # are checked at the door (backend.http), CSV text only here.
        problem = untrusted.text_problem(value) if isinstance(value, str) else None
        if problem:
            errors.setdefault(str(name), []).append(untrusted.MESSAGES[problem])
    order_number = _text(raw, "order_number", errors, 64, required=True)
    if order_number and not ORDER_NUMBER.fullmatch(order_number):
        errors.setdefault("order_number", []).append("use letters, digits and _ . / - only")
    draft = StopDraft(
        order_number=order_number,
        address=_text(raw, "address", errors, 500, required=True),
        lat=_coordinate(raw, "lat", 90, errors),
        lon=_coordinate(raw, "lon", 180, errors),
        window_start=_moment(raw.get("window_start"), "window_start", service_date, zone, errors),
        window_end=_moment(raw.get("window_end"), "window_end", service_date, zone, errors),
        recipient_name=_text(raw, "recipient_name", errors, 200),
        recipient_phone=_text(raw, "recipient_phone", errors, 40),
        instructions=_text(raw, "instructions", errors, 2000),
        promised_start=_moment(
            raw.get("promised_start"), "promised_start", service_date, zone, errors
        ),
        promised_end=_moment(raw.get("promised_end"), "promised_end", service_date, zone, errors),
        recipient_email=_email(raw, errors),
        parcels=_parcels(raw.get("parcels"), errors),
        proof_policy=_policy(raw, errors),
        geofence=_geofence(raw.get("geofence"), errors),
        driver=_text(raw, "driver", errors, 150) or None,
        sequence=_sequence(raw.get("sequence"), errors),
        depot=_text(raw, "depot", errors, 200) or None,
    )
    _check_window(draft.window_start, draft.window_end, "window", errors)
    _check_window(draft.promised_start, draft.promised_end, "promised", errors)
    if draft.promised_start is None and draft.promised_end is None:
        # No promise of its own: the customer is promised the working window.
        draft.promised_start, draft.promised_end = draft.window_start, draft.window_end
    if draft.sequence is not None and draft.driver is None:
        errors.setdefault("sequence", []).append("a sequence needs a driver")
    return (None if errors else draft), errors


def validate_rows(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    service_date: date,
    zone: ZoneInfo,
    allowed: frozenset[str],
) -> tuple[list[StopDraft], dict[str, RowErrors]]:
    """Every valid row as a draft, and every bad row's errors (also duplicates in-file)."""
    drafts: list[StopDraft] = []
    problems: dict[str, RowErrors] = {}
    seen: dict[str, str] = {}
    for row_key, raw in rows:
        draft, errors = validate_row(raw, service_date, zone, allowed)
        order = raw.get("order_number")
        if isinstance(order, str) and order.strip():
            first = seen.setdefault(order.strip(), row_key)
            if first != row_key:
                errors.setdefault("order_number", []).append(f"repeats row {first}")
                draft = None
        if draft is None:
            problems[row_key] = errors
        else:
            draft.row = row_key
            drafts.append(draft)
    return drafts, problems
