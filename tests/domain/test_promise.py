"""The promise kept or broken: on-time, attempts, actual arrival, ETA error by lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.promise import (
    EtaShown,
    OnTime,
    StopPromise,
    actual_arrival,
    attempt_number,
    eta_errors,
    first_attempt_outcome,
    on_time,
    promised_window,
    tally,
)
from backend.domain.stops import StopStatus

NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FIVE = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


def test_the_promised_window_wins_over_the_working_window() -> None:
    assert promised_window(at(10), at(12), NINE, FIVE) == (at(10), at(12))


def test_without_a_promise_the_working_window_is_the_promise() -> None:
    assert promised_window(None, None, NINE, FIVE) == (NINE, FIVE)
    assert promised_window(at(10), None, NINE, FIVE) == (NINE, FIVE)


def test_no_window_at_all_is_no_window() -> None:
    assert promised_window(None, None, None, FIVE) is None


@pytest.mark.parametrize(
    ("delivered", "verdict"),
    [
        (NINE, OnTime.ON_TIME),
        (NOON, OnTime.ON_TIME),
        (FIVE, OnTime.ON_TIME),
        (FIVE + timedelta(microseconds=1), OnTime.LATE),
        (NINE - timedelta(seconds=1), OnTime.EARLY),
        (None, OnTime.NOT_COUNTED),
    ],
)
def test_on_time_means_inside_the_window_both_ends_included(
    delivered: datetime | None, verdict: OnTime
) -> None:
    assert on_time((NINE, FIVE), delivered) is verdict


def test_a_delivery_with_no_window_is_not_counted() -> None:
    assert on_time(None, NOON) is OnTime.NOT_COUNTED


@pytest.mark.parametrize(
    ("order", "attempt"),
    [("A-17", 1), ("A-17-R1", 2), ("A-17-R2", 3), ("R-2", 1), ("A-R10", 11), ("A-R", 1)],
)
def test_the_attempt_number_comes_from_the_order_number(order: str, attempt: int) -> None:
    assert attempt_number(order) == attempt


def test_only_a_first_attempt_with_an_outcome_counts_for_first_attempt_success() -> None:
    assert first_attempt_outcome("A-1", StopStatus.DELIVERED, had_failure=False) is True
    assert first_attempt_outcome("A-1", StopStatus.EVIDENCE_PENDING, had_failure=False) is True
    assert first_attempt_outcome("A-1", StopStatus.FAILED, had_failure=True) is False
    # Failed, then the driver came back and delivered: not a first-attempt success.
    assert first_attempt_outcome("A-1", StopStatus.DELIVERED, had_failure=True) is False
    assert first_attempt_outcome("A-1", StopStatus.PENDING, had_failure=False) is None
    assert first_attempt_outcome("A-1", StopStatus.CANCELLED, had_failure=False) is None
    # A re-planned stop delivered is the order's second attempt, not a new first.
    assert first_attempt_outcome("A-1-R1", StopStatus.DELIVERED, had_failure=False) is None
    assert first_attempt_outcome("A-1-R2", StopStatus.FAILED, had_failure=True) is None


def test_a_delivery_back_office_rejected_is_not_a_first_attempt_success() -> None:
    assert first_attempt_outcome("A-1", StopStatus.DELIVERED, False, replanned=True) is False
    # Rolled over before anyone reached it: no outcome, not counted.
    assert first_attempt_outcome("A-1", StopStatus.PENDING, False, replanned=True) is None


def test_an_r2_chain_counts_once_as_a_failed_first_attempt() -> None:
    chain = [
        StopPromise("A-1", StopStatus.FAILED, None, None, at(10), None),
        StopPromise("A-1-R1", StopStatus.FAILED, None, None, at(10), None),
        StopPromise("A-1-R2", StopStatus.DELIVERED, None, at(11), None, None),
    ]
    figures = tally(chain)
    assert (figures.first_attempts, figures.first_attempt_successes) == (1, 0)
    assert figures.first_attempt_rate == 0.0


def test_the_arrival_is_the_arrived_report_else_the_first_outcome() -> None:
    assert actual_arrival(at(10), at(10, 5), None) == at(10)
    assert actual_arrival(None, at(10, 5), None) == at(10, 5)
    assert actual_arrival(None, None, at(11)) == at(11)
    assert actual_arrival(None, at(12), at(11)) == at(11)
    assert actual_arrival(None, None, None) is None


def test_the_eta_shown_at_each_lead_is_the_last_snapshot_at_or_before_it() -> None:
    arrival = at(12)
    snapshots = [
        EtaShown(at(10, 0), at(12, 30)),  # 120 min before: the newest at lead 60
        EtaShown(at(11, 30), at(11, 50)),  # exactly 30 min before: counts at lead 30
        EtaShown(at(11, 45), at(12, 4)),  # 15 min before: the newest at lead 10
        EtaShown(at(11, 55), at(12, 0)),  # 5 min before: too late for any lead
    ]
    assert eta_errors(list(reversed(snapshots)), arrival) == {60: 30.0, 30: 10.0, 10: 4.0}


def test_a_lead_with_no_snapshot_that_early_is_left_out() -> None:
    errors = eta_errors([EtaShown(at(11, 40), at(12, 3))], at(12))
    assert errors == {10: 3.0}
    assert eta_errors([], at(12)) == {}
    assert eta_errors([EtaShown(at(10), at(12))], None) == {}


def test_the_tally_averages_eta_errors_and_rates_only_what_was_measured() -> None:
    window = (NINE, FIVE)
    stops = [
        # On time, reached with a shown ETA 6 min off at every lead.
        StopPromise(
            "A-1",
            StopStatus.DELIVERED,
            window,
            at(12),
            None,
            at(11, 58),
            [EtaShown(at(9), at(12, 4))],
        ),
        # Late, 2 min off at every lead.
        StopPromise(
            "A-2",
            StopStatus.DELIVERED,
            window,
            at(17, 30),
            None,
            None,
            [EtaShown(at(15), at(17, 28))],
        ),
        # Failed: in first attempts, not in on-time.
        StopPromise("A-3", StopStatus.FAILED, window, None, at(13), None),
        # Delivered without a window: in first attempts only.
        StopPromise("A-4", StopStatus.DELIVERED, None, at(14), None, None),
        # Not reached yet: in nothing.
        StopPromise("A-5", StopStatus.PENDING, window, None, None, None),
    ]
    figures = tally(stops)
    assert (figures.on_time, figures.on_time_measured, figures.on_time_rate) == (1, 2, 0.5)
    assert (figures.first_attempt_successes, figures.first_attempts) == (3, 4)
    assert figures.first_attempt_rate == 0.75
    assert [figures.eta_mae(lead) for lead in (60, 30, 10)] == [4.0, 4.0, 4.0]
    assert figures.has_data


def test_an_empty_group_has_no_figures_rather_than_zeros() -> None:
    figures = tally([])
    assert not figures.has_data
    assert figures.figures() == {
        "on_time_rate": None,
        "on_time_measured": 0,
        "first_attempt_success_rate": None,
        "first_attempts": 0,
        "eta_mae_60": None,
        "eta_mae_30": None,
        "eta_mae_10": None,
    }
