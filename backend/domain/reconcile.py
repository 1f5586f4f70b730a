"""End-of-day reconciliation: which stops need a person's eyes, and why.

A pure function of one stop's facts (its plan, the delivery its status rests on, its
failure reports, its open conflicts) returns the stop's exceptions. Each has a stable
``kind`` for the queue and a sentence for the person clearing it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from backend.domain.stops import ProofPolicy, StopStatus


class ExceptionKind(enum.StrEnum):
    NO_OUTCOME = "no_outcome"
    EVIDENCE_PENDING = "evidence_pending"
    EVIDENCE_INVALID = "evidence_invalid"
    POLICY_UNMET = "policy_unmet"
    OUTSIDE_GEOFENCE = "outside_geofence"
    GEO_UNCERTAIN = "geo_uncertain"
    NO_GEO_FIX = "no_geo_fix"
    OUTSIDE_TIME_WINDOW = "outside_time_window"
    FAILURE_UNVERIFIED = "failure_unverified"
    OPEN_CONFLICT = "open_conflict"
    CLOCK_SKEW = "clock_skew"
    BACKDATED = "backdated"
    DELIVERED_AFTER_CANCEL = "delivered_after_cancel"
    REPORTED_AFTER_REPLAN = "reported_after_replan"


class Decision(enum.StrEnum):
    """What back office says of an exception."""

    ACCEPT = "accept"  # the proof stands as it is; the exception is cleared
    REJECT = "reject"  # the proof does not stand; the stop is planned again
    ANNOTATE = "annotate"  # a note for the record; the exception stays open

    @property
    def clears(self) -> bool:
        return self is not Decision.ANNOTATE


# Conflict kinds that have their own exception kind rather than "open_conflict".
CONFLICTS_WITH_OWN_KIND = {
    "clock_skew": ExceptionKind.CLOCK_SKEW,
    "backdated": ExceptionKind.BACKDATED,
    "delivered_after_cancel": ExceptionKind.DELIVERED_AFTER_CANCEL,
    "reported_after_replan": ExceptionKind.REPORTED_AFTER_REPLAN,
}


@dataclass(frozen=True)
class InvalidFile:
    """A file the delivery cites whose bytes are not the image they were declared as."""

    kind: str
    sha256: str
    reason: str


@dataclass(frozen=True)
class DeliveryFacts:
    recorded_at: datetime
    # Only files that decoded as their declared type (or are still uploading) count.
    signatures: int
    photos: int
    age_verified: bool | None
    scanned_barcodes: frozenset[str]
    geo_outcome: str  # a GeoOutcome value
    distance_to_zone_m: float | None
    invalid_files: Sequence[InvalidFile] = ()


@dataclass(frozen=True)
class FailureFacts:
    reason: str
    geo_outcome: str


@dataclass(frozen=True)
class StopFacts:
    status: StopStatus
    policy: ProofPolicy
    window: tuple[datetime, datetime] | None
    parcels: frozenset[str]
    delivery: DeliveryFacts | None = None
    failures: Sequence[FailureFacts] = ()
    open_conflicts: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class StopException:
    kind: ExceptionKind
    detail: str


def policy_gaps(policy: ProofPolicy, delivery: DeliveryFacts, parcels: frozenset[str]) -> list[str]:
    """What the delivery lacks that the stop's proof policy asks for."""
    gaps = []
    if policy.signature and delivery.signatures == 0:
        gaps.append("no signature")
    if delivery.photos < policy.min_photos:
        gaps.append(f"{delivery.photos} of {policy.min_photos} photo(s)")
    if policy.age_check and delivery.age_verified is not True:
        gaps.append("age not checked")
    if policy.parcel_scan and not parcels <= delivery.scanned_barcodes:
        gaps.append(f"{len(parcels - delivery.scanned_barcodes)} parcel(s) not scanned")
    return gaps


def stop_exceptions(facts: StopFacts) -> list[StopException]:
    found: list[StopException] = []
    if facts.status in (StopStatus.PENDING, StopStatus.ARRIVED):
        found.append(StopException(ExceptionKind.NO_OUTCOME, "no delivery or failure reported"))
    if facts.status is StopStatus.EVIDENCE_PENDING:
        found.append(
            StopException(
                ExceptionKind.EVIDENCE_PENDING, "files of the delivery are still uploading"
            )
        )
    delivery = facts.delivery
    if delivery is not None:
        if delivery.invalid_files:
            found.append(
                StopException(
                    ExceptionKind.EVIDENCE_INVALID,
                    "; ".join(
                        f"{f.kind} {f.sha256[:12]} is not a valid image ({f.reason})"
                        for f in delivery.invalid_files
                    ),
                )
            )
        gaps = policy_gaps(facts.policy, delivery, facts.parcels)
        if gaps:
            found.append(
                StopException(ExceptionKind.POLICY_UNMET, "proof lacks: " + ", ".join(gaps))
            )
        found.extend(_geo_exceptions(delivery.geo_outcome, delivery.distance_to_zone_m))
        if (
            facts.window is not None
            and not facts.window[0] <= delivery.recorded_at <= facts.window[1]
        ):
            found.append(
                StopException(
                    ExceptionKind.OUTSIDE_TIME_WINDOW,
                    f"delivered at {delivery.recorded_at:%H:%M} UTC, window "
                    f"{facts.window[0]:%H:%M}-{facts.window[1]:%H:%M} UTC",
                )
            )
    if facts.status is StopStatus.FAILED:
        unproven = [f for f in facts.failures if f.geo_outcome != "inside"]
        if unproven and len(unproven) == len(facts.failures):
            found.append(
                StopException(
                    ExceptionKind.FAILURE_UNVERIFIED,
                    f"failure ({unproven[-1].reason}) not recorded at the address",
                )
            )
    for kind in sorted(set(facts.open_conflicts)):
        own = CONFLICTS_WITH_OWN_KIND.get(kind)
        if own is not None:
            found.append(StopException(own, f"open conflict: {kind.replace('_', ' ')}"))
        else:
            found.append(
                StopException(
                    ExceptionKind.OPEN_CONFLICT, f"open conflict: {kind.replace('_', ' ')}"
                )
            )
    return _dedupe(found)


def _geo_exceptions(outcome: str, distance: float | None) -> list[StopException]:
    if outcome == "outside":
        return [
            StopException(ExceptionKind.OUTSIDE_GEOFENCE, f"captured {distance or 0:.0f} m away")
        ]
    if outcome == "uncertain":
        return [StopException(ExceptionKind.GEO_UNCERTAIN, "the fix was too imprecise to tell")]
    if outcome == "no_fix":
        return [StopException(ExceptionKind.NO_GEO_FIX, "the device had no position")]
    return []


def _dedupe(found: list[StopException]) -> list[StopException]:
    seen: dict[ExceptionKind, StopException] = {}
    for item in found:
        if item.kind in seen:
            seen[item.kind] = StopException(item.kind, f"{seen[item.kind].detail}; {item.detail}")
        else:
            seen[item.kind] = item
    return list(seen.values())
