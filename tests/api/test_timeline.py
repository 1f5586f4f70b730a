"""The timeline of one stop, from plan to proof, built from what the real API recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from backend.db.models import PlanChange, Proof, Stop
from backend.db.session import scope_to_tenant
from backend.domain.clock import SetClock
from backend.proofs.timeline import KINDS, TimelineEntry, build_timeline
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, files_by_hash, png, ref

Auth = Callable[[str], dict[str, str]]
FAR = {"lat": 47.70, "lon": -122.40, "accuracy_m": 5.0, "fixed_at": None}
SIGNATURE = png("timeline-signature")


def _planned_stop(session: Session, world: World, clock: SetClock) -> Stop:
    """One stop on driver_a's manifest, planned (and sent to the device) 3 hours ago."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    stop = session.scalars(select(Stop).where(Stop.manifest_id == manifest.id)).one()
    earlier = clock.now() - timedelta(hours=3)
    stop.created_at = earlier
    session.execute(
        update(PlanChange)
        .where(PlanChange.stop_id == stop.id)
        .values(created_at=earlier + timedelta(seconds=1))
    )
    session.commit()
    return stop


def _offline_device(
    client: FlaskClient, token_for: Callable[[str], str], clock: SetClock, minutes: int
) -> Device:
    """driver_a's device, its clock ``minutes`` behind now: it records, then syncs later."""
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    device.clock_ms = int((clock.now() - timedelta(minutes=minutes)).timestamp() * 1000)
    return device


def _sync_now(device: Device, events: list[dict[str, Any]], clock: SetClock) -> dict[str, Any]:
    response = device.sync(events, sent_at=clock.now().isoformat())
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert all(r["status"] in ("applied", "conflict") for r in body["results"]), body["results"]
    return body


