"""When the driver reaches each remaining stop: the rule, with no database and no clock.

The driver works the remaining stops in their sequence. The day's progress fixes the
starting point (:class:`Origin`): the newest of the last position the device sent
and the last completed stop (its outcome time). From there each stop is reached
after the travel time of its leg and left after the service time:

    arrival(i)   = max(departure(i-1) + leg(i), now, window_start(i))
    departure(i) = arrival(i) + service

* A stop cannot be reached before ``now``: the estimate of a stop the driver is
  late for is "now", never the past.
* The driver does not deliver before the stop's **working** window opens (the window
  the driver plans by, not the one promised to the customer): arriving early means
  waiting at the door, so the estimate is the window's start. The customer's promise
  is judged against the ETA, never used to compute it.
* A stop the driver has reported arriving at is reached at that report's time, and
  left no earlier than ``now``; such stops come first (the driver is at the door,
  whatever the planned sequence said), oldest arrival first.

So estimates never decrease along the sequence (each arrival is at or after the
previous departure), and ``stops_before`` is the number of open stops ahead.

The service time per stop is learned from the tenant's history by
:func:`learned_service_seconds`: the median of recent door times (arrived to
delivered/failed), or a default while there are too few samples to trust.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Until a tenant has this many recent door times, the default is used instead.
MIN_SERVICE_SAMPLES = 20
DEFAULT_SERVICE_SECONDS = 240.0
# A door time outside these bounds is a stop left open (arrived, then forgotten) or a
# clock glitch, not a service time.
SERVICE_SAMPLE_BOUNDS = (5.0, 3600.0)


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class RemainingStop:
    """An open stop of the driver's day, in sequence order."""

    stop_id: int
    location: Point
    # The working window's start: the driver waits for it.
    window_start: datetime | None = None
    # When the driver reported arriving here, if they did.
    arrived_at: datetime | None = None


@dataclass(frozen=True)
class Origin:
    """Where the driver was last known to be, and when."""

    location: Point
    at: datetime


@dataclass(frozen=True)
class StopEstimate:
    stop_id: int
    eta_at: datetime
    stops_before: int


# Seconds to drive from one point to another.
TravelSeconds = Callable[[Point, Point], float]


def in_driving_order(stops: Sequence[RemainingStop]) -> list[RemainingStop]:
    """Stops the driver is at first (oldest arrival first), then the rest in sequence."""
    at_the_door = sorted(
        (stop for stop in stops if stop.arrived_at is not None),
        key=lambda stop: (stop.arrived_at, stop.stop_id),
    )
    return [*at_the_door, *(stop for stop in stops if stop.arrived_at is None)]


def estimate(
    stops: Sequence[RemainingStop],
    origin: Origin | None,
    now: datetime,
    service_seconds: float,
    travel: TravelSeconds,
) -> list[StopEstimate]:
    """An ETA per remaining stop (given in sequence), in the order the driver reaches them.

    With no origin (no fix sent, nothing done yet) the driver is taken to be at the
    first stop, ready from ``now``.
    """
    service = timedelta(seconds=max(0.0, service_seconds))
    departure = origin.at if origin is not None else now
    here = origin.location if origin is not None else None
    estimates: list[StopEstimate] = []
    for index, stop in enumerate(in_driving_order(stops)):
        if stop.arrived_at is not None:
            arrival = stop.arrived_at
            departure = max(arrival + service, now)
        else:
            leg = travel(here, stop.location) if here is not None else 0.0
            arrival = max(departure + timedelta(seconds=max(0.0, leg)), now)
            if stop.window_start is not None:
                arrival = max(arrival, stop.window_start)
            departure = arrival + service
        here = stop.location
        estimates.append(StopEstimate(stop.stop_id, arrival, stops_before=index))
    return estimates


def learned_service_seconds(samples: Sequence[float]) -> float:
    """The tenant's typical time at the door, from recent samples (seconds).

    The median, so a few stops left open for an hour do not move it; the default
    while fewer than :data:`MIN_SERVICE_SAMPLES` plausible samples exist.
    """
    low, high = SERVICE_SAMPLE_BOUNDS
    plausible = [s for s in samples if low <= s <= high]
    if len(plausible) < MIN_SERVICE_SAMPLES:
        return DEFAULT_SERVICE_SECONDS
    return float(statistics.median(plausible))


def minutes_away(eta_at: datetime, now: datetime) -> int:
    """Whole minutes until ``eta_at``, rounded up (0 when due or past)."""
    seconds = (eta_at - now).total_seconds()
    return max(0, int(-(-seconds // 60)))
