"""The day summarised by depot and driver, on screen and as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import (
    Depot,
)
from backend.domain.promise import first_attempt_outcome
from backend.domain.stops import StopStatus
from backend.reconciliation.review import StopReview

SUMMARY_COLUMNS = (
    "depot",
    "driver",
    "stops",
    "delivered",
    "failed",
    "pending",
    "cancelled",
    "replanned",
    "open_exceptions",
    "first_attempt_success_rate",
    # The promise figures (backend.reconciliation.promise_metrics); blank: not measured.
    "on_time_rate",
    "eta_mae_60",
    "eta_mae_30",
    "eta_mae_10",
)
ALL = "*"
NO_DEPOT = "(no depot)"
UNASSIGNED = "(unassigned)"


def depot_names(session: Session) -> dict[int, str]:
    return {depot_id: name for depot_id, name in session.execute(select(Depot.id, Depot.name))}


def summarise(reviews: list[StopReview], depots: dict[int, str]) -> list[dict[str, Any]]:
    """The end-of-day report: a row per driver within each depot, then the depot's
    total (driver "*"), then the whole day (depot and driver "*")."""
    groups: dict[tuple[str, str], list[StopReview]] = defaultdict(list)
    for review in reviews:
        depot = depots.get(review.stop.depot_id or 0, NO_DEPOT)
        groups[(depot, review.driver or UNASSIGNED)].append(review)
        groups[(depot, ALL)].append(review)
        groups[(ALL, ALL)].append(review)
    order = sorted(groups, key=lambda key: (key[0] == ALL, key[0], key[1] == ALL, key[1]))
    return [_summary_row(depot, driver, groups[(depot, driver)]) for depot, driver in order]


def summarise_by_depot_and_driver(
    reviews: list[StopReview], depots: dict[int, str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The summary's rows keyed by (depot, driver), as the live view's rows are keyed.

    A driver who works in two depots has a row in each, and each row counts only that
    depot's stops, so the rows add up to the day's total under ("*", "*").
    """
    return {(row["depot"], row["driver"]): row for row in summarise(reviews, depots)}


def _summary_row(depot: str, driver: str, items: list[StopReview]) -> dict[str, Any]:
    statuses = Counter(r.stop.status for r in items)
    delivered = statuses[StopStatus.DELIVERED] + statuses[StopStatus.EVIDENCE_PENDING]
    # First attempts only: a re-planned "-R" stop is a later attempt of its order,
    # whose first attempt was counted on its own day.
    firsts = [
        outcome
        for r in items
        if (
            outcome := first_attempt_outcome(
                r.stop.order_number, r.stop.status, r.had_failure, r.stop.replanned_at is not None
            )
        )
        is not None
    ]
    return {
        "depot": depot,
        "driver": driver,
        "stops": len(items),
        "delivered": delivered,
        "failed": statuses[StopStatus.FAILED],
        # Still to do today: not reached, and not rolled over to another day.
        "pending": sum(
            1
            for r in items
            if r.stop.status in (StopStatus.PENDING, StopStatus.ARRIVED) and not r.replanned
        ),
        "cancelled": statuses[StopStatus.CANCELLED],
        "replanned": sum(1 for r in items if r.replanned),
        "open_exceptions": sum(len(r.open_exceptions) for r in items),
        "first_attempt_success_rate": round(sum(firsts) / len(firsts), 3) if firsts else None,
    }


def summary_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # None (nothing to measure) is an empty cell, not the word "None".
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return out.getvalue()
