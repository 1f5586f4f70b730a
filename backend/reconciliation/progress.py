"""How far each driver has got through the day, for the dispatch screen."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import (
    DoorEventRow,
    Manifest,
    Stop,
    StopEta,
    User,
)
from backend.domain.stops import StopStatus
from backend.reconciliation.summary import NO_DEPOT, UNASSIGNED, depot_names


@dataclass(frozen=True)
class DriverProgress:
    """How far one driver is through the day, for the live view."""

    driver: str
    depot: str
    counts: dict[str, int]
    last_report_at: datetime | None
    next_stop: str | None
    # When the driver should reach that stop (backend.eta), if estimated.
    next_stop_eta: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.total - self.counts.get("pending", 0) - self.counts.get("arrived", 0)


def drivers_progress(
    session: Session, service_date: date, depot_id: int | None
) -> list[DriverProgress]:
    """Per driver: stops by status, when the last report arrived, the next stop.

    Stops are counted by their own depot, as review_day and the summary count them.
    """
    day = (Stop.service_date == service_date,) + (
        (Stop.depot_id == depot_id,) if depot_id is not None else ()
    )
    counts: dict[tuple[str, int | None], dict[str, int]] = defaultdict(dict)
    # Outer joins: stops on no driver's manifest count too (as "(unassigned)"), so the
    # rows add up to the day's figures.
    for username, stop_depot, status, count in session.execute(
        select(User.username, Stop.depot_id, Stop.status, func.count())
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(*day)
        .group_by(User.username, Stop.depot_id, Stop.status)
    ):
        counts[(username or UNASSIGNED, stop_depot)][status.value] = count
    last_report: dict[str, datetime] = {
        username: moment
        for username, moment in session.execute(
            select(User.username, func.max(DoorEventRow.received_at))
            .join(DoorEventRow, DoorEventRow.driver_id == User.id)
            .join(Stop, Stop.id == DoorEventRow.stop_id)
            .where(Stop.service_date == service_date)
            .group_by(User.username)
        )
    }
    next_stop: dict[str, tuple[str, datetime | None]] = {}
    for username, address, eta_at in session.execute(
        select(User.username, Stop.address, StopEta.eta_at)
        .join(Manifest, Manifest.id == Stop.manifest_id)
        .join(User, User.id == Manifest.driver_id)
        .outerjoin(StopEta, StopEta.stop_id == Stop.id)
        .where(*day, Stop.status == StopStatus.PENDING)
        .order_by(User.username, Stop.sequence.desc())
    ):
        next_stop[username] = (address, eta_at)  # the last one written is the lowest sequence
    depots = depot_names(session)
    return [
        DriverProgress(
            driver=username,
            depot=depots.get(depot or 0, NO_DEPOT),
            counts=by_status,
            last_report_at=last_report.get(username),
            next_stop=next_stop[username][0] if username in next_stop else None,
            next_stop_eta=next_stop[username][1] if username in next_stop else None,
        )
        for (username, depot), by_status in sorted(
            counts.items(), key=lambda kv: (kv[0][0] == UNASSIGNED, kv[0][0], kv[0][1] or 0)
        )
    ]
