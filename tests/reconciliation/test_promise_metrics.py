"""The promise figures per driver, depot and day, and the 30-day trend, from the
database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from backend.db.session import scope_to_tenant
from backend.reconciliation.promise_metrics import (
    TREND_COLUMNS,
    day_promise,
    promise_trend,
    summary_with_promise,
    trend_csv,
)
from tests.conftest import World
from tests.factories import SERVICE_DATE
from tests.reconciliation.promise_day import EARLIER, PromiseDay, build_promise_day


@pytest.fixture
def built(session: Session, world: World) -> PromiseDay:
    day = build_promise_day(session, world)
    scope_to_tenant(session, world.org_id)
    return day


def test_each_driver_depot_and_the_day_get_their_own_figures(
    session: Session, built: PromiseDay
) -> None:
    tallies = day_promise(session, SERVICE_DATE)
    figures = {key: tally.figures() for key, tally in tallies.items()}
    assert set(figures) == {
        ("North", "driver_a"),
        ("North", "*"),
        ("South", "driver_b"),
        ("South", "*"),
        ("*", "*"),
    }
    a = figures[("North", "driver_a")]
    # A1 and A2 (exactly at the window's end) on time, the re-planned A4 late.
    assert (a["on_time_rate"], a["on_time_measured"]) == (0.667, 3)
    # A1, A2 delivered, A3 failed; A4 is a second attempt and not counted.
    assert (a["first_attempt_success_rate"], a["first_attempts"]) == (0.667, 3)
    assert (a["eta_mae_60"], a["eta_mae_30"], a["eta_mae_10"]) == (15.0, 15.0, 5.0)
    b = figures[("South", "driver_b")]
    assert (b["on_time_rate"], b["first_attempt_success_rate"], b["eta_mae_10"]) == (0.0, 1.0, None)
    day = figures[("*", "*")]
    # The other tenant's late delivery is not in the day.
    assert (day["on_time_rate"], day["on_time_measured"]) == (0.5, 4)
    assert (day["first_attempt_success_rate"], day["first_attempts"]) == (0.75, 4)
    assert figures[("North", "*")] == a


def test_one_depot_is_its_own_day(session: Session, built: PromiseDay) -> None:
    tallies = day_promise(session, SERVICE_DATE, built.south)
    assert set(tallies) == {("South", "driver_b"), ("South", "*"), ("*", "*")}
    assert tallies[("*", "*")].on_time_rate == 0.0


def test_the_summary_rows_carry_the_promise_figures(session: Session, built: PromiseDay) -> None:
    rows = {(r["depot"], r["driver"]): r for r in summary_with_promise(session, SERVICE_DATE)}
    a = rows[("North", "driver_a")]
    assert (a["stops"], a["delivered"], a["failed"]) == (4, 3, 1)
    # The summary's own first-attempt count leaves the re-planned A4 out too.
    assert a["first_attempt_success_rate"] == 0.667
    assert (a["on_time_rate"], a["eta_mae_60"], a["eta_mae_10"]) == (0.667, 15.0, 5.0)
    assert rows[("*", "*")]["on_time_rate"] == 0.5


def test_the_trend_has_one_point_per_day_for_30_days(session: Session, built: PromiseDay) -> None:
    points = promise_trend(session, SERVICE_DATE)
    assert len(points) == 30
    assert points[0].day == SERVICE_DATE - timedelta(days=29)
    assert points[-1].day == SERVICE_DATE
    by_day = {p.day: p.tally for p in points}
    assert by_day[SERVICE_DATE].on_time_rate == 0.5
    assert by_day[EARLIER].on_time_rate == 1.0
    empty = by_day[SERVICE_DATE - timedelta(days=1)]
    assert not empty.has_data
    assert empty.on_time_rate is None


def test_the_trend_narrows_to_a_driver_or_a_depot(session: Session, built: PromiseDay) -> None:
    b = {p.day: p.tally for p in promise_trend(session, SERVICE_DATE, driver="driver_b")}
    assert b[SERVICE_DATE].on_time_rate == 0.0
    assert not b[EARLIER].has_data
    north = {p.day: p.tally for p in promise_trend(session, SERVICE_DATE, depot_id=built.north)}
    assert north[SERVICE_DATE].on_time_rate == 0.667
    assert north[EARLIER].first_attempt_rate == 1.0
    nobody = promise_trend(session, SERVICE_DATE, driver="nobody")
    assert not any(p.tally.has_data for p in nobody)


def test_a_day_older_than_the_window_is_left_out(session: Session, built: PromiseDay) -> None:
    points = promise_trend(session, EARLIER - timedelta(days=1), days=30)
    assert not any(p.tally.has_data for p in points)


def test_the_trend_csv_has_a_row_per_day_and_blanks_for_nothing_measured(
    session: Session, built: PromiseDay
) -> None:
    lines = trend_csv(promise_trend(session, SERVICE_DATE)).splitlines()
    assert lines[0].split(",") == list(TREND_COLUMNS)
    assert len(lines) == 31
    assert lines[-1] == f"{SERVICE_DATE},0.5,4,0.75,4,15.0,15.0,5.0"
    assert lines[-2] == f"{SERVICE_DATE - timedelta(days=1)},,0,,0,,,"


def test_the_figures_take_a_few_queries_however_many_days(
    session: Session, built: PromiseDay
) -> None:
    statements: list[str] = []

    def count(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        promise_trend(session, SERVICE_DATE)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Stops, their reports, their snapshots, the depots' names: not one per stop or day.
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 4
