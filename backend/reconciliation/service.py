"""Gathering each stop's facts for the pure rules in ``backend.domain.reconcile``,
recording decisions, and summarising the day."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.tokens import Principal
from backend.db.models import (
    Conflict,
    DoorEventRow,
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
    StopException,
    StopFacts,
    stop_exceptions,
)
from backend.domain.stops import ProofPolicy, StopStatus
from backend.errors import ApiError, not_found
from backend.sync.changes import lock_plan
from backend.sync.derive import derive_many

ACCEPT, REJECT, ANNOTATE = "accept", "reject", "annotate"


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


def _geo_outcome(row: DoorEventRow, stop: Stop, threshold: int) -> str:
    geo = row.payload.get("geo")
    fix = GeoFix(geo["lat"], geo["lon"], geo["accuracy_m"]) if geo else None
    return check_geofence(fix, stop.lat, stop.lon, stop.geofence, threshold).outcome.value


def review_day(
    session: Session, service_date: date, driver: str | None, threshold_m: int
) -> list[StopReview]:
    """Every stop of the day with its outcome, exceptions and decisions so far."""
    query = (
        select(Stop, User.username)
        .outerjoin(Manifest, Manifest.id == Stop.manifest_id)
        .outerjoin(User, User.id == Manifest.driver_id)
        .where(Stop.service_date == service_date)
        .order_by(User.username.asc().nulls_last(), Stop.sequence, Stop.id)
    )
    if driver is not None:
        query = query.where(User.username == driver)
    rows = session.execute(query).all()
    stops = [stop for stop, _ in rows]
    ids = [s.id for s in stops]
    if not ids:
        return []
    derivations = derive_many(session, stops)
    events = {
        r.event_id: r
        for r in session.scalars(select(DoorEventRow).where(DoorEventRow.stop_id.in_(ids)))
    }
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
    reviews = []
    for stop, username in rows:
        winner = derivations[stop.id].winning_event_id
        delivery = None
        if winner is not None and winner in proofs:
            proof, event = proofs[winner], events[winner]
            kinds = Counter(ref["kind"] for ref in event.evidence)
            delivery = DeliveryFacts(
                recorded_at=event.recorded_at,
                signatures=kinds["signature"],
                photos=kinds["photo"],
                age_verified=event.payload.get("age_verified"),
                scanned_barcodes=frozenset(event.payload.get("scanned_barcodes") or ()),
                geo_outcome=proof.geo_check["outcome"],
                distance_to_zone_m=proof.geo_check.get("distance_to_zone_m"),
            )
        failures = [
            FailureFacts(e.payload.get("reason", ""), _geo_outcome(e, stop, threshold_m))
            for e in events.values()
            if e.stop_id == stop.id and e.type == "failed"
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


def decision_dict(decision: ExceptionDecision) -> dict[str, Any]:
    return {
        "kind": decision.kind,
        "decision": decision.decision,
        "note": decision.note,
        "user_id": decision.user_id,
        "replanned_stop_id": decision.replanned_stop_id,
        "at": decision.created_at.isoformat().replace("+00:00", "Z"),
    }


def decide(
    session: Session,
    principal: Principal,
    stop_id: int,
    kind: str,
    decision: str,
    note: str,
    threshold_m: int,
) -> ExceptionDecision:
    """Record a decision on one open exception of a stop (with the audit trail)."""
    begin_write(session)
    lock_plan(session, principal.org_id)
    stop = session.get(Stop, stop_id)
    if stop is None:
        raise not_found("stop")
    [review] = [
        r for r in review_day(session, stop.service_date, None, threshold_m) if r.stop.id == stop_id
    ]
    if kind not in {e.kind.value for e in review.open_exceptions}:
        raise ApiError(409, "exception_not_open", f"the stop has no open {kind} exception")
    if decision == REJECT and not note.strip():
        raise ApiError(
            422,
            "validation_error",
            "say why the proof is rejected",
            errors={"note": ["required when rejecting"]},
        )
    row = ExceptionDecision(
        org_id=stop.org_id,
        stop_id=stop.id,
        kind=kind,
        decision=decision,
        note=note,
        user_id=principal.user_id,
    )
    if decision == REJECT:
        row.replanned_stop_id = _replan(session, stop).id
    if decision in (ACCEPT, REJECT):
        _resolve_conflicts(session, stop, kind, principal, note)
    session.add(row)
    session.commit()
    return row


def _conflict_matches(exception_kind: str, conflict_kind: str) -> bool:
    """Which open conflicts a decision on ``exception_kind`` settles."""
    own = CONFLICTS_WITH_OWN_KIND.get(conflict_kind)
    if own is not None:
        return own.value == exception_kind
    return exception_kind == ExceptionKind.OPEN_CONFLICT.value


def _resolve_conflicts(
    session: Session, stop: Stop, kind: str, principal: Principal, note: str
) -> None:
    for conflict in session.scalars(
        select(Conflict).where(Conflict.stop_id == stop.id, Conflict.status == "open")
    ):
        if _conflict_matches(kind, conflict.kind):
            conflict.status = "resolved"
            conflict.resolved_at = datetime.now(UTC)
            conflict.resolved_by = principal.user_id
            conflict.resolution_note = note


def _replan(session: Session, stop: Stop) -> Stop:
    """A new, unassigned stop for the next day: the same order, another attempt.

    The original stop and every report on it stay as they are.
    """
    attempts = (
        session.scalar(
            select(func.count())
            .select_from(Stop)
            .where(Stop.order_number.like(f"{stop.order_number}-R%"))
        )
        or 0
    )
    clone = Stop(
        org_id=stop.org_id,
        service_date=stop.service_date + timedelta(days=1),
        order_number=f"{stop.order_number}-R{attempts + 1}",
        depot_id=stop.depot_id,
        address=stop.address,
        lat=stop.lat,
        lon=stop.lon,
        geofence=stop.geofence,
        window_start=stop.window_start + timedelta(days=1) if stop.window_start else None,
        window_end=stop.window_end + timedelta(days=1) if stop.window_end else None,
        recipient_name=stop.recipient_name,
        recipient_phone=stop.recipient_phone,
        instructions=stop.instructions,
        proof_policy=dict(stop.proof_policy),
    )
    session.add(clone)
    session.flush()
    for barcode, description in session.execute(
        select(Parcel.barcode, Parcel.description).where(Parcel.stop_id == stop.id)
    ):
        session.add(
            Parcel(org_id=stop.org_id, stop_id=clone.id, barcode=barcode, description=description)
        )
    return clone


SUMMARY_COLUMNS = (
    "driver",
    "stops",
    "delivered",
    "failed",
    "pending",
    "cancelled",
    "open_exceptions",
    "first_attempt_success_rate",
)


def summarise(reviews: list[StopReview]) -> list[dict[str, Any]]:
    """Per driver, then the depot total ("*"), for the end-of-day report."""
    groups: dict[str, list[StopReview]] = defaultdict(list)
    for review in reviews:
        groups[review.driver or "(unassigned)"].append(review)
        groups["*"].append(review)
    rows = []
    for name in sorted(groups, key=lambda n: (n == "*", n)):
        items = groups[name]
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
        rows.append(
            {
                "driver": name,
                "stops": len(items),
                "delivered": delivered,
                "failed": statuses[StopStatus.FAILED],
                "pending": statuses[StopStatus.PENDING] + statuses[StopStatus.ARRIVED],
                "cancelled": statuses[StopStatus.CANCELLED],
                "open_exceptions": sum(len(r.open_exceptions) for r in items),
                "first_attempt_success_rate": round(first_time / attempted, 3)
                if attempted
                else None,
            }
        )
    return rows


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