def _post(client: FlaskClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def _fresh_stop(session: Session, stop_id: int) -> Stop:
    session.rollback()  # the fixture's read snapshot predates the API's writes
    # With no transaction open, rollback() expires nothing, and the session keeps
    # objects after commit: the stop arranged above must be read again.
    session.expire_all()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop


def _timeline_of(session: Session, stop_id: int) -> list[TimelineEntry]:
    stop = _fresh_stop(session, stop_id)
    # As the console calls it: inside one tenant, every query (joins too) scoped to it.
    scope_to_tenant(session, stop.org_id)
    return build_timeline(session, stop)


def _without_feed(timeline: list[TimelineEntry]) -> list[str]:
    """The kinds, leaving out the plan feed's pushes (their number is the sync's business)."""
    return [entry.kind for entry in timeline if entry.kind != "sent_to_device"]


def _one(timeline: list[TimelineEntry], kind: str) -> TimelineEntry:
    [entry] = [e for e in timeline if e.kind == kind]
    return entry


def _assert_well_formed(timeline: list[TimelineEntry]) -> None:
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert all(e.at.utcoffset() == timedelta(0) for e in timeline)
    assert {e.kind for e in timeline} <= set(KINDS)
    door = {"arrived", "delivered", "failed", "note"}
    assert all((e.source == "device") == (e.kind in door) for e in timeline)


@pytest.fixture
def delivered_and_disputed(
    client: FlaskClient, world: World, session: Session, auth: Auth, token_for: Any, clock: SetClock
) -> int:
    """Arrived and delivered with a signature, 40 minutes offline and far from the stop;
    the geofence exception accepted; a dispute opened, noted and rejected."""
    stop = _planned_stop(session, world, clock)
    device = _offline_device(client, token_for, clock, minutes=42)
    arrived = device.event(stop.id, "arrived")
    payload = {
        "recipient_name": "Dana Whitfield",
        "geo": FAR,
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    delivered = device.event(stop.id, payload=payload, evidence=[ref(SIGNATURE)])
    body = _sync_now(device, [arrived, delivered], clock)
    device.upload_owed(body, files_by_hash(SIGNATURE))
    _post(
        client,
        f"/api/v1/reconciliation/stops/{stop.id}/exceptions/outside_geofence",
        {"decision": "accept", "note": "customer confirmed the porch"},
        auth("dispatcher"),
    )
    dispute = _post(
        client,
        "/api/v1/disputes",
        {"stop_id": stop.id, "reason": "not_received", "note": "customer says nothing came"},
        auth("support"),
    )
    _post(
        client,
        f"/api/v1/disputes/{dispute['id']}/notes",
        {"text": "photo of the porch checked"},
        auth("support"),
    )
    _post(
        client,
        f"/api/v1/disputes/{dispute['id']}/resolve",
        {
            "outcome": "rejected",
            "reason": "signed for at the door",
            "evidence_cited": ["signature", "receipt"],
        },
        auth("support"),
    )
    return stop.id


def test_a_delivered_and_disputed_stop_reads_from_plan_to_dispute(
    session: Session, delivered_and_disputed: int
) -> None:
    timeline = _timeline_of(session, delivered_and_disputed)

    _assert_well_formed(timeline)
    assert _without_feed(timeline) == [
        "planned",
        "arrived",
        "delivered",
        "proof_sealed",
        "file_received",
        "decision",
        "dispute_opened",
        "dispute_note",
        "dispute_note",
        "dispute_resolved",
    ]
    assert [(e.kind, e.title) for e in timeline[:2]] == [
        ("planned", timeline[0].title),
        ("sent_to_device", "Version 1 sent to driver_a's device"),
    ]
    actors = {e.kind: e.actor for e in timeline}
    assert actors == {
        "planned": None,
        "sent_to_device": None,
        "arrived": "driver_a",
        "delivered": "driver_a",
        "proof_sealed": None,
        "file_received": None,
        "decision": "dispatcher",
        "dispute_opened": "support",
        "dispute_note": "support",
        "dispute_resolved": "support",
    }


def test_a_door_report_says_when_it_was_recorded_and_received(
    session: Session, delivered_and_disputed: int
) -> None:
    timeline = _timeline_of(session, delivered_and_disputed)
    delivered = _one(timeline, "delivered")
    signature = ref(SIGNATURE)["sha256"]

    assert delivered.title == "Delivered to Dana Whitfield (reported by driver_a on dev-driver_a)"
    assert "recorded on dev-driver_a at" in delivered.detail
    assert "min later, offline" in delivered.detail
    assert "clock skew " in delivered.detail
    assert f"evidence: signature {signature[:12]}" in delivered.detail
    assert "not received yet" not in delivered.detail
    assert "server answered" not in delivered.detail  # applied cleanly


def test_the_proof_and_its_file_name_their_hashes(
    session: Session, delivered_and_disputed: int
) -> None:
    timeline = _timeline_of(session, delivered_and_disputed)
    proof = session.scalars(select(Proof).where(Proof.stop_id == delivered_and_disputed)).one()
    signature = ref(SIGNATURE)["sha256"]

    sealed = _one(timeline, "proof_sealed")
    assert f"digest {proof.digest[:12]}" in sealed.title
    assert f"receipt key {proof.receipt['kid']}" in sealed.title
    assert "geo check outside" in sealed.detail
    received = _one(timeline, "file_received")
    assert received.title.startswith("Signature received")
    assert signature[:12] in received.title


def test_back_office_and_customer_service_are_quoted(
    session: Session, delivered_and_disputed: int
) -> None:
    timeline = _timeline_of(session, delivered_and_disputed)

    decision = _one(timeline, "decision")
    assert decision.title == "Exception accepted: outside geofence (by dispatcher)"
    assert "customer confirmed the porch" in decision.detail
    assert "not received" in _one(timeline, "dispute_opened").title
    notes = [e.detail for e in timeline if e.kind == "dispute_note"]
    assert notes == ["customer says nothing came", "photo of the porch checked"]
    resolved = _one(timeline, "dispute_resolved")
    assert "rejected" in resolved.title
    assert resolved.detail == "signed for at the door; evidence cited: signature, receipt"


def test_a_stop_cancelled_while_the_driver_delivered_offline_shows_both(
    client: FlaskClient, world: World, session: Session, auth: Auth, token_for: Any, clock: SetClock
) -> None:
    stop = _planned_stop(session, world, clock)
    device = _offline_device(client, token_for, clock, minutes=30)
    # The driver delivers in a dead zone; dispatch cancels before the device syncs.
    delivered = device.event(stop.id, base_version=1)
    _post(
        client,
        f"/api/v1/stops/{stop.id}/cancel",
        {"reason": "customer called to cancel"},
        auth("dispatcher"),
    )
    [result] = _sync_now(device, [delivered], clock)["results"]
    assert (result["status"], result["code"]) == ("conflict", "delivered_after_cancel")
    _post(
        client,
        f"/api/v1/reconciliation/stops/{stop.id}/exceptions/delivered_after_cancel",
        {"decision": "accept", "note": "parcel was already at the door"},
        auth("dispatcher"),
    )

    timeline = _timeline_of(session, stop.id)

    _assert_well_formed(timeline)
    kinds = _without_feed(timeline)
    assert kinds[:5] == ["planned", "delivered", "cancelled", "proof_sealed", "conflict_raised"]
    # One act of the dispatcher: both rows carry nearly the same moment.
    assert sorted(kinds[5:]) == ["conflict_resolved", "decision"]
    cancelled = _one(timeline, "cancelled")
    assert cancelled.detail == "reason: customer called to cancel"
    sent = [e.title for e in timeline if e.kind == "sent_to_device"]
    assert sent[:2] == [
        "Version 1 sent to driver_a's device",
        "Version 2 sent to driver_a's device",
    ]
    report = _one(timeline, "delivered")
    assert (report.source, report.actor) == ("device", "driver_a")
    assert "offline" in report.detail
    assert "server answered conflict (delivered after cancel)" in report.detail
    assert _one(timeline, "conflict_raised").title == "Conflict raised: delivered after cancel"
    resolved = _one(timeline, "conflict_resolved")
    assert (resolved.actor, resolved.source) == ("dispatcher", "server")
    assert resolved.detail == "parcel was already at the door"


def test_a_rejected_proof_names_the_stop_planned_for_another_attempt(
    client: FlaskClient, world: World, session: Session, auth: Auth, token_for: Any, clock: SetClock
) -> None:
    stop = _planned_stop(session, world, clock)
    device = _offline_device(client, token_for, clock, minutes=10)
    far = {"recipient_name": "X", "geo": FAR, "scanned_barcodes": [], "where_left": "front_door"}
    body = _sync_now(device, [device.event(stop.id, payload=far, evidence=[ref(SIGNATURE)])], clock)
    device.upload_owed(body, files_by_hash(SIGNATURE))
    _post(
        client,
        f"/api/v1/reconciliation/stops/{stop.id}/exceptions/outside_geofence",
        {"decision": "reject", "note": "taken 11 km away"},
        auth("dispatcher"),
    )

    timeline = _timeline_of(session, stop.id)

    assert _without_feed(timeline)[-2:] == ["decision", "replanned"]
    replanned = _one(timeline, "replanned")
    assert replanned.title == (f"Re-planned for another attempt as order {stop.order_number}-R1")
    assert replanned.detail == "new stop for 2026-11-25"
    assert (replanned.actor, _one(timeline, "decision").actor) == ("dispatcher", "dispatcher")


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    """Every SQL statement the session's engine runs while the list is being recorded."""
    seen: list[str] = []
    engine = session.get_bind()

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _statements_for_timeline(session: Session, stop_id: int, statements: list[str]) -> int:
    stop = _fresh_stop(session, stop_id)
    statements.clear()
    build_timeline(session, stop)
    return len(statements)


def test_the_number_of_queries_does_not_grow_with_the_reports(
    client: FlaskClient,
    world: World,
    session: Session,
    token_for: Any,
    statements: list[str],
    clock: SetClock,
) -> None:
    stop = _planned_stop(session, world, clock)
    device = _offline_device(client, token_for, clock, minutes=20)
    first = device.event(stop.id, "failed", evidence=[ref(png("door-0"), "photo")])
    body = _sync_now(device, [first], clock)
    device.upload_owed(body, files_by_hash(png("door-0")))
    few = _statements_for_timeline(session, stop.id, statements)

    photos = [png(f"door-{n}") for n in range(1, 6)]
    attempts = [device.event(stop.id, "failed", evidence=[ref(photo, "photo")]) for photo in photos]
    notes = [device.event(stop.id, "note") for _ in range(3)]
    body = _sync_now(device, [*attempts, *notes], clock)
    device.upload_owed(body, files_by_hash(*photos))
    many = _statements_for_timeline(session, stop.id, statements)

    assert many == few
    timeline = _timeline_of(session, stop.id)
    assert [e.kind for e in timeline].count("file_received") == 6
    assert [e.kind for e in timeline].count("failed") == 6


def test_a_device_clock_far_off_is_corrected_so_the_order_holds(
    client: FlaskClient, world: World, session: Session, auth: Auth, token_for: Any, clock: SetClock
) -> None:
    stop = _planned_stop(session, world, clock)
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    # The phone is set two hours fast: it records the delivery "in the future".
    fast = clock.now() + timedelta(hours=2)
    device.clock_ms = int(fast.timestamp() * 1000)
    event = device.event(stop.id, evidence=[])
    device.sync([event], sent_at=(fast + timedelta(minutes=1)).isoformat())
    _post(
        client,
        "/api/v1/disputes",
        {"stop_id": stop.id, "reason": "not_received"},
        auth("support"),
    )
    timeline = _timeline_of(session, stop.id)
    _assert_well_formed(timeline)
    kinds = _without_feed(timeline)
    assert kinds.index("delivered") < kinds.index("dispute_opened")
    delivered = _one(timeline, "delivered")
    assert abs(delivered.at - clock.now()) < timedelta(minutes=5)
    assert "clock skew +2 h" in delivered.detail  # the raw device time is still quoted
