"""Which of a driver's position fixes the server keeps: the shift rule, no database.

A fix is kept only during the driver's shift, defined from the plan and the day's
progress so the device needs no "on duty" switch the server would have to trust:

* the driver has a manifest for the fix's local service date (the organization's
  time zone), and
* the fix falls between one hour before the earliest working window start of that
  manifest and one hour after the later of its last window end and its last
  completed stop (delivered or failed).

A manifest whose stops have no window at all opens at local midnight and closes one
hour after its last completion (or at the end of the local day, whichever is later).
Fixes dated more than :data:`MAX_FUTURE` ahead of the server's clock are dropped: the
device's clock is wrong, and refusing the request would also hold back its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SHIFT_MARGIN = timedelta(hours=1)
# The same tolerance the door events get (backend.domain.outcome.CLOCK_SKEW_LIMIT_MS).
MAX_FUTURE = timedelta(minutes=15)
# The day's trail per driver; past it the oldest fixes are dropped.
MAX_FIXES_PER_DAY = 500


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float | None
    recorded_at: datetime


@dataclass(frozen=True)
class Shift:
    starts_at: datetime
    ends_at: datetime

    def holds(self, moment: datetime) -> bool:
        return self.starts_at <= moment <= self.ends_at


def shift_of(
    day_start: datetime,
    day_end: datetime,
    first_window_start: datetime | None,
    last_window_end: datetime | None,
    last_completion: datetime | None,
) -> Shift:
    """The shift of one manifest; ``day_start``/``day_end`` bound its local date."""
    starts_at = first_window_start - SHIFT_MARGIN if first_window_start else day_start
    ends = [moment for moment in (last_window_end, last_completion) if moment is not None]
    if not ends:
        return Shift(starts_at, day_end)
    ends_at = max(ends) + SHIFT_MARGIN
    if last_window_end is None:
        ends_at = max(ends_at, day_end)
    return Shift(starts_at, ends_at)


def believable(fix: Fix, now: datetime) -> bool:
    return fix.recorded_at <= now + MAX_FUTURE
