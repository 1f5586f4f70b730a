"""Each stop's facts gathered for the pure rules in ``backend.domain.reconcile``: the
day's review, stop by stop."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin.settings import org_settings
from backend.db.models import (
    Conflict,
    DoorEventRow,
    EvidenceFile,
    ExceptionDecision,
    Manifest,
    Parcel,
    Proof,
    Stop,
    User,
)
from backend.domain.clock import utc_text
from backend.domain.geo import GeoFix, check_geofence
from backend.domain.reconcile import (
    Decision,
    DeliveryFacts,
    ExceptionKind,
    FailureFacts,
    InvalidFile,
    StopException,
    StopFacts,
    stop_exceptions,
)
from backend.domain.stops import ProofPolicy, StopStatus
from backend.sync.derive import derive_many


@dataclass
class StopReview:
    stop: Stop
    driver: str | None
    exceptions: list[StopException]
    cleared: set[str]
    # Every decision back office recorded on the stop's exceptions, oldest first.
    decisions: list[dict[str, Any]]
    had_failure: bool = False

    @property
    def open_exceptions(self) -> list[StopException]:
        return [e for e in self.exceptions if e.kind.value not in self.cleared]

    @property
    def proof_meets_policy(self) -> bool:
        """Delivered, with every file the policy asks for present and verified."""
        unmet = (ExceptionKind.POLICY_UNMET, ExceptionKind.EVIDENCE_PENDING)
        return self.stop.status == StopStatus.DELIVERED and not any(
            e.kind in unmet for e in self.exceptions
        )

    @property
    def replanned(self) -> bool:
        """Back office rolled the stop over to another attempt (a rejected exception)."""
        return any(decision["replanned_stop_id"] for decision in self.decisions)


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
    threshold_m = org_settings(session, stops[0].org_id).geofence_threshold_m
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
                cleared={d.kind for d in decisions[stop.id] if Decision(d.decision).clears},
                decisions=[decision_dict(d) for d in decisions[stop.id]],
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
        "at": utc_text(decision.created_at),
    }
