"""Adapter between the stored reports and the pure derivation rule.

``rederive_stops`` loads every report for a set of stops (a handful of queries for
the whole set, not per stop), asks ``backend.domain.outcome`` for each stop's status
and disagreements, and writes both back: changed statuses (published to their
drivers) and one open conflict row per disagreement.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, String, Table, any_, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from backend.db.models import Conflict, DoorEventRow, EventEvidence, EvidenceFile, Manifest, Stop
from backend.db.types import utcnow
from backend.domain.outcome import ConflictKind, Derivation, PlanFacts, Report, derive_stop
from backend.domain.stops import StopStatus
from backend.sync import changes

OPEN = "open"
REPORTED_AFTER_REPLAN = ConflictKind.REPORTED_AFTER_REPLAN.value
SUPERSEDED = "superseded"
# Keys per IN list: well inside SQLite's bound on parameters per statement.
LOOKUP_CHUNK = 500
STOP: Table = Stop.__table__  # type: ignore[assignment]


def key_in(session: Session, column: Any, keys: Collection[int] | Collection[str]) -> Any:
    """``column IN keys``, written so its SQL text does not depend on how many keys.

    On PostgreSQL that is ``column = ANY(array)`` with one array parameter: the same
    statement for a batch of 3 or 300, which psycopg prepares once per connection and
    the server plans once. An IN list of 150 parameters is new text each time, parsed
    by psycopg on every request and never prepared (over 50 parameters). SQLite has no
    arrays and parses in-process, so it keeps the IN list.
    """
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(keys)
    values = list(keys)
    element = String() if values and isinstance(values[0], str) else BigInteger()
    return column == any_(bindparam(None, values, type_=ARRAY(element)))


def _drivers(session: Session, stops: Iterable[Stop]) -> dict[int, int]:
    manifest_ids = {s.manifest_id for s in stops if s.manifest_id is not None}
    if not manifest_ids:
        return {}
    return {
        manifest_id: driver_id
        for manifest_id, driver_id in session.execute(
            select(Manifest.id, Manifest.driver_id).where(
                key_in(session, Manifest.id, manifest_ids)
            )
        )
    }


def _reports(session: Session, stop_ids: list[int]) -> dict[int, list[Report]]:
    rows = session.execute(
        select(
            DoorEventRow.id,
            DoorEventRow.event_id,
            DoorEventRow.stop_id,
            DoorEventRow.type,
            DoorEventRow.hlc,
            DoorEventRow.device_key,
            DoorEventRow.driver_id,
            DoorEventRow.base_version,
            DoorEventRow.clock_skew_ms,
            DoorEventRow.received_at,
            DoorEventRow.recorded_at,
            DoorEventRow.not_before,
        ).where(key_in(session, DoorEventRow.stop_id, stop_ids))
    ).all()
    unverified = _citing_unverified(session, [row.id for row in rows])
    grouped: dict[int, list[Report]] = defaultdict(list)
    for row in rows:
        grouped[row.stop_id].append(
            Report(
                event_id=row.event_id,
                type=row.type,
                hlc=row.hlc,
                device_id=row.device_key,
                driver_id=row.driver_id,
                base_version=row.base_version,
                evidence_complete=row.id not in unverified,
                clock_skew_ms=row.clock_skew_ms,
                received_at=row.received_at,
                recorded_at=row.recorded_at,
                not_before=row.not_before,
            )
        )
    return grouped


def _citing_unverified(session: Session, event_row_ids: list[int]) -> set[int]:
    """Which of these events cite a file that has not arrived and verified yet.

    Starts from the events' own links, then looks each file up by its unique key and
    judges it here: the tenant's pending files (tens of thousands at the end of a
    shift) are never the starting point, whatever the planner's statistics say.
    """
    links: list[tuple[int, int, str]] = []
    for start in range(0, len(event_row_ids), LOOKUP_CHUNK):
        links.extend(
            (row.event_row_id, row.org_id, row.sha256)
            for row in session.execute(
                select(
                    EventEvidence.event_row_id, EventEvidence.org_id, EventEvidence.sha256
                ).where(
                    key_in(
                        session,
                        EventEvidence.event_row_id,
                        event_row_ids[start : start + LOOKUP_CHUNK],
                    )
                )
            )
        )
    verified: set[tuple[int, str]] = set()
    for org_id in sorted({org_id for _, org_id, _ in links}):
        hashes = sorted({sha for _, org, sha in links if org == org_id})
        for start in range(0, len(hashes), LOOKUP_CHUNK):
            verified.update(
                (org_id, row.sha256)
                for row in session.execute(
                    select(EvidenceFile.sha256, EvidenceFile.verified_at).where(
                        EvidenceFile.org_id == org_id,
                        key_in(session, EvidenceFile.sha256, hashes[start : start + LOOKUP_CHUNK]),
                    )
                )
                if row.verified_at is not None
            )
    return {row_id for row_id, org_id, sha in links if (org_id, sha) not in verified}


def derive_many(session: Session, stops: list[Stop]) -> dict[int, Derivation]:
    drivers = _drivers(session, stops)
    reports = _reports(session, [s.id for s in stops])
    return {
        stop.id: derive_stop(
            PlanFacts(
                cancelled=stop.cancelled_at is not None,
                current_driver_id=drivers.get(stop.manifest_id) if stop.manifest_id else None,
                material_version=stop.material_version,
                replanned_at=stop.replanned_at,
            ),
            reports.get(stop.id, []),
        )
        for stop in stops
    }


def derive(session: Session, stop: Stop) -> Derivation:
    return derive_many(session, [stop])[stop.id]


def winning_event_id(session: Session, stop: Stop) -> str | None:
    return derive(session, stop).winning_event_id


def _event_key(event_ids: tuple[str, ...]) -> str:
    return hashlib.sha256(",".join(event_ids).encode()).hexdigest()


def rederive_stops(session: Session, stops: list[Stop], now: datetime) -> list[Conflict]:
    """Recompute statuses and conflicts for ``stops``; return their open conflicts.

    Caller holds the stops' row locks (a plan edit, or a sync's batch), so reports on
    them are never derived side by side; the feed locks are taken here. One open
    conflict per (stop, kind) is kept, its reports updated as more arrive; a
    disagreement back office already resolved is not reopened unless a new report
    joins it; an open conflict the rule no longer finds is marked superseded (kept,
    not deleted).
    """
    if not stops:
        return []
    derivations = derive_many(session, stops)
    changed = [s for s in stops if s.status != derivations[s.id].status]
    _write_statuses(session, {s: derivations[s.id].status for s in changed})
    changes.record_status_changes(session, changed)
    existing: dict[int, list[Conflict]] = defaultdict(list)
    for conflict in session.scalars(
        select(Conflict).where(key_in(session, Conflict.stop_id, [s.id for s in stops]))
    ):
        existing[conflict.stop_id].append(conflict)
    open_conflicts: list[Conflict] = []
    for stop in stops:
        current_kinds = {f.kind.value for f in derivations[stop.id].findings}
        for conflict in existing[stop.id]:
            if conflict.status == OPEN and conflict.kind not in current_kinds:
                # The rule no longer finds this disagreement (a later report is covered
                # by a broader conflict, or the plan changed back). The row stays as
                # history; only findings the rule still makes are open, whatever the
                # order reports and plan changes arrived in.
                conflict.status = SUPERSEDED
                conflict.resolved_at = now
                conflict.resolution_note = "superseded: the derivation rule no longer finds it"
        for finding in derivations[stop.id].findings:
            key = _event_key(finding.event_ids)
            same = [c for c in existing[stop.id] if c.kind == finding.kind.value]
            if any(c.event_key == key for c in same):
                open_conflicts.extend(c for c in same if c.event_key == key and c.status == OPEN)
                continue
            current = next((c for c in same if c.status == OPEN), None)
            if current is None:
                current = Conflict(
                    org_id=stop.org_id, stop_id=stop.id, kind=finding.kind.value, created_at=now
                )
                session.add(current)
                existing[stop.id].append(current)
            current.event_key = key
            current.event_ids = list(finding.event_ids)
            current.detail = finding.detail
            open_conflicts.append(current)
    session.flush()
    _hold_copies_of_reported_originals(session, stops, open_conflicts, now)
    return open_conflicts


def _write_statuses(session: Session, statuses: dict[Stop, StopStatus]) -> None:
    """Store derived statuses with one Core executemany, not the ORM's flush.

    An end-of-shift batch changes the status of every stop it touches; the unit of
    work would diff each object to write the same UPDATE 150 times. The objects are
    told the values as committed, so the flush that follows has nothing left to write
    for them and readers in this transaction see the new status.
    """
    if not statuses:
        return
    at = utcnow()
    session.execute(
        update(STOP)
        .where(STOP.c.id == bindparam("stop_id"))
        .values(status=bindparam("new_status"), updated_at=at),
        [{"stop_id": stop.id, "new_status": status} for stop, status in statuses.items()],
    )
    for stop, status in statuses.items():
        set_committed_value(stop, "status", status)
        set_committed_value(stop, "updated_at", at)


def _hold_copies_of_reported_originals(
    session: Session, stops: list[Stop], open_conflicts: list[Conflict], now: datetime
) -> None:
    """A report arrived for an attempt back office had already re-planned: until
    someone decides, the copy is withdrawn from every driver, so the parcel is not
    attempted twice."""
    reported = {c.stop_id for c in open_conflicts if c.kind == REPORTED_AFTER_REPLAN}
    copy_ids = [s.replanned_as_id for s in stops if s.id in reported and s.replanned_as_id]
    if not copy_ids:
        return
    for copy in changes.lock_stops(session, copy_ids):
        if copy.held_at is None and copy.cancelled_at is None:
            copy.held_at = now
            copy.version += 1
            changes.record_stop_change(session, copy)
