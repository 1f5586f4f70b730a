"""Time is an input: every "now" and every "today" in Doorstep comes from a Clock.

The server, the seed, the demo and the tests each hold one Clock and pass it down;
nothing else reads the machine's clock (``tests/test_time_is_an_input.py`` checks
this). That is what lets a test run a whole day at a pinned instant, or the demo run
"between 16:00 and midnight in Seattle", on any real date.

"Today" is always a local date: the calendar date at the organization's time zone,
never the server's UTC date (a Seattle evening is already tomorrow in UTC).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


def system_now() -> datetime:
    """The machine's clock. Read only here; everything else is handed a Clock or this."""
    return datetime.now(UTC)


class SystemClock:
    """The machine's clock: what production runs on."""

    def now(self) -> datetime:
        return system_now()


class SetClock:
    """A clock that starts at a chosen instant and then runs at real speed.

    Tests and simulations use it to live on a pinned day while time still moves
    forward (tokens expire, events get increasing timestamps). ``set`` and
    ``advance`` jump it; ``freeze`` stops it where it is.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's instant must be timezone-aware")
        self._lock = threading.Lock()
        self._anchor = start.astimezone(UTC)
        self._anchored_at = time.monotonic()
        self._running = True

    def now(self) -> datetime:
        with self._lock:
            if not self._running:
                return self._anchor
            return self._anchor + timedelta(seconds=time.monotonic() - self._anchored_at)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a clock's instant must be timezone-aware")
        with self._lock:
            self._anchor = instant.astimezone(UTC)
            self._anchored_at = time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)

    def freeze(self) -> None:
        instant = self.now()
        with self._lock:
            self._anchor, self._running = instant, False


def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone; UTC when the name is empty or unknown to this machine."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a long name
        return ZoneInfo(DEFAULT_ZONE)


def local_date(instant: datetime, zone_name: str | None) -> date:
    """The calendar date at ``instant`` where the organization works."""
    return instant.astimezone(zone(zone_name)).date()


@overload
def utc_text(moment: datetime) -> str: ...
@overload
def utc_text(moment: None) -> None: ...
def utc_text(moment: datetime | None) -> str | None:
    """An instant as the API, bundles and receipts write it: ISO 8601, "Z" for UTC.

    Microseconds are kept when present; the instant is written as given (convert first
    if it may not be UTC). None stays None.
    """
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def receipt_time(moment: datetime) -> str:
    """An instant as a signed receipt writes it: UTC, always to the millisecond, "Z".

    Not ``utc_text``: a receipt's time is signed, so it has one fixed width whatever the
    instant's microseconds, and it is converted to UTC whatever zone it came in.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
