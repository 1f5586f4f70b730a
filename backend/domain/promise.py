"""The delivery promise, kept or broken: on-time, first-attempt success, ETA accuracy.

Pure rules over one stop's facts, and a tally that adds stops up per driver, depot or
day. The definitions, which the console, the API, the CSV export and the docs share:

- **Promised window**: the window promised to the customer (``promised_start`` and
  ``promised_end``); when no promise was recorded, the driver's working window. A stop
  with neither is not counted for on-time.
- **On time**: a delivered stop whose delivery was recorded inside the promised window,
  both ends included (delivered exactly at the window's end is on time). Early and late
  are both outside it. The on-time rate is on-time deliveries over deliveries that had
  a window; failed stops are not in it (first-attempt success measures those).
- **Attempt**: ``<order>-R<n>`` is attempt ``n + 1`` of ``<order>`` (the naming
  ``backend.planning`` gives a re-planned stop); any other order number is attempt 1.
- **First-attempt success**: orders whose first attempt was delivered with no failure
  report before it, over orders whose first attempt reached a final outcome (delivered
  or failed). A delivery back office rejected (and so re-planned) did not succeed. A
  re-planned ``-R`` stop is a later attempt: it is in neither count.
- **Actual arrival**: the earliest ``arrived`` report's recorded time; a stop with no
  ``arrived`` report arrived when its first outcome (delivered or failed) was recorded.
- **ETA accuracy at lead L**: the ETA shown L minutes before the actual arrival is the
  last snapshot computed at or before ``arrival - L``; its absolute error in minutes.
  A stop with no snapshot that early is not counted at that lead. The figure per group
  is the mean of those errors (MAE), at 60, 30 and 10 minutes.
"""

from __future__ import annotations

import bisect
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from backend.domain.stops import StopStatus

# Minutes before the actual arrival at which the shown ETA is judged.
LEAD_MINUTES = (60, 30, 10)

# Another attempt of an order: <order>-R<n> (n = 1 for the second attempt).
_ATTEMPT = re.compile(r"-R(\d+)$")

DELIVERED_STATUSES = frozenset({StopStatus.DELIVERED, StopStatus.EVIDENCE_PENDING})
FINAL_STATUSES = DELIVERED_STATUSES | {StopStatus.FAILED}


class OnTime(enum.StrEnum):
    ON_TIME = "on_time"
    EARLY = "early"
    LATE = "late"
    # Not delivered, or no window to judge against: outside the rate.
    NOT_COUNTED = "not_counted"


Window = tuple[datetime, datetime]


def promised_window(
    promised_start: datetime | None,
    promised_end: datetime | None,
    window_start: datetime | None,
    window_end: datetime | None,
) -> Window | None:
    """The window the customer was promised, else the working window, else none."""
    if promised_start is not None and promised_end is not None:
        return promised_start, promised_end
    if window_start is not None and window_end is not None:
        return window_start, window_end
    return None


def on_time(window: Window | None, delivered_at: datetime | None) -> OnTime:
    if window is None or delivered_at is None:
        return OnTime.NOT_COUNTED
    start, end = window
    if delivered_at < start:
        return OnTime.EARLY
    if delivered_at > end:
        return OnTime.LATE
    return OnTime.ON_TIME


def attempt_number(order_number: str) -> int:
    """``A-17`` is attempt 1, ``A-17-R1`` attempt 2, ``A-17-R2`` attempt 3."""
    match = _ATTEMPT.search(order_number)
    return int(match.group(1)) + 1 if match else 1


def first_attempt_outcome(
    order_number: str, status: StopStatus, had_failure: bool, replanned: bool = False
) -> bool | None:
    """True: a first attempt delivered with no failure before it; False: a first attempt
    that failed, failed before it was delivered, or whose delivery back office rejected
    and re-planned (``replanned``); None: not counted (a later attempt, or no final
    outcome yet)."""
    if attempt_number(order_number) != 1 or status not in FINAL_STATUSES:
        return None
    return status in DELIVERED_STATUSES and not had_failure and not replanned


