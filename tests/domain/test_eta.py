"""The ETA rule: travel, service time and window waits along the remaining sequence."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backend.domain.eta import (
    DEFAULT_SERVICE_SECONDS,
    MIN_SERVICE_SAMPLES,
    Origin,
    Point,
    RemainingStop,
    estimate,
    learned_service_seconds,
    minutes_away,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TEN_MINUTES = 600.0


def _ten_minutes_apart(a: Point, b: Point) -> float:
    return TEN_MINUTES


def _stop(n: int, **fields: object) -> RemainingStop:
    return RemainingStop(stop_id=n, location=Point(47.6 + n / 100, -122.3), **fields)  # type: ignore[arg-type]


def test_each_stop_is_reached_after_the_travel_and_service_before_it() -> None:
    origin = Origin(Point(47.6, -122.3), NOW)
    estimates = estimate([_stop(1), _stop(2), _stop(3)], origin, NOW, 240, _ten_minutes_apart)
    assert [e.eta_at - NOW for e in estimates] == [
        timedelta(minutes=10),
        timedelta(minutes=24),
        timedelta(minutes=38),
    ]
    assert [e.stops_before for e in estimates] == [0, 1, 2]


def test_a_driver_does_not_deliver_before_the_working_window_opens() -> None:
    origin = Origin(Point(47.6, -122.3), NOW)
    opens = NOW + timedelta(hours=1)
    estimates = estimate(
        [_stop(1, window_start=opens), _stop(2)], origin, NOW, 240, _ten_minutes_apart
    )
    assert estimates[0].eta_at == opens
    assert estimates[1].eta_at == opens + timedelta(minutes=14)


def test_a_stop_the_driver_is_late_for_is_due_now_not_in_the_past() -> None:
    origin = Origin(Point(47.6, -122.3), NOW - timedelta(hours=2))
    estimates = estimate([_stop(1)], origin, NOW, 240, _ten_minutes_apart)
    assert estimates[0].eta_at == NOW


def test_the_stop_the_driver_is_at_comes_first_with_its_arrival_time() -> None:
    arrived = NOW - timedelta(minutes=2)
    estimates = estimate(
        [_stop(1), _stop(2, arrived_at=arrived)], None, NOW, 240, _ten_minutes_apart
    )
    assert [(e.stop_id, e.stops_before) for e in estimates] == [(2, 0), (1, 1)]
    assert estimates[0].eta_at == arrived
    # Left after the service time (2 minutes from now), then a 10-minute drive.
    assert estimates[1].eta_at == NOW + timedelta(minutes=12)


def test_with_no_known_position_the_driver_starts_at_the_first_stop_now() -> None:
    estimates = estimate([_stop(1), _stop(2)], None, NOW, 240, _ten_minutes_apart)
    assert estimates[0].eta_at == NOW
    assert estimates[1].eta_at == NOW + timedelta(minutes=14)


def test_the_learned_service_time_is_the_median_of_plausible_door_times() -> None:
    samples = [100.0] * MIN_SERVICE_SAMPLES + [300.0] * (MIN_SERVICE_SAMPLES - 1) + [86_400.0]
    assert learned_service_seconds(samples) == 100.0
    assert learned_service_seconds([100.0] * (MIN_SERVICE_SAMPLES - 1)) == DEFAULT_SERVICE_SECONDS
    # Stops left open for hours are not samples: too few remain.
    assert learned_service_seconds([7200.0] * 50) == DEFAULT_SERVICE_SECONDS


def test_minutes_away_rounds_up_and_never_goes_negative() -> None:
    assert minutes_away(NOW + timedelta(seconds=61), NOW) == 2
    assert minutes_away(NOW - timedelta(minutes=5), NOW) == 0


windows = st.one_of(st.none(), st.integers(-120, 240).map(lambda m: NOW + timedelta(minutes=m)))
arrivals = st.one_of(st.none(), st.integers(-60, 0).map(lambda m: NOW + timedelta(minutes=m)))


@given(
    stops=st.lists(st.tuples(windows, arrivals), min_size=1, max_size=15),
    legs=st.lists(st.floats(0, 3600), min_size=1, max_size=15),
    service=st.floats(0, 1800),
    origin_minutes=st.one_of(st.none(), st.integers(-180, 0)),
)
def test_etas_never_decrease_along_the_order_and_cover_every_open_stop(
    stops: list[tuple[datetime | None, datetime | None]],
    legs: list[float],
    service: float,
    origin_minutes: int | None,
) -> None:
    remaining = [
        _stop(n, window_start=window, arrived_at=arrived)
        for n, (window, arrived) in enumerate(stops)
    ]
    origin = (
        Origin(Point(47.6, -122.3), NOW + timedelta(minutes=origin_minutes))
        if origin_minutes is not None
        else None
    )

    def travel(a: Point, b: Point) -> float:
        return legs[round(b.lat * 100) % len(legs)]

    estimates = estimate(remaining, origin, NOW, service, travel)
    assert sorted(e.stop_id for e in estimates) == [s.stop_id for s in remaining]
    assert [e.stops_before for e in estimates] == list(range(len(remaining)))
    assert all(a.eta_at <= b.eta_at for a, b in itertools.pairwise(estimates))
    for e in estimates:
        stop = remaining[e.stop_id]
        if stop.arrived_at is None:
            assert e.eta_at >= NOW
            assert stop.window_start is None or e.eta_at >= stop.window_start


def test_completed_stops_are_not_estimated() -> None:
    # The caller passes open stops only; what it leaves out gets no estimate.
    estimates = estimate([_stop(2), _stop(3)], None, NOW, 240, _ten_minutes_apart)
    assert {e.stop_id for e in estimates} == {2, 3}
