"""The promise kept or broken (``backend.domain.promise``) per driver, depot and day,
and its trend over the last 30 days.

Three set-based queries however many stops: the stops of the dates asked for, each
stop's earliest ``arrived``/``delivered``/``failed`` report (grouped in the database),
and the ETA snapshots of the stops that were reached. The reports are read through
``ix_door_event_stop`` (org, stop, hlc) and the snapshots through
``ix_eta_snapshot_stop`` (org, stop, computed_at), both joined from the stops of the
dates (``ix_stop_org_date``), so no list of ids is sent to the database.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from backend.db.models import DoorEventRow, EtaSnapshot, Manifest, Stop, User
from backend.domain.promise import (
    LEAD_MINUTES,
    EtaShown,
    PromiseTally,
    StopPromise,
    promised_window,
)
from backend.domain.refusal import Refusal
from backend.domain.stops import StopStatus
from backend.reconciliation.review import review_day
from backend.reconciliation.summary import (
    ALL,
    NO_DEPOT,
    UNASSIGNED,
    depot_names,
    summarise,
)

TREND_DAYS = 30
# The figures each summary row gains, in the CSV's column order.
PROMISE_COLUMNS = ("on_time_rate", *(f"eta_mae_{lead}" for lead in LEAD_MINUTES))
TREND_COLUMNS = (
    "date",
    "on_time_rate",
    "on_time_measured",
    "first_attempt_success_rate",
    "first_attempts",
    *(f"eta_mae_{lead}" for lead in LEAD_MINUTES),
)
# A stop with one of these statuses was reached by its driver: only their snapshots
# can be measured against an arrival.
_REACHED = (
    StopStatus.ARRIVED,
    StopStatus.DELIVERED,
    StopStatus.EVIDENCE_PENDING,
    StopStatus.FAILED,
)
_REPORTS = ("arrived", "delivered", "failed")


@dataclass(frozen=True)
class _StopRow:
    service_date: date
    depot: str
    driver: str
    promise: StopPromise


def _stops_of(first: date, last: date, depot_id: int | None, driver: str | None) -> Subquery:
    """The stops of the dates (and depot, driver) with their driver's name."""
    query = (
        select(
            Stop.id,
            Stop.service_date,
            Stop.order_number,
            Stop.depot_id,
            Stop.status,
            Stop.promised_start,
            Stop.promised_end,
            Stop.window_start,
            Stop.window_end,
            Stop.replanned_at,
            User.username,
        )
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(Stop.service_date >= first, Stop.service_date <= last)
    )
    if depot_id is not None:
        query = query.where(Stop.depot_id == depot_id)
    if driver is not None:
        query = query.where(User.username == driver)
    return query.subquery()


def _stop_rows(
    session: Session, first: date, last: date, depot_id: int | None, driver: str | None
) -> list[_StopRow]:
    stops = _stops_of(first, last, depot_id, driver)
    reports: dict[int, dict[str, datetime]] = defaultdict(dict)
    for stop_id, kind, earliest in session.execute(
        select(DoorEventRow.stop_id, DoorEventRow.type, func.min(DoorEventRow.recorded_at))
        .join(stops, stops.c.id == DoorEventRow.stop_id)
        .where(DoorEventRow.type.in_(_REPORTS))
        .group_by(DoorEventRow.stop_id, DoorEventRow.type)
    ):
        reports[stop_id][kind] = earliest
    snapshots: dict[int, list[EtaShown]] = defaultdict(list)
    for stop_id, computed_at, eta_at in session.execute(
        select(EtaSnapshot.stop_id, EtaSnapshot.computed_at, EtaSnapshot.eta_at)
        .join(stops, stops.c.id == EtaSnapshot.stop_id)
        .where(stops.c.status.in_(_REACHED))
    ):
        snapshots[stop_id].append(EtaShown(computed_at, eta_at))
    depots = depot_names(session)
    rows = []
    for stop in session.execute(select(stops)):
        seen = reports.get(stop.id, {})
        rows.append(
            _StopRow(
                service_date=stop.service_date,
                depot=depots.get(stop.depot_id or 0, NO_DEPOT),
                driver=stop.username or UNASSIGNED,
                promise=StopPromise(
                    order_number=stop.order_number,
                    status=StopStatus(stop.status),
                    window=promised_window(
                        stop.promised_start, stop.promised_end, stop.window_start, stop.window_end
                    ),
                    delivered_at=seen.get("delivered"),
                    failed_at=seen.get("failed"),
                    arrived_at=seen.get("arrived"),
                    snapshots=snapshots.get(stop.id, ()),
                    replanned=stop.replanned_at is not None,
                ),
            )
        )
    return rows


def day_promise(
    session: Session, service_date: date, depot_id: int | None = None
) -> dict[tuple[str, str], PromiseTally]:
    """The day's promise figures keyed as the summary's rows are: (depot, driver), the
    depot's total under (depot, "*"), the day's under ("*", "*")."""
    tallies: dict[tuple[str, str], PromiseTally] = defaultdict(PromiseTally)
    for row in _stop_rows(session, service_date, service_date, depot_id, None):
        for key in ((row.depot, row.driver), (row.depot, ALL), (ALL, ALL)):
            tallies[key].add(row.promise)
    return dict(tallies)


def summary_with_promise(
    session: Session, service_date: date, depot_id: int | None = None
) -> list[dict[str, Any]]:
    """The end-of-day summary's rows, each with its promise figures (on-time rate and
    ETA accuracy; first-attempt success is already one of the summary's columns)."""
    rows = summarise(review_day(session, service_date, None, depot_id), depot_names(session))
    tallies = day_promise(session, service_date, depot_id)
    for row in rows:
        figures = tallies.get((row["depot"], row["driver"]), PromiseTally()).figures()
        row.update({column: figures[column] for column in PROMISE_COLUMNS})
    return rows


@dataclass(frozen=True)
class TrendPoint:
    day: date
    tally: PromiseTally

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), **self.tally.figures()}


def promise_trend(
    session: Session,
    last_day: date,
    depot_id: int | None = None,
    driver: str | None = None,
    days: int = TREND_DAYS,
) -> list[TrendPoint]:
    """One point per day for the ``days`` days ending on ``last_day``, oldest first,
    for the tenant, one depot or one driver; a day with no stops has an empty tally."""
    if last_day < date.min + timedelta(days=days - 1):
        # The first day would fall before year 1: date arithmetic would overflow (a 500).
        raise Refusal(
            "validation_error",
            f"date must leave {days} days of calendar before it",
            field="date",
        )
    first = last_day - timedelta(days=days - 1)
    tallies: dict[date, PromiseTally] = defaultdict(PromiseTally)
    for row in _stop_rows(session, first, last_day, depot_id, driver):
        tallies[row.service_date].add(row.promise)
    return [
        TrendPoint(day, tallies.get(day, PromiseTally()))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


def trend_csv(points: list[TrendPoint]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TREND_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for point in points:
        writer.writerow(
            {k: "" if v is None else v for k, v in point.as_dict().items() if k in TREND_COLUMNS}
        )
    return out.getvalue()
