"""End-of-day reconciliation: outcomes, the exception queue, decisions, the summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.reconciliation.schemas import DayReviewSchema
from backend.reconciliation.summary import SUMMARY_COLUMNS
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync.helpers import Device, files_by_hash, png, ref

Auth = Callable[[str], dict[str, str]]
DAY = f"/api/v1/reconciliation?date={SERVICE_DATE}"
NOON = "2026-11-24T12:00:00+00:00"
FAR = {"lat": 47.70, "lon": -122.40, "accuracy_m": 5.0, "fixed_at": None}


@pytest.fixture
def day(client: FlaskClient, world: World, session: Session, token_for) -> list[int]:  # type: ignore[no-untyped-def]
    """Stop 1 delivered properly, stop 2 delivered far away without a signature,
    stop 3 never attempted."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    session.commit()
    ids = list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    good = {**device.event(ids[0], evidence=[ref(png("sig"))]), "recorded_at": NOON}
    bad_payload = {
        "recipient_name": "X",
        "geo": FAR,
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    bad = {**device.event(ids[1], payload=bad_payload), "recorded_at": NOON}
    body = device.sync([good, bad]).get_json()
    device.upload_owed(body, files_by_hash(png("sig")))
    return ids


def _stops(client: FlaskClient, auth: Auth, query: str = "") -> dict[int, dict[str, Any]]:
    body = client.get(DAY + query, headers=auth("dispatcher")).get_json()
    return {s["stop_id"]: s for s in body["stops"]}


def _open(stop: dict[str, Any]) -> set[str]:
    return {e["kind"] for e in stop["exceptions"] if e["state"] == "open"}


def test_each_stop_shows_its_outcome_and_exceptions(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    stops = _stops(client, auth)
    assert stops[day[0]]["status"] == "delivered"
    assert stops[day[0]]["proof_meets_policy"] is True
    assert _open(stops[day[0]]) == set()
    assert _open(stops[day[1]]) == {"policy_unmet", "outside_geofence"}
    assert stops[day[1]]["proof_meets_policy"] is False
    assert _open(stops[day[2]]) == {"no_outcome"}


def test_the_day_schema_declares_every_key_of_the_body(
    app: Flask, client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    # The view encodes the day directly; under test a ResponseSchema raises on any key
    # it does not declare, so the document cannot fall behind the body.
    body = client.get(DAY, headers=auth("dispatcher")).get_json()
    assert any(stop["exceptions"] for stop in body["stops"])
    with app.app_context():
        assert DayReviewSchema().dump(body) == body


def test_the_queue_lists_only_stops_with_open_exceptions(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    assert sorted(_stops(client, auth, "&open_only=true")) == [day[1], day[2]]


def test_a_delivery_outside_its_window_is_an_exception(
    client: FlaskClient,
    auth: Auth,
    world: World,
    session: Session,
    token_for,  # type: ignore[no-untyped-def]
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    late = {**device.event(stop_id, "failed"), "recorded_at": "2026-11-24T20:00:00+00:00"}
    device.sync([late])
    late_delivery = {
        **device.event(stop_id, evidence=[]),
        "recorded_at": "2026-11-24T20:05:00+00:00",
    }
    device.sync([late_delivery])
    assert "outside_time_window" in _open(_stops(client, auth)[stop_id])


def test_accepting_clears_the_exception_and_keeps_an_audit_trail(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    url = f"/api/v1/reconciliation/stops/{day[1]}/exceptions/policy_unmet"
    response = client.post(
        url,
        json={"decision": "accept", "note": "customer confirmed by phone"},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.get_json()
    stop = _stops(client, auth)[day[1]]
    assert _open(stop) == {"outside_geofence"}
    [decision] = stop["decisions"]
    assert (decision["decision"], decision["note"]) == ("accept", "customer confirmed by phone")


def test_annotating_keeps_the_exception_open(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    url = f"/api/v1/reconciliation/stops/{day[1]}/exceptions/outside_geofence"
    client.post(
        url,
        json={"decision": "annotate", "note": "driver says GPS was off"},
        headers=auth("dispatcher"),
    )
    stop = _stops(client, auth)[day[1]]
    assert "outside_geofence" in _open(stop)
    assert stop["decisions"][0]["note"] == "driver says GPS was off"


def test_rejecting_replans_the_stop_for_another_attempt(
    client: FlaskClient, auth: Auth, day: list[int], session: Session
) -> None:
    url = f"/api/v1/reconciliation/stops/{day[2]}/exceptions/no_outcome"
    response = client.post(
        url, json={"decision": "reject", "note": "not attempted"}, headers=auth("dispatcher")
    )
    assert response.status_code == 201
    new_id = response.get_json()["replanned_stop_id"]
    session.rollback()
    clone, original = session.get(Stop, new_id), session.get(Stop, day[2])
    assert clone is not None
    assert original is not None
    assert clone.service_date.isoformat() == "2026-11-25"
    assert clone.order_number == f"{original.order_number}-R1"
    assert clone.manifest_id is None
    assert _open(_stops(client, auth)[day[2]]) == set()
    [row, *_] = client.get(
        f"/api/v1/reconciliation/summary?date={SERVICE_DATE}", headers=auth("dispatcher")
    ).get_json()["rows"]
    assert (row["pending"], row["replanned"]) == (0, 1)


def test_bad_decisions_are_refused(client: FlaskClient, auth: Auth, day: list[int]) -> None:
    base = f"/api/v1/reconciliation/stops/{day[0]}/exceptions"
    not_open = client.post(
        f"{base}/no_outcome", json={"decision": "accept"}, headers=auth("dispatcher")
    )
    assert (not_open.status_code, not_open.get_json()["code"]) == (409, "exception_not_open")
    reject = client.post(
        f"/api/v1/reconciliation/stops/{day[2]}/exceptions/no_outcome",
        json={"decision": "reject"},
        headers=auth("dispatcher"),
    )
    assert reject.status_code == 422
    unknown = client.post(
        f"{base}/no_outcome", json={"decision": "shrug"}, headers=auth("dispatcher")
    )
    assert unknown.status_code == 422
    assert (
        client.post(
            f"{base}/no_outcome", json={"decision": "accept"}, headers=auth("support")
        ).status_code
        == 403
    )
    assert client.get(DAY, headers=auth("other_dispatcher")).get_json()["stops"] == []


def test_the_summary_counts_the_day_and_exports_csv(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    body = client.get(
        f"/api/v1/reconciliation/summary?date={SERVICE_DATE}", headers=auth("dispatcher")
    ).get_json()
    driver, depot, total = body["rows"]
    assert (driver["depot"], driver["driver"]) == ("(no depot)", "driver_a")
    assert (driver["stops"], driver["delivered"], driver["pending"]) == (3, 2, 1)
    assert driver["first_attempt_success_rate"] == 1.0
    assert driver["open_exceptions"] == 3
    assert (depot["depot"], depot["driver"], depot["stops"]) == ("(no depot)", "*", 3)
    assert (total["depot"], total["driver"], total["stops"]) == ("*", "*", 3)
    csv = client.get(
        f"/api/v1/reconciliation/summary?date={SERVICE_DATE}&format=csv", headers=auth("dispatcher")
    )
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].split(",") == list(SUMMARY_COLUMNS)
    assert lines[1].startswith("(no depot),driver_a,3,2,0,1,0,0,3,1.0")


BULK = "/api/v1/reconciliation/decisions"


def test_a_bulk_decision_clears_many_exceptions_at_once(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    items = [
        {"stop_id": day[1], "kind": "policy_unmet"},
        {"stop_id": day[1], "kind": "outside_geofence"},
        {"stop_id": day[2], "kind": "no_outcome"},
    ]
    response = client.post(
        BULK,
        json={"decision": "accept", "note": "checked with the driver", "items": items},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.get_json()
    assert len(response.get_json()["items"]) == 3
    assert _stops(client, auth, "&open_only=true") == {}


def test_a_bulk_decision_with_one_closed_exception_records_nothing(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    items = [
        {"stop_id": day[2], "kind": "no_outcome"},
        {"stop_id": day[0], "kind": "no_outcome"},  # delivered: not an open exception
    ]
    response = client.post(
        BULK, json={"decision": "accept", "items": items}, headers=auth("dispatcher")
    )
    body = response.get_json()
    assert (response.status_code, body["code"]) == (409, "exception_not_open")
    assert body["errors"]["not_open"] == [f"{day[0]}:no_outcome"]
    assert _open(_stops(client, auth)[day[2]]) == {"no_outcome"}


def test_rejecting_two_exceptions_of_a_stop_replans_it_once(
    client: FlaskClient, auth: Auth, day: list[int], session: Session
) -> None:
    items = [
        {"stop_id": day[1], "kind": "policy_unmet"},
        {"stop_id": day[1], "kind": "outside_geofence"},
    ]
    response = client.post(
        BULK,
        json={"decision": "reject", "note": "no proof at the door", "items": items},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.get_json()
    clones = {row["replanned_stop_id"] for row in response.get_json()["items"]}
    assert len(clones) == 1
    session.rollback()
    original = session.get(Stop, day[1])
    assert original is not None
    attempts = session.scalars(
        select(Stop.order_number).where(Stop.order_number.like(f"{original.order_number}-R%"))
    ).all()
    assert attempts == [f"{original.order_number}-R1"]


def test_bad_bulk_decisions_are_refused(client: FlaskClient, auth: Auth, day: list[int]) -> None:
    for body, status in (
        ({"decision": "accept", "items": []}, 422),
        ({"decision": "accept", "items": [{"stop_id": day[2], "kind": "nonsense"}]}, 422),
        ({"decision": "reject", "items": [{"stop_id": day[2], "kind": "no_outcome"}]}, 422),
        ({"decision": "accept", "items": [{"stop_id": 999999, "kind": "no_outcome"}]}, 404),
    ):
        response = client.post(BULK, json=body, headers=auth("dispatcher"))
        assert response.status_code == status, (body, response.get_json())
    support = client.post(
        BULK,
        json={"decision": "accept", "items": [{"stop_id": day[2], "kind": "no_outcome"}]},
        headers=auth("support"),
    )
    assert support.status_code == 403
    assert _open(_stops(client, auth)[day[2]]) == {"no_outcome"}


def test_the_day_can_be_narrowed_to_one_depot(
    client: FlaskClient, auth: Auth, day: list[int], session: Session, world: World
) -> None:
    from backend.db.models import Depot

    session.rollback()  # the fixture's read snapshot predates the API's writes
    depot = Depot(org_id=world.org_id, name="North", lat=47.7, lon=-122.3)
    session.add(depot)
    session.flush()
    stop = session.get(Stop, day[0])
    assert stop is not None
    stop.depot_id = depot.id
    session.commit()
    assert sorted(_stops(client, auth, f"&depot={depot.id}")) == [day[0]]
    rows = client.get(
        f"/api/v1/reconciliation/summary?date={SERVICE_DATE}&depot={depot.id}",
        headers=auth("dispatcher"),
    ).get_json()["rows"]
    assert [(r["depot"], r["driver"], r["stops"]) for r in rows] == [
        ("North", "driver_a", 1),
        ("North", "*", 1),
        ("*", "*", 1),
    ]


def test_progress_counts_each_drivers_stops_by_status(
    client: FlaskClient, auth: Auth, day: list[int]
) -> None:
    response = client.get(
        f"/api/v1/reconciliation/progress?date={SERVICE_DATE}", headers=auth("dispatcher")
    )
    assert response.status_code == 200, response.get_json()
    [row] = response.get_json()["drivers"]
    assert (row["driver"], row["stops"], row["done"]) == ("driver_a", 3, 2)
    assert row["by_status"] == {"delivered": 2, "pending": 1}
    assert row["last_report_at"] is not None
    assert row["next_stop"].startswith("103 Pine St")
    refused = client.get(
        f"/api/v1/reconciliation/progress?date={SERVICE_DATE}", headers=auth("support")
    )
    assert refused.status_code == 403
