"""Back office: reviewing a whole day, the console's exception queue, a bulk decision.

The day is the one `make demo` simulates (two rounds: about 700 stops, a few dozen
delivered with signature and photo, most still pending, so the queue holds several
hundred exceptions), in a temporary SQLite database, measured in process so the
numbers are the code's, not the network's.

Floors, measured in the same run on the same data:
- reviewing the day (every stop's outcome and exceptions) against loading the day's
  stop rows through the ORM, the least any review must read;
- the queue page against the review it shows: what session, filters and HTML for every
  open exception add on top (/healthz through the same test client is printed too, as
  the cost of serving any request at all);
- rejecting every no_outcome exception in one decision against a Core bulk insert of
  the rows it writes: a decision and a re-planned stop with its parcels per exception.
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.app import create_app
from backend.auth.tokens import Principal
from backend.config import load_settings
from backend.db.models import Base, Stop, User
from backend.db.session import Database, scope_to_tenant
from backend.domain.reconcile import Decision
from backend.reconciliation.decisions import DecisionTarget, decide_many
from backend.reconciliation.review import review_day
from bench.common import Row
from demo import day as demo_day

# The tables themselves, for the Core floor (the models' __table__ is typed loosely).
STOPS = Base.metadata.tables["stop"]
PARCELS = Base.metadata.tables["parcel"]
DECISIONS = Base.metadata.tables["exception_decision"]
ROUNDS = 2
REPEATS = 5
REVIEW_TARGET = 0.2
PAGE_TARGET = 0.4
BULK_TARGET = 0.2


def _median_s(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _simulated_day(folder: Path) -> date:
    original = demo_day.ROUNDS
    demo_day.ROUNDS = ROUNDS
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if demo_day.run_day(folder) != 0:
                raise SystemExit("bench: the simulated day lost events")
    finally:
        demo_day.ROUNDS = original
    database = Database(f"sqlite:///{demo_day.database_path(folder)}")
    try:
        with database.session() as session:
            day = session.scalar(select(Stop.service_date).limit(1))
    finally:
        database.dispose()
    assert day is not None
    return day


def _logged_in(client: FlaskClient, username: str) -> None:
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    client.post(
        "/console/login",
        data={"csrf_token": token.group(1), "username": username, "password": "demo"},
    )


def _bare_writes(session: Session, principal: Principal, targets: list[DecisionTarget]) -> float:
    """Seconds for Core to insert what the decision wrote: per exception, a decision,
    a copy of the stop (on another day, so order numbers stay unique) and its parcels."""
    ids = [t.stop_id for t in targets]
    stops = session.execute(select(STOPS).where(STOPS.c.id.in_(ids))).mappings().all()
    parcels = session.execute(select(PARCELS).where(PARCELS.c.stop_id.in_(ids)))
    parcel_rows = parcels.mappings().all()
    started = time.perf_counter()
    copies = [
        {
            **{k: v for k, v in stop.items() if k != "id"},
            "service_date": stop["service_date"] + timedelta(days=30),
            "manifest_id": None,
            "sequence": None,
        }
        for stop in stops
    ]
    new_ids = session.execute(insert(STOPS).returning(STOPS.c.id), copies)
    mapping = dict(zip([s["id"] for s in stops], new_ids.scalars().all(), strict=True))
    session.execute(
        insert(PARCELS),
        [
            {"org_id": p["org_id"], "stop_id": mapping[p["stop_id"]], "barcode": p["barcode"]}
            for p in parcel_rows
        ],
    )
    session.execute(
        insert(DECISIONS),
        [
            {
                "org_id": principal.org_id,
                "stop_id": t.stop_id,
                "kind": t.kind,
                "decision": "annotate",
                "note": "bench floor",
                "user_id": principal.user_id,
                "replanned_stop_id": mapping[t.stop_id],
            }
            for t in targets
        ],
    )
    session.commit()
    return time.perf_counter() - started


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-office-") as name:
        folder = Path(name)
        day = _simulated_day(folder)
        settings = load_settings(
            environ={},
            database_url=f"sqlite:///{demo_day.database_path(folder)}",
            storage_dir=demo_day.evidence_dir(folder),
            secrets_dir=folder,
        )
        database = Database(settings.database_url)
        try:
            return _measure(database, settings, day)
        finally:
            database.dispose()


def _measure(database: Database, settings: object, day: date) -> list[Row]:
    with database.session() as session:
        dispatch = session.scalars(select(User).where(User.username == "dispatch")).one()
        principal = Principal(dispatch.id, dispatch.org_id, dispatch.role, "dispatch", None)
        scope_to_tenant(session, dispatch.org_id)

        def load_rows() -> None:
            session.expunge_all()
            session.scalars(select(Stop).where(Stop.service_date == day)).all()

        def review() -> None:
            session.expunge_all()
            review_day(session, day, None)

        rows_s = _median_s(load_rows)
        review_s = _median_s(review)
        reviews = review_day(session, day, None)
        stops = len(reviews)
        open_rows = sum(len(r.open_exceptions) for r in reviews)
        session.rollback()

    app = create_app(settings, database)  # type: ignore[arg-type]
    client = app.test_client()
    _logged_in(client, "dispatch")
    floor_s = _median_s(lambda: client.get("/healthz"), REPEATS * 4)
    page_s = _median_s(lambda: client.get(f"/console/exceptions?date={day}"))

    with database.session() as session:
        scope_to_tenant(session, principal.org_id)
        targets = [
            DecisionTarget(r.stop.id, e.kind.value)
            for r in review_day(session, day, None)
            for e in r.open_exceptions
            if e.kind.value == "no_outcome"
        ]
        session.rollback()
        started = time.perf_counter()
        decide_many(session, principal, targets, Decision.REJECT, "bench: roll over")
        bulk_s = time.perf_counter() - started
        bare_s = _bare_writes(session, principal, targets)

    return [
        Row(f"load the day's {stops} stop rows (floor)", rows_s * 1000, "ms"),
        Row(
            f"review the day: {stops} stops, {open_rows} open exceptions",
            1 / review_s,
            "days/s",
            floor=1 / rows_s,
            target=f">= {REVIEW_TARGET}",
            ok=rows_s / review_s >= REVIEW_TARGET,
            note=f"{review_s * 1000:.0f} ms",
        ),
        Row("GET /healthz through the test client (floor)", 1 / floor_s, "req/s"),
        Row(
            f"GET /console/exceptions ({open_rows} rows), against the review",
            1 / page_s,
            "pages/s",
            floor=1 / review_s,
            target=f">= {PAGE_TARGET}",
            ok=review_s / page_s >= PAGE_TARGET,
            note=f"{page_s * 1000:.0f} ms",
        ),
        Row(
            f"Core insert of {len(targets)} decisions + stops + parcels (floor)",
            len(targets) / bare_s,
            "rows/s",
        ),
        Row(
            f"reject {len(targets)} no_outcome exceptions in one decision",
            len(targets) / bulk_s,
            "rows/s",
            floor=len(targets) / bare_s,
            target=f">= {BULK_TARGET}",
            ok=bare_s / bulk_s >= BULK_TARGET,
            note=f"{bulk_s * 1000:.0f} ms, each re-plans its stop",
        ),
    ]
