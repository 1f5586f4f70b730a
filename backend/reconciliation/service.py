"""Gathering each stop's facts for the pure rules in ``backend.domain.reconcile``,
recording decisions, and summarising the day."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import clock
from backend.auth.tokens import Principal
from backend.db.models import (
    Conflict,
    Depot,
    DoorEventRow,
    EvidenceFile,
    ExceptionDecision,
    Manifest,
    Parcel,
    Proof,
    Stop,
    User,
)
from backend.db.session import begin_write
from backend.domain.geo import GeoFix, check_geofence
from backend.domain.reconcile import (
    CONFLICTS_WITH_OWN_KIND,
    DeliveryFacts,
    ExceptionKind,
    FailureFacts,
    InvalidFile,
    StopException,
    StopFacts,
    stop_exceptions,
)
from backend.domain.stops import ProofPolicy, StopStatus
from backend.errors import ApiError, not_found
from backend.planning.service import plan_next_attempts
from backend.sync.changes import lock_plan, record_status_changes, record_stop_change
from backend.sync.derive import derive_many
from backend.sync.seal import geofence_threshold

ACCEPT, REJECT, ANNOTATE = "accept", "reject", "annotate"
DECISIONS = (ACCEPT, REJECT, ANNOTATE)


@dataclass
class StopReview:
    stop: Stop
    driver: str | None
    exceptions: list[StopException]
    cleared: set[str]
    notes: list[dict[str, Any]]
    had_failure: bool = False

    @property
    def open_exceptions(self) -> list[StopException]:
        return [e for e in self.exceptions if e.kind.value not in self.cleared]

    @property
    def replanned(self) -> bool:
        """Back office rolled the stop over to another attempt (a rejected exception)."""
        return any(note["replanned_stop_id"] for note in self.notes)


def _geo_outcome(row: DoorEventRow, stop: Stop, threshold: int) -> str:
    geo = row.payload.get("geo")
    fix = GeoFix(geo["lat"], geo["lon"], geo["accuracy_m"]) if geo else None
    return check_geofence(fix, stop.lat, stop.lon, stop.geofence, threshold).outcome.value


def review_day(
    session: Session,
    service_date: date,
    driver: str | None,
    depot_id: int | None = None,
    stop_ids: Collection[int] | None = None,
) -> list[StopReview]:
    """Every stop of the day (of one driver, one depot, or just ``stop_ids``) with its
    outcome, exceptions and decisions so far."""
    query = (
        select(Stop, User.username)
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(Stop.service_date == service_date)
        .order_by(User.username.asc().nulls_last(), Stop.sequence, Stop.id)
    )
    if driver is not None:
        query = query.where(User.username == driver)
    if depot_id is not None:
        query = query.where(Stop.depot_id == depot_id)
    if stop_ids is not None:
        query = query.where(Stop.id.in_(list(stop_ids)))
    rows = session.execute(query).all()
    stops = [stop for stop, _ in rows]
    ids = [s.id for s in stops]
    if not ids:
        return []
    # Failures are checked against the same threshold their proofs were sealed with.
    threshold_m = geofence_threshold(session, stops[0].org_id)
    derivations = derive_many(session, stops)
    events: dict[str, DoorEventRow] = {}
    failed: dict[int, list[DoorEventRow]] = defaultdict(list)
    for row in session.scalars(select(DoorEventRow).where(DoorEventRow.stop_id.in_(ids))):
        events[row.event_id] = row
        if row.type == "failed":
            failed[row.stop_id].append(row)
    proofs = {p.event_id: p for p in session.scalars(select(Proof).where(Proof.stop_id.in_(ids)))}
    parcels: dict[int, set[str]] = defaultdict(set)
    for stop_id, barcode in session.execute(
        select(Parcel.stop_id, Parcel.barcode).where(Parcel.stop_id.in_(ids))
    ):
        parcels[stop_id].add(barcode)
    conflicts: dict[int, list[str]] = defaultdict(list)
    for conflict in session.scalars(
        select(Conflict).where(Conflict.stop_id.in_(ids), Conflict.status == "open")
    ):
        conflicts[conflict.stop_id].append(conflict.kind)
    decisions: dict[int, list[ExceptionDecision]] = defaultdict(list)
    for decision in session.scalars(
        select(ExceptionDecision)
        .where(ExceptionDecision.stop_id.in_(ids))
        .order_by(ExceptionDecision.id)
    ):
        decisions[decision.stop_id].append(decision)
    invalid = _invalid_files(
        session,
        {
            ref["sha256"]
            for stop in stops
            if (winner := derivations[stop.id].winning_event_id) in proofs
            for ref in events[winner].evidence
        },
    )
    reviews = []
    for stop, username in rows:
        winner = derivations[stop.id].winning_event_id
        delivery = None
        if winner is not None and winner in proofs:
            proof, event = proofs[winner], events[winner]
            refs = {ref["sha256"]: ref["kind"] for ref in event.evidence}
            kinds = Counter(ref["kind"] for ref in event.evidence if ref["sha256"] not in invalid)
            delivery = DeliveryFacts(
                recorded_at=event.recorded_at,
                signatures=kinds["signature"],
                photos=kinds["photo"],
                age_verified=event.payload.get("age_verified"),
                scanned_barcodes=frozenset(event.payload.get("scanned_barcodes") or ()),
                geo_outcome=proof.geo_check["outcome"],
                distance_to_zone_m=proof.geo_check.get("distance_to_zone_m"),
                invalid_files=[
                    InvalidFile(kind, sha, invalid[sha])
                    for sha, kind in sorted(refs.items())
                    if sha in invalid
                ],
            )
        failures = [
            FailureFacts(e.payload.get("reason", ""), _geo_outcome(e, stop, threshold_m))
            for e in failed[stop.id]
        ]
        window = (
            (stop.window_start, stop.window_end) if stop.window_start and stop.window_end else None
        )
        facts = StopFacts(
            status=stop.status,
            policy=ProofPolicy.from_dict(stop.proof_policy),
            window=window,
            parcels=frozenset(parcels[stop.id]),
            delivery=delivery,
            failures=failures,
            open_conflicts=conflicts[stop.id],
        )
        exceptions = (
            []
            if stop.status is StopStatus.CANCELLED and delivery is None
            else stop_exceptions(facts)
        )
        reviews.append(
            StopReview(
                stop=stop,
                driver=username,
                exceptions=exceptions,
                cleared={d.kind for d in decisions[stop.id] if d.decision in (ACCEPT, REJECT)},
                notes=[decision_dict(d) for d in decisions[stop.id]],
                had_failure=bool(failures),
            )
        )
    return reviews


def _invalid_files(session: Session, hashes: set[str]) -> dict[str, str]:
    """sha256 -> why the file is not the image it claims to be, for the invalid ones."""
    if not hashes:
        return {}
    rows = session.execute(
        select(EvidenceFile.sha256, EvidenceFile.invalid_reason).where(
            EvidenceFile.sha256.in_(hashes), EvidenceFile.invalid_reason.is_not(None)
        )
    )
    return {sha: reason for sha, reason in rows if reason is not None}


def decision_dict(decision: ExceptionDecision) -> dict[str, Any]:
    return {
        "stop_id": decision.stop_id,
        "kind": decision.kind,
        "decision": decision.decision,
        "note": decision.note,
        "user_id": decision.user_id,
        "replanned_stop_id": decision.replanned_stop_id,
        "at": decision.created_at.isoformat().replace("+00:00", "Z"),
    }


@dataclass(frozen=True)
class DecisionTarget:
    """One exception of one stop, as a decision names it."""

    stop_id: int
    kind: str


def decide(
    session: Session,
    principal: Principal,
    stop_id: int,
    kind: str,
    decision: str,
    note: str,
) -> ExceptionDecision:
    """Record a decision on one open exception of a stop (with the audit trail)."""
    [row] = decide_many(session, principal, [DecisionTarget(stop_id, kind)], decision, note)
    return row


def decide_many(
    session: Session,
    principal: Principal,
    targets: Sequence[DecisionTarget],
    decision: str,
    note: str,
) -> list[ExceptionDecision]:
    """Record one decision, with one note, on each of ``targets``: all or none.

    Every target must be an exception that is open right now; if any is not (another
    dispatcher cleared it a moment ago, or it never existed), nothing is recorded and
    the error names each one, so a bulk action never half-applies.
    """
    if decision == REJECT and not note.strip():
        raise ApiError(
            422,
            "validation_error",
            "say why the proof is rejected",
            errors={"note": ["required when rejecting"]},
        )
    unique = list(dict.fromkeys(targets))
    begin_write(session)
    lock_plan(session, principal.org_id)
    stops = {
        stop.id: stop
        for stop in session.scalars(select(Stop).where(Stop.id.in_({t.stop_id for t in unique})))
    }
    if any(t.stop_id not in stops for t in unique):
        raise not_found("stop")
    open_kinds: dict[int, set[str]] = {}
    for service_date in {stop.service_date for stop in stops.values()}:
        ids = [i for i, stop in stops.items() if stop.service_date == service_date]
        for review in review_day(session, service_date, None, stop_ids=ids):
            open_kinds[review.stop.id] = {e.kind.value for e in review.open_exceptions}
    closed = [t for t in unique if t.kind not in open_kinds.get(t.stop_id, set())]
    if closed:
        first = closed[0]
        raise ApiError(
            409,
            "exception_not_open",
            f"the stop has no open {first.kind} exception"
            if len(unique) == 1
            else f"{len(closed)} of the {len(unique)} exceptions are no longer open; "
            "nothing was recorded",
            errors={"not_open": [f"{t.stop_id}:{t.kind}" for t in closed]}
            if len(unique) > 1
            else None,
        )
    rows = []
    # A stop is re-planned once, however many of its exceptions are rejected.
    replanned: dict[int, int] = {
        stop_id: clone_id
        for stop_id, clone_id in session.execute(
            select(ExceptionDecision.stop_id, ExceptionDecision.replanned_stop_id).where(
                ExceptionDecision.stop_id.in_(list(stops)),
                ExceptionDecision.replanned_stop_id.is_not(None),
            )
        )
        if clone_id is not None
    }
    if decision == REJECT:
        to_replan = [stops[i] for i in dict.fromkeys(t.stop_id for t in unique)]
        replanned.update(_replan(session, [s for s in to_replan if s.id not in replanned]))
    if decision in (ACCEPT, REJECT):
        _resolve_conflicts(session, unique, principal, note)
        reported_late = [
            stops[t.stop_id] for t in unique if t.kind == ExceptionKind.REPORTED_AFTER_REPLAN
        ]
        _settle_held_copies(session, reported_late, keep=decision == REJECT, note=note)
    for target in unique:
        row = ExceptionDecision(
            org_id=principal.org_id,
            stop_id=target.stop_id,
            kind=target.kind,
            decision=decision,
            note=note,
            user_id=principal.user_id,
            replanned_stop_id=replanned.get(target.stop_id) if decision == REJECT else None,
        )
        session.add(row)
        rows.append(row)
    session.commit()
    return rows


def _conflict_matches(exception_kind: str, conflict_kind: str) -> bool:
    """Which open conflicts a decision on ``exception_kind`` settles."""
    own = CONFLICTS_WITH_OWN_KIND.get(conflict_kind)
    if own is not None:
        return own.value == exception_kind
    return exception_kind == ExceptionKind.OPEN_CONFLICT.value


def _resolve_conflicts(
    session: Session, targets: Sequence[DecisionTarget], principal: Principal, note: str
) -> None:
    """Resolve the open conflicts behind the decided exceptions, in one query."""
    kinds: dict[int, set[str]] = defaultdict(set)
    for target in targets:
        kinds[target.stop_id].add(target.kind)
    now = clock.now()
    for conflict in session.scalars(
        select(Conflict).where(Conflict.stop_id.in_(list(kinds)), Conflict.status == "open")
    ):
        if any(_conflict_matches(kind, conflict.kind) for kind in kinds[conflict.stop_id]):
            conflict.status = "resolved"
            conflict.resolved_at = now
            conflict.resolved_by = principal.user_id
            conflict.resolution_note = note


def _settle_held_copies(
    session: Session, originals: Sequence[Stop], *, keep: bool, note: str
) -> None:
    """Back office decided on reports that came in after these stops were re-planned.

    Rejecting the report keeps the re-planned copy: it is released to be planned.
    Accepting it means the parcel was handled after all: the copy is cancelled.
    Either way the copy changes as a plan change, published to any driver holding it.
    """
    copy_ids = [o.replanned_as_id for o in originals if o.replanned_as_id is not None]
    if not copy_ids:
        return
    now = clock.now()
    copies = list(session.scalars(select(Stop).where(Stop.id.in_(copy_ids))))
    for copy in copies:
        copy.held_at = None
        copy.version += 1
        if not keep:
            copy.cancelled_at = now
            copy.cancel_reason = f"the earlier attempt was reported on after all: {note}"[:500]
            copy.material_version = copy.version
    derivations = derive_many(session, copies)
    for copy in copies:
        copy.status = derivations[copy.id].status
        record_stop_change(session, copy)


def _replan(session: Session, originals: Sequence[Stop]) -> dict[int, int]:
    """Another attempt of each original, the next day, for dispatch to assign.

    Every report on the originals stays as it is; each original is withdrawn from its
    driver (it stays on the manifest as history), so the parcel is never attempted on
    both. Returns original stop id -> new stop id.
    """
    attempts = plan_next_attempts(
        session, originals, {stop.id: stop.service_date + timedelta(days=1) for stop in originals}
    )
    now = clock.now()
    for stop in originals:
        stop.replanned_at = now
        stop.replanned_as_id = attempts[stop.id]
        stop.version += 1
    record_status_changes(session, list(originals))  # a remove for each driver
    return attempts


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
    attempted = delivered + statuses[StopStatus.FAILED]
    # Delivered with no failed attempt before it.
    first_time = sum(
        1
        for r in items
        if r.stop.status in (StopStatus.DELIVERED, StopStatus.EVIDENCE_PENDING)
        and not r.had_failure
    )
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
        "first_attempt_success_rate": round(first_time / attempted, 3) if attempted else None,
    }


@dataclass(frozen=True)
class DriverProgress:
    """How far one driver is through the day, for the live view."""

    driver: str
    depot: str
    counts: dict[str, int]
    last_report_at: datetime | None
    next_stop: str | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.total - self.counts.get("pending", 0) - self.counts.get("arrived", 0)


def progress(session: Session, service_date: date, depot_id: int | None) -> list[DriverProgress]:
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
    next_stop: dict[str, str] = {}
    for username, address in session.execute(
        select(User.username, Stop.address)
        .join(Manifest, Manifest.id == Stop.manifest_id)
        .join(User, User.id == Manifest.driver_id)
        .where(*day, Stop.status == StopStatus.PENDING)
        .order_by(User.username, Stop.sequence.desc())
    ):
        next_stop[username] = address  # the last one written is the lowest sequence
    depots = depot_names(session)
    return [
        DriverProgress(
            driver=username,
            depot=depots.get(depot or 0, NO_DEPOT),
            counts=by_status,
            last_report_at=last_report.get(username),
            next_stop=next_stop.get(username),
        )
        for (username, depot), by_status in sorted(
            counts.items(), key=lambda kv: (kv[0][0] == UNASSIGNED, kv[0][0], kv[0][1] or 0)
        )
    ]


def summary_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "first_attempt_success_rate": ""
                if row["first_attempt_success_rate"] is None
                else row["first_attempt_success_rate"],
            }
        )
    return out.getvalue()
