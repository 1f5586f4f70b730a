from __future__ import annotations

from datetime import UTC, datetime

from backend.domain.reconcile import (
    DeliveryFacts,
    ExceptionKind,
    FailureFacts,
    StopFacts,
    stop_exceptions,
)
from backend.domain.stops import ProofPolicy, StopStatus

NOON = datetime(2026, 11, 24, 12, tzinfo=UTC)
WINDOW = (datetime(2026, 11, 24, 9, tzinfo=UTC), datetime(2026, 11, 24, 17, tzinfo=UTC))


def delivery(**changes: object) -> DeliveryFacts:
    values: dict[str, object] = {
        "recorded_at": NOON,
        "signatures": 1,
        "photos": 1,
        "age_verified": None,
        "scanned_barcodes": frozenset({"P1"}),
        "geo_outcome": "inside",
        "distance_to_zone_m": 3.0,
    }
    values.update(changes)
    return DeliveryFacts(**values)  # type: ignore[arg-type]


def kinds(facts: StopFacts) -> set[ExceptionKind]:
    return {e.kind for e in stop_exceptions(facts)}


def facts(**changes: object) -> StopFacts:
    values: dict[str, object] = {
        "status": StopStatus.DELIVERED,
        "policy": ProofPolicy(signature=True),
        "window": WINDOW,
        "parcels": frozenset({"P1"}),
        "delivery": delivery(),
    }
    values.update(changes)
    return StopFacts(**values)  # type: ignore[arg-type]


def test_a_clean_delivery_has_no_exceptions() -> None:
    assert kinds(facts()) == set()


def test_missing_proof_items_are_named() -> None:
    policy = ProofPolicy(signature=True, photo=True, min_photos=2, age_check=True, parcel_scan=True)
    found = stop_exceptions(
        facts(
            policy=policy,
            parcels=frozenset({"P1", "P2"}),
            delivery=delivery(signatures=0, photos=1),
        )
    )
    [unmet] = found
    assert unmet.kind is ExceptionKind.POLICY_UNMET
    assert unmet.detail == (
        "proof lacks: no signature, 1 of 2 photo(s), age not checked, 1 parcel(s) not scanned"
    )


def test_geo_and_time_problems_are_exceptions_not_errors() -> None:
    late = delivery(
        recorded_at=datetime(2026, 11, 24, 18, tzinfo=UTC),
        geo_outcome="outside",
        distance_to_zone_m=420.0,
    )
    assert kinds(facts(delivery=late)) == {
        ExceptionKind.OUTSIDE_GEOFENCE,
        ExceptionKind.OUTSIDE_TIME_WINDOW,
    }
    assert kinds(facts(delivery=delivery(geo_outcome="no_fix"))) == {ExceptionKind.NO_GEO_FIX}


def test_a_failure_never_recorded_at_the_address_is_unverified() -> None:
    unverified = facts(
        status=StopStatus.FAILED,
        delivery=None,
        failures=[FailureFacts("recipient_absent", "no_fix")],
    )
    assert kinds(unverified) == {ExceptionKind.FAILURE_UNVERIFIED}
    verified = facts(
        status=StopStatus.FAILED,
        delivery=None,
        failures=[FailureFacts("recipient_absent", "inside")],
    )
    assert kinds(verified) == set()


def test_open_conflicts_map_to_their_exception_kinds() -> None:
    found = kinds(
        facts(open_conflicts=["clock_skew", "conflicting_outcomes", "stale_base_version"])
    )
    assert found == {ExceptionKind.CLOCK_SKEW, ExceptionKind.OPEN_CONFLICT}


def test_unfinished_stops_have_no_outcome() -> None:
    assert kinds(facts(status=StopStatus.ARRIVED, delivery=None)) == {ExceptionKind.NO_OUTCOME}
    assert kinds(facts(status=StopStatus.EVIDENCE_PENDING)) == {ExceptionKind.EVIDENCE_PENDING}
