"""Plan and door disagree: every report is kept, the status follows the written rule,
and exactly one conflict is opened for back office."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Conflict, DoorEventRow, Stop
from backend.domain.clock import SetClock
from tests.conftest import World
from tests.sync import plan_ops
from tests.sync.helpers import T0, Device, png, ref


def _conflicts(session: Session, stop_id: int) -> list[tuple[str, list[str]]]:
    session.rollback()
    rows = session.scalars(select(Conflict).where(Conflict.stop_id == stop_id)).all()
    return sorted((c.kind, sorted(c.event_ids)) for c in rows if c.status == "open")


def _status(session: Session, stop_id: int) -> str:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop.status.value


def test_a_delivery_after_cancellation_is_kept_and_raises_a_conflict(
    device: Device, stops: list[int], session: Session
) -> None:
    plan_ops.cancel(session, stops[0])
    event = device.event(stops[0], base_version=1, evidence=[ref(png("sig"))])
    [result] = device.sync([event]).get_json()["results"]
    assert result["status"] == "conflict"
    assert result["code"] == "delivered_after_cancel"
    assert _status(session, stops[0]) == "evidence_pending"
    assert ("delivered_after_cancel", [event["id"]]) in _conflicts(session, stops[0])


def test_a_report_from_a_driver_the_stop_was_taken_from_is_accepted_with_a_conflict(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    plan_ops.reassign(session, stops[0], world.users["driver_b"])
    event = device.event(stops[0], "failed", base_version=1)
    [result] = device.sync([event]).get_json()["results"]
    assert (result["status"], result["code"]) == ("conflict", "reported_by_unassigned_driver")
    assert _status(session, stops[0]) == "failed"


def test_the_new_driver_can_report_on_the_version_they_were_given(
    device_b: Device, stops: list[int], session: Session, world: World
) -> None:
    plan_ops.reassign(session, stops[0], world.users["driver_b"])
    [result] = device_b.sync([device_b.event(stops[0], "arrived", base_version=2)]).get_json()[
        "results"
    ]
    assert result["status"] == "applied"
    [stale] = device_b.sync([device_b.event(stops[0], "arrived", base_version=1)]).get_json()[
        "results"
    ]
    assert stale["code"] == "stop_not_assigned"


def test_two_devices_with_different_outcomes_open_one_conflict(
    device: Device, device_b: Device, stops: list[int], session: Session, world: World
) -> None:
    delivered = device.event(stops[0], base_version=1)
    device.sync([delivered])
    plan_ops.reassign(session, stops[0], world.users["driver_b"])
    failed = device_b.event(stops[0], "failed", base_version=2)
    device_b.sync([failed])
    assert _status(session, stops[0]) == "delivered"
    kinds = dict(_conflicts(session, stops[0]))
    assert kinds["conflicting_outcomes"] == sorted([delivered["id"], failed["id"]])
    assert session.scalar(select(func.count()).select_from(DoorEventRow)) == 2


def test_a_conflict_is_not_duplicated_when_reports_are_resent(
    device: Device, stops: list[int], session: Session
) -> None:
    plan_ops.cancel(session, stops[0])
    event = device.event(stops[0], base_version=1)
    device.sync([event])
    device.sync([event])
    device.sync([event])
    assert _conflicts(session, stops[0]) == [("delivered_after_cancel", [event["id"]])]


def test_an_outcome_against_an_outdated_address_is_flagged_stale(
    device: Device, stops: list[int], session: Session
) -> None:
    plan_ops.change_address(session, stops[0], "1 New Address Way, Seattle, WA")
    event = device.event(stops[0], "failed", payload={"reason": "address_not_found"})
    [result] = device.sync([event]).get_json()["results"]
    assert (result["status"], result["code"]) == ("conflict", "stale_base_version")


def test_a_device_clock_far_off_is_flagged(
    device: Device, stops: list[int], session: Session
) -> None:
    event = device.event(stops[0], "arrived")
    response = device.sync([event], sent_at=(T0 - timedelta(hours=3)).isoformat())
    [result] = response.get_json()["results"]
    assert (result["status"], result["code"]) == ("conflict", "clock_skew")


def test_an_accurate_device_clock_raises_nothing(
    device: Device, stops: list[int], session: Session, clock: SetClock
) -> None:
    event = device.event(stops[0], "arrived")
    response = device.sync([event], sent_at=clock.now().isoformat())
    assert response.get_json()["results"][0]["status"] == "applied"
    assert _conflicts(session, stops[0]) == []


def test_arrival_order_does_not_change_status_or_conflicts(
    client,
    world: World,
    session: Session,
    token_for,  # type: ignore[no-untyped-def]
) -> None:
    """The same reports pushed in opposite orders end identically."""
    from tests.factories import make_manifest

    outcomes = []
    for order in (slice(None), slice(None, None, -1)):
        session.rollback()
        manifest = make_manifest(
            session,
            world.org_id,
            world.users["driver_a"],
            stops=1,
            service_date=T0.date() + timedelta(days=len(outcomes) + 1),
        )
        session.commit()
        stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
        assert stop_id is not None
        a = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
        events = [a.event(stop_id, "failed"), a.event(stop_id), a.event(stop_id, "failed")]
        for event in events[order]:
            a.sync([event])
        outcomes.append((_status(session, stop_id), [k for k, _ in _conflicts(session, stop_id)]))
    assert outcomes[0] == outcomes[1]
