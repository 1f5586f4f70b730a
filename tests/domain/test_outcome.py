"""The derivation rule: a pure function of the set of reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.domain.outcome import ConflictKind, PlanFacts, Report, derive_stop
from backend.domain.stops import StopStatus

PLAN = PlanFacts(cancelled=False, current_driver_id=1, material_version=1)


def report(
    event_id: str,
    type_: str,
    hlc: str,
    device: str = "d1",
    driver: int = 1,
    base: int = 1,
    complete: bool = True,
    skew: int | None = None,
) -> Report:
    return Report(event_id, type_, hlc, device, driver, base, complete, skew)


def kinds(derivation) -> set[ConflictKind]:  # type: ignore[no-untyped-def]
    return {f.kind for f in derivation.findings}


def test_no_reports_is_pending() -> None:
    assert derive_stop(PLAN, []).status is StopStatus.PENDING


def test_a_delivery_with_its_files_is_delivered() -> None:
    result = derive_stop(PLAN, [report("e1", "arrived", "1"), report("e2", "delivered", "2")])
    assert (result.status, result.winning_event_id) == (StopStatus.DELIVERED, "e2")


def test_a_delivery_missing_files_reads_evidence_pending() -> None:
    result = derive_stop(PLAN, [report("e1", "delivered", "1", complete=False)])
    assert result.status is StopStatus.EVIDENCE_PENDING


def test_a_later_failure_never_undoes_a_delivery() -> None:
    result = derive_stop(PLAN, [report("e1", "delivered", "1"), report("e2", "failed", "2")])
    assert result.status is StopStatus.DELIVERED
    assert kinds(result) == set()  # same device: a second attempt, not a disagreement


def test_a_failure_then_a_delivery_from_the_same_device_is_a_redelivery() -> None:
    result = derive_stop(PLAN, [report("e1", "failed", "1"), report("e2", "delivered", "2")])
    assert result.status is StopStatus.DELIVERED
    assert kinds(result) == set()


def test_different_devices_disagreeing_is_one_conflict_naming_both() -> None:
    result = derive_stop(PLAN, [report("e1", "delivered", "1"), report("e2", "failed", "2", "d2")])
    [finding] = result.findings
    assert (finding.kind, finding.event_ids) == (ConflictKind.CONFLICTING_OUTCOMES, ("e1", "e2"))


def test_a_cancelled_stop_reads_cancelled_until_a_delivery_arrives() -> None:
    cancelled = PlanFacts(cancelled=True, current_driver_id=1, material_version=2)
    assert derive_stop(cancelled, [report("e1", "arrived", "1")]).status is StopStatus.CANCELLED
    delivered = derive_stop(cancelled, [report("e2", "delivered", "2")])
    assert delivered.status is StopStatus.DELIVERED
    assert kinds(delivered) == {ConflictKind.DELIVERED_AFTER_CANCEL}


def test_a_report_by_a_driver_no_longer_holding_the_stop_is_flagged() -> None:
    moved = PlanFacts(cancelled=False, current_driver_id=2, material_version=1)
    result = derive_stop(moved, [report("e1", "failed", "1", driver=1)])
    assert kinds(result) == {ConflictKind.REPORTED_BY_UNASSIGNED_DRIVER}


def test_an_outcome_on_an_outdated_version_is_stale() -> None:
    changed = PlanFacts(cancelled=False, current_driver_id=1, material_version=3)
    result = derive_stop(changed, [report("e1", "failed", "1", base=2)])
    assert kinds(result) == {ConflictKind.STALE_BASE_VERSION}


def test_a_skewed_device_clock_is_flagged() -> None:
    result = derive_stop(PLAN, [report("e1", "arrived", "1", skew=20 * 60 * 1000)])
    assert kinds(result) == {ConflictKind.CLOCK_SKEW}


reports = st.lists(
    st.builds(
        report,
        event_id=st.uuids().map(str),
        type_=st.sampled_from(["arrived", "delivered", "failed", "note"]),
        hlc=st.integers(0, 50).map(lambda n: f"{n:015d}-000000-x"),
        device=st.sampled_from(["d1", "d2", "d3"]),
        driver=st.sampled_from([1, 2]),
        base=st.integers(1, 3),
        complete=st.booleans(),
        skew=st.none() | st.integers(-3_600_000, 3_600_000),
    ),
    max_size=8,
)
plans = st.builds(PlanFacts, st.booleans(), st.sampled_from([1, 2, None]), st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(plan=plans, items=reports, data=st.data())
def test_any_arrival_order_gives_the_same_derivation(plan, items, data) -> None:  # type: ignore[no-untyped-def]
    shuffled = data.draw(st.permutations(items))
    assert derive_stop(plan, items) == derive_stop(plan, shuffled)


@settings(max_examples=300, deadline=None)
@given(plan=plans, items=reports)
def test_each_kind_of_disagreement_is_reported_at_most_once(plan, items) -> None:  # type: ignore[no-untyped-def]
    found = [f.kind for f in derive_stop(plan, items).findings]
    assert len(found) == len(set(found))


@settings(max_examples=300, deadline=None)
@given(plan=plans, items=reports)
def test_every_finding_names_only_real_reports(plan, items) -> None:  # type: ignore[no-untyped-def]
    ids = {r.event_id for r in items}
    for finding in derive_stop(plan, items).findings:
        assert finding.event_ids
        assert set(finding.event_ids) <= ids


def test_only_reports_received_after_a_replan_are_raised_and_they_still_count() -> None:
    replanned_at = datetime(2026, 11, 25, 18, tzinfo=UTC)
    plan = replace(PLAN, replanned_at=replanned_at)
    before = replace(report("e1", "failed", "1"), received_at=replanned_at - timedelta(hours=1))
    after = replace(report("e2", "delivered", "2"), received_at=replanned_at + timedelta(hours=9))

    assert kinds(derive_stop(plan, [before])) == set()
    result = derive_stop(plan, [before, after])
    assert result.status is StopStatus.DELIVERED  # the evidence is kept and counts
    [finding] = result.findings
    assert (finding.kind, finding.event_ids) == (ConflictKind.REPORTED_AFTER_REPLAN, ("e2",))
