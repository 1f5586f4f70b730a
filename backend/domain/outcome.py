"""Deriving a stop's status from the plan and every report, and naming disagreements.

This is the rule that lets the server keep *every* report and still give each stop
one status. It is a pure function of the plan facts and the **set** of reports: the
order reports arrived in never matters, so any replay or reordering of sync batches
ends in the same status and the same conflicts.

Status, first rule that applies:

1. Any ``delivered`` report: the stop was delivered. The delivery the status rests on
   (the *winner*) is the earliest by ``(hlc, event id)``. The status reads
   ``delivered`` once every file the winner references has arrived and verified,
   ``evidence_pending`` until then. A delivery is never undone by a later failure
   report: a handed-over parcel stays handed over.
2. Any ``failed`` report: ``failed``.
3. The plan cancelled the stop: ``cancelled``.
4. Any ``arrived`` report: ``arrived``; otherwise ``pending``.

Disagreements, at most one finding per kind per stop, listing every report involved:

- ``delivered_after_cancel``: deliveries of a stop the plan cancelled.
- ``reported_after_replan``: outcome reports that reached the server after back office
  rejected the stop's attempt and planned another (the copy waits until someone
  decides, so the parcel is not attempted twice).
- ``reported_by_unassigned_driver``: outcome reports by a driver who no longer holds
  the stop (it was reassigned or unassigned after the version they saw).
- ``conflicting_outcomes``: two or more deliveries, or a delivery and a failure from
  different devices.
- ``stale_base_version``: outcome reports recorded against a version older than the
  stop's last door-relevant plan change (address, location, window, recipient,
  policy), when no finding above already covers them.
- ``clock_skew``: reports from a device whose clock was more than the skew limit
  (15 minutes) away from the server's when it synced, and reports recorded (by the
  device's clock, corrected by its measured skew when known) more than the tolerance
  (5 minutes) after the server received them: the future is not a time anything
  happened at the door.
- ``backdated``: reports recorded more than the tolerance before the device last sent
  every event it held (``outbox_drained``): recorded then, they would have come with
  that request. The server's clock is the witness, not the device's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.stops import StopStatus

CLOCK_SKEW_LIMIT_MS = 15 * 60 * 1000
# Slack for the bounds the server itself witnessed: requests in flight, slow links.
WITNESS_TOLERANCE = timedelta(minutes=5)


class ConflictKind(enum.StrEnum):
    DELIVERED_AFTER_CANCEL = "delivered_after_cancel"
    REPORTED_AFTER_REPLAN = "reported_after_replan"
    REPORTED_BY_UNASSIGNED_DRIVER = "reported_by_unassigned_driver"
    CONFLICTING_OUTCOMES = "conflicting_outcomes"
    STALE_BASE_VERSION = "stale_base_version"
    CLOCK_SKEW = "clock_skew"
    BACKDATED = "backdated"


@dataclass(frozen=True)
class PlanFacts:
    """What the plan says about the stop now."""

    cancelled: bool
    current_driver_id: int | None
    # The version at which a door-relevant field (address, location, window,
    # recipient, proof policy, geofence) last changed.
    material_version: int
    # When back office rejected this attempt and planned another, if it did.
    replanned_at: datetime | None = None


@dataclass(frozen=True)
class Report:
    """One accepted door event, reduced to what the rules need."""

    event_id: str
    type: str  # an EventType value
    hlc: str  # canonical HLC string: string order is clock order
    device_id: str
    driver_id: int
    base_version: int
    evidence_complete: bool = True
    clock_skew_ms: int | None = None
    # When the server received it (its own clock, not the device's).
    received_at: datetime | None = None
    # When the device says it happened (its own clock).
    recorded_at: datetime | None = None
    # When the device had last sent everything it held before this report arrived.
    not_before: datetime | None = None

    @property
    def is_outcome(self) -> bool:
        return self.type in ("delivered", "failed")

    @property
    def order_key(self) -> tuple[str, str]:
        return (self.hlc, self.event_id)

    @property
    def recorded_by_server_clock(self) -> datetime | None:
        """The recorded time corrected by the device's measured skew, when known."""
        if self.recorded_at is None:
            return None
        return self.recorded_at - timedelta(milliseconds=self.clock_skew_ms or 0)

    @property
    def from_the_future(self) -> bool:
        recorded = self.recorded_by_server_clock
        return (
            recorded is not None
            and self.received_at is not None
            and recorded > self.received_at + WITNESS_TOLERANCE
        )

    @property
    def backdated(self) -> bool:
        recorded = self.recorded_by_server_clock
        return (
            recorded is not None
            and self.not_before is not None
            and recorded < self.not_before - WITNESS_TOLERANCE
        )


@dataclass(frozen=True)
class ConflictFinding:
    kind: ConflictKind
    event_ids: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Derivation:
    status: StopStatus
    winning_event_id: str | None
    findings: tuple[ConflictFinding, ...]