def actual_arrival(
    arrived_at: datetime | None, delivered_at: datetime | None, failed_at: datetime | None
) -> datetime | None:
    """When the driver reached the stop: see the module's definition."""
    if arrived_at is not None:
        return arrived_at
    outcomes = [moment for moment in (delivered_at, failed_at) if moment is not None]
    return min(outcomes) if outcomes else None


@dataclass(frozen=True)
class EtaShown:
    """One ETA snapshot: when it was computed, and the arrival time it promised."""

    computed_at: datetime
    eta_at: datetime


def eta_errors(snapshots: Sequence[EtaShown], arrival: datetime | None) -> dict[int, float]:
    """Lead (minutes) -> absolute error (minutes) of the ETA shown that long before
    ``arrival``; a lead with no snapshot that early is left out. ``snapshots`` need not
    be sorted."""
    if arrival is None or not snapshots:
        return {}
    ordered = sorted(snapshots, key=lambda s: s.computed_at)
    moments = [s.computed_at for s in ordered]
    errors = {}
    for lead in LEAD_MINUTES:
        # The last snapshot computed at or before the cut-off.
        index = bisect.bisect_right(moments, arrival - timedelta(minutes=lead)) - 1
        if index >= 0:
            errors[lead] = abs((ordered[index].eta_at - arrival).total_seconds()) / 60
    return errors


@dataclass(frozen=True)
class StopPromise:
    """What the promise figures need to know of one stop."""

    order_number: str
    status: StopStatus
    window: Window | None
    delivered_at: datetime | None
    failed_at: datetime | None
    arrived_at: datetime | None
    snapshots: Sequence[EtaShown] = ()
    # Back office rejected this attempt and planned another.
    replanned: bool = False

    @property
    def on_time(self) -> OnTime:
        delivered = self.delivered_at if self.status in DELIVERED_STATUSES else None
        return on_time(self.window, delivered)

    @property
    def first_attempt(self) -> bool | None:
        return first_attempt_outcome(
            self.order_number, self.status, self.failed_at is not None, self.replanned
        )

    @property
    def arrival(self) -> datetime | None:
        return actual_arrival(self.arrived_at, self.delivered_at, self.failed_at)

    @property
    def eta_errors(self) -> dict[int, float]:
        return eta_errors(self.snapshots, self.arrival)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


@dataclass
class PromiseTally:
    """The promise figures of a group of stops (a driver, a depot, a day)."""

    on_time: int = 0
    on_time_measured: int = 0
    first_attempt_successes: int = 0
    first_attempts: int = 0
    eta_error_sum: dict[int, float] = field(
        default_factory=lambda: dict.fromkeys(LEAD_MINUTES, 0.0)
    )
    eta_measured: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEAD_MINUTES, 0))

    def add(self, stop: StopPromise) -> None:
        verdict = stop.on_time
        if verdict is not OnTime.NOT_COUNTED:
            self.on_time_measured += 1
            self.on_time += verdict is OnTime.ON_TIME
        first = stop.first_attempt
        if first is not None:
            self.first_attempts += 1
            self.first_attempt_successes += first
        for lead, error in stop.eta_errors.items():
            self.eta_error_sum[lead] += error
            self.eta_measured[lead] += 1

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.on_time, self.on_time_measured)

    @property
    def first_attempt_rate(self) -> float | None:
        return _rate(self.first_attempt_successes, self.first_attempts)

    def eta_mae(self, lead: int) -> float | None:
        """Mean absolute error in minutes (one decimal) at ``lead``; None: nothing measured."""
        measured = self.eta_measured[lead]
        return round(self.eta_error_sum[lead] / measured, 1) if measured else None

    @property
    def has_data(self) -> bool:
        return bool(self.on_time_measured or self.first_attempts or any(self.eta_measured.values()))

    def figures(self) -> dict[str, float | int | None]:
        """The tally as the API, the console and the CSV name its figures."""
        return {
            "on_time_rate": self.on_time_rate,
            "on_time_measured": self.on_time_measured,
            "first_attempt_success_rate": self.first_attempt_rate,
            "first_attempts": self.first_attempts,
            **{f"eta_mae_{lead}": self.eta_mae(lead) for lead in LEAD_MINUTES},
        }


def tally(stops: Iterable[StopPromise]) -> PromiseTally:
    result = PromiseTally()
    for stop in stops:
        result.add(stop)
    return result
