"""What a recipient may see and send from their tracking page: the rules, no I/O.

Contract: the words the page shows for the driver's codes (where a parcel was left,
why a delivery failed, what happens next) are defined here once, for the HTML page,
the JSON API and the messages alike; and every check on what a recipient sends
(instructions, a reschedule date, a rating, a problem report) is a function here that
returns the clean value or raises a :class:`Refusal` with a stable code and a message
fit to show them. The services in ``backend.tracking`` call these and write.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from backend.domain.events import FailureReason, WhereLeft
from backend.domain.org_settings import WEEKDAYS
from backend.domain.refusal import Refusal

MAX_INSTRUCTIONS = 500
MAX_COMMENT = 1000
MAX_PROBLEM_TEXT = 1000
# How far ahead a recipient may ask for another day.
RESCHEDULE_HORIZON = timedelta(days=60)


class RequestKind(enum.StrEnum):
    INSTRUCTIONS = "instructions"
    RESCHEDULE = "reschedule"
    RATING = "rating"
    PROBLEM = "problem"


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    HANDLED = "handled"


class Problem(enum.StrEnum):
    """What a recipient may report; each opens a dispute of the same reason."""

    NOT_RECEIVED = "not_received"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"


PROBLEM_LABELS = {
    Problem.NOT_RECEIVED: "I did not receive it",
    Problem.DAMAGED: "It arrived damaged",
    Problem.WRONG_ITEM: "It is not what I ordered",
}

# The recipient's words for what the driver reported: one place, read by the tracking
# page and the messages (``failure_in_words``), keyed by the protocol's own codes.
WHERE_LEFT_LABELS: dict[str, str] = {
    WhereLeft.HANDED_TO_RECIPIENT: "Handed to you",
    WhereLeft.FRONT_DOOR: "At the front door",
    WhereLeft.BACK_DOOR: "At the back door",
    WhereLeft.RECEPTION: "At reception",
    WhereLeft.NEIGHBOUR: "With a neighbour",
    WhereLeft.PARCEL_LOCKER: "In a parcel locker",
    WhereLeft.MAILROOM: "In the mailroom",
    WhereLeft.OTHER: "Somewhere else (see the proof)",
}

FAILURE_LABELS: dict[str, str] = {
    FailureReason.RECIPIENT_ABSENT: "Nobody was there to receive it",
    FailureReason.ADDRESS_NOT_FOUND: "The driver could not find the address",
    FailureReason.ACCESS_DENIED: "The driver could not get in",
    FailureReason.REFUSED: "The delivery was refused",
    FailureReason.DAMAGED: "The parcel was damaged",
    FailureReason.UNSAFE_LOCATION: "There was no safe place to leave it",
    FailureReason.BUSINESS_CLOSED: "The business was closed",
    FailureReason.AGE_CHECK_FAILED: "The age check could not be completed",
    FailureReason.OTHER: "The driver could not deliver it",
}


def where_left_label(code: str | None) -> str:
    return WHERE_LEFT_LABELS.get(code or "handed_to_recipient", WHERE_LEFT_LABELS["other"])


def failure_label(code: str | None) -> str:
    return FAILURE_LABELS.get(code or "other", FAILURE_LABELS["other"])


def failure_in_words(code: str | None) -> str:
    """Why a delivery failed, to follow "We could not deliver your order today: "."""
    label = failure_label(code)
    return label[0].lower() + label[1:]


def driver_first_name(full_name: str) -> str:
    """Only the first word of the driver's name (never the username, which is a login)."""
    words = (full_name or "").split()
    return words[0] if words else "Your driver"


def eta_phrase(eta_at: datetime, stops_before: int, now: datetime) -> str:
    """ "about 25 minutes, 4 stops before yours" (rounded to 5 minutes past the first 10)."""
    minutes = max(0, round((eta_at - now).total_seconds() / 60))
    if minutes <= 2:
        when = "any minute now"
    elif minutes < 10:
        when = f"about {minutes} minutes"
    elif minutes < 120:
        when = f"about {5 * round(minutes / 5)} minutes"
    else:
        hours, rest = divmod(15 * round(minutes / 15), 60)
        when = f"about {hours} h {rest:02d}" if rest else f"about {hours} hours"
    if stops_before == 0:
        return f"{when}, you are next"
    noun = "stop" if stops_before == 1 else "stops"
    return f"{when}, {stops_before} {noun} before yours"


# Where the recipient's note starts in a stop's instructions (after the planned ones).
RECIPIENT_NOTE = "From the recipient: "


def with_recipient_note(instructions: str, note: str) -> str:
    """``instructions`` as planned, followed by the recipient's latest ``note``."""
    planned = instructions.split(RECIPIENT_NOTE, 1)[0].rstrip()
    return f"{planned}\n\n{RECIPIENT_NOTE}{note}" if planned else f"{RECIPIENT_NOTE}{note}"


def _clean_text(value: Any, limit: int, field: str, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refusal("validation_error", f"{field} must be text", field=field)
    text = value.strip()
    if required and not text:
        raise Refusal("text_required", f"write something in {field}", field=field)
    if len(text) > limit:
        raise Refusal(
            "text_too_long",
            f"{field} is {len(text)} characters; at most {limit} fit",
            field=field,
        )
    return text


def clean_instructions(value: Any) -> str:
    return _clean_text(value, MAX_INSTRUCTIONS, "instructions", required=True)


def clean_comment(value: Any) -> str:
    return _clean_text(value, MAX_COMMENT, "comment", required=False)


def clean_problem_text(value: Any) -> str:
    return _clean_text(value, MAX_PROBLEM_TEXT, "text", required=False)


def clean_stars(value: Any) -> int:
    # isdecimal, not isdigit: "²" is a digit int() cannot read.
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise Refusal("invalid_rating", "give the delivery 1 to 5 stars", field="stars")
    return value


def clean_problem(value: Any) -> Problem:
    try:
        return Problem(value)
    except ValueError as exc:
        raise Refusal(
            "invalid_problem",
            "choose what went wrong: " + ", ".join(p.value for p in Problem),
            field="problem",
        ) from exc


def weekday_numbers(names: Iterable[str]) -> tuple[int, ...]:
    """``("mon", "sat")`` as ``date.weekday()`` numbers them: ``(0, 5)``."""
    return tuple(sorted({WEEKDAYS.index(name) for name in names}))


def check_reschedule_date(raw: Any, today: date, delivery_weekdays: Iterable[int]) -> date:
    """The day a recipient asked for, or a refusal saying why not."""
    if isinstance(raw, date):
        wanted = raw
    else:
        try:
            wanted = date.fromisoformat(str(raw or "").strip())
        except ValueError as exc:
            raise Refusal("validation_error", "give the date as YYYY-MM-DD", field="date") from exc
    if wanted <= today:
        raise Refusal(
            "reschedule_date_past",
            f"{wanted.isoformat()} is not after today ({today.isoformat()}); choose a later day",
            field="date",
        )
    if wanted > today + RESCHEDULE_HORIZON:
        raise Refusal(
            "reschedule_too_far",
            f"choose a day within {RESCHEDULE_HORIZON.days} days",
            field="date",
        )
    days = set(delivery_weekdays)
    if wanted.weekday() not in days:
        open_days = ", ".join(WEEKDAYS[d].title() for d in sorted(days))
        raise Refusal(
            "not_a_delivery_day",
            f"we do not deliver on {wanted.strftime('%A')}s; we deliver {open_days}",
            field="date",
        )
    return wanted


def etag_of(parts: Mapping[str, Any]) -> str:
    """A validator built from what the page shows: same data, same tag."""
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:32]