def derive_stop(plan: PlanFacts, reports: Iterable[Report]) -> Derivation:
    """Status and conflicts for a stop; depends only on the set of ``reports``."""
    unique = {r.event_id: r for r in reports}
    ordered = sorted(unique.values(), key=lambda r: r.order_key)
    deliveries = [r for r in ordered if r.type == "delivered"]
    failures = [r for r in ordered if r.type == "failed"]
    status, winner = _status(plan, ordered, deliveries, failures)
    return Derivation(status, winner, tuple(_findings(plan, ordered, deliveries, failures)))


def _status(
    plan: PlanFacts, ordered: list[Report], deliveries: list[Report], failures: list[Report]
) -> tuple[StopStatus, str | None]:
    if deliveries:
        winner = deliveries[0]
        status = StopStatus.DELIVERED if winner.evidence_complete else StopStatus.EVIDENCE_PENDING
        return status, winner.event_id
    if failures:
        return StopStatus.FAILED, failures[-1].event_id
    if plan.cancelled:
        return StopStatus.CANCELLED, None
    if any(r.type == "arrived" for r in ordered):
        return StopStatus.ARRIVED, None
    return StopStatus.PENDING, None


def _ids(reports: Iterable[Report]) -> tuple[str, ...]:
    return tuple(sorted(r.event_id for r in reports))


def _findings(
    plan: PlanFacts, ordered: list[Report], deliveries: list[Report], failures: list[Report]
) -> list[ConflictFinding]:
    findings: list[ConflictFinding] = []
    covered: set[str] = set()
    outcomes = [r for r in ordered if r.is_outcome]

    if plan.cancelled and deliveries:
        findings.append(
            ConflictFinding(
                ConflictKind.DELIVERED_AFTER_CANCEL,
                _ids(deliveries),
                f"{len(deliveries)} delivery report(s) for a stop the plan cancelled; "
                "the evidence is kept and the stop reads delivered",
            )
        )
        covered.update(r.event_id for r in deliveries)

    replanned_at = plan.replanned_at
    late = [
        r
        for r in outcomes
        if replanned_at is not None and r.received_at is not None and r.received_at > replanned_at
    ]
    if late:
        findings.append(
            ConflictFinding(
                ConflictKind.REPORTED_AFTER_REPLAN,
                _ids(late),
                f"{len(late)} outcome report(s) arrived after this attempt was rejected and "
                "re-planned; the copy is held until back office keeps or cancels it",
            )
        )
        covered.update(r.event_id for r in late)

    unassigned = [r for r in outcomes if r.driver_id != plan.current_driver_id]
    if unassigned:
        findings.append(
            ConflictFinding(
                ConflictKind.REPORTED_BY_UNASSIGNED_DRIVER,
                _ids(unassigned),
                "outcome reported by a driver the stop was taken from after they saw it",
            )
        )
        covered.update(r.event_id for r in unassigned)

    devices_delivering = {r.device_id for r in deliveries}
    failing_elsewhere = [r for r in failures if r.device_id not in devices_delivering]
    if len(deliveries) > 1 or (deliveries and failing_elsewhere):
        involved = deliveries + failing_elsewhere
        findings.append(
            ConflictFinding(
                ConflictKind.CONFLICTING_OUTCOMES,
                _ids(involved),
                f"{len(deliveries)} delivery and {len(failing_elsewhere)} failure report(s) "
                "disagree about this stop",
            )
        )
        covered.update(r.event_id for r in involved)

    stale = [
        r for r in outcomes if r.base_version < plan.material_version and r.event_id not in covered
    ]
    if stale:
        findings.append(
            ConflictFinding(
                ConflictKind.STALE_BASE_VERSION,
                _ids(stale),
                f"outcome recorded against stop version {min(r.base_version for r in stale)}; "
                f"the address, window or policy changed at version {plan.material_version}",
            )
        )

    skewed = [
        r
        for r in ordered
        if r.clock_skew_ms is not None and abs(r.clock_skew_ms) > CLOCK_SKEW_LIMIT_MS
    ]
    future = [r for r in ordered if r.from_the_future and r not in skewed]
    if skewed or future:
        findings.append(
            ConflictFinding(
                ConflictKind.CLOCK_SKEW, _ids(skewed + future), _skew_detail(skewed, future)
            )
        )

    backdated = [r for r in ordered if r.backdated]
    if backdated:
        first = backdated[0]
        findings.append(
            ConflictFinding(
                ConflictKind.BACKDATED,
                _ids(backdated),
                f"recorded at {_utc(first.recorded_at)} by the device, yet at "
                f"{_utc(first.not_before)} (server time) the device had sent everything it "
                "held: the recorded time is earlier than the server saw possible",
            )
        )
    return findings


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "?"


def _skew_detail(skewed: list[Report], future: list[Report]) -> str:
    parts = []
    if skewed:
        worst = max(abs(r.clock_skew_ms or 0) for r in skewed)
        parts.append(
            f"device clock up to {worst // 60000} min off server time; "
            "times recorded by the device are not trustworthy"
        )
    if future:
        first = future[0]
        parts.append(
            f"recorded at {_utc(first.recorded_at)} by the device but received at "
            f"{_utc(first.received_at)}: a time in the future"
        )
    return "; ".join(parts)
