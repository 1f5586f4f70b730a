"""A re-planned stop lives in one place: the original leaves the device, a late report on
it is kept and raised, and the copy waits for back office before anyone attempts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conflict, DoorEventRow, Stop
from backend.domain.stops import StopStatus
from tests.conftest import World
from tests.sync.helpers import Device

Auth = Callable[[str], dict[str, str]]
REPORTED_AFTER_REPLAN = "reported_after_replan"


def _decide(
    client: FlaskClient, auth: Auth, stop_id: int, kind: str, decision: str, note: str = "checked"
) -> Any:
    response = client.post(
        f"/api/v1/reconciliation/stops/{stop_id}/exceptions/{kind}",
        json={"decision": decision, "note": note},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _stop(session: Session, stop_id: int) -> Stop:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop


@pytest.fixture
def replanned(client: FlaskClient, auth: Auth, device: Device, stops: list[int]) -> tuple[int, int]:
    """The device holds the day; dispatch rejects the third stop's "no outcome" and
    re-plans it. Returns (original id, copy id)."""
    device.sync(cursor=None)
    copy_id = _decide(client, auth, stops[2], "no_outcome", "reject", "not attempted")[
        "replanned_stop_id"
    ]
    return stops[2], copy_id


def test_a_replanned_original_is_withdrawn_from_the_device(
    client: FlaskClient, auth: Auth, device: Device, replanned: tuple[int, int]
) -> None:
    original, _ = replanned
    changes = device.sync().get_json()["changes"]
    assert [(c["op"], c["stop_id"]) for c in changes] == [("remove", original)]
    snapshot = device.sync(cursor=None).get_json()["changes"]
    assert original not in [c["stop_id"] for c in snapshot]
    manifest = client.get("/api/v1/manifests/mine", headers=auth("driver_a")).get_json()
    assert original not in [s["id"] for s in manifest["stops"]]


def test_a_report_on_a_withdrawn_original_is_kept_raised_and_holds_the_copy(
    client: FlaskClient, auth: Auth, device: Device, session: Session, replanned: tuple[int, int]
) -> None:
    original, copy_id = replanned
    # The driver, offline, delivered the original before the withdrawal reached them.
    delivered = device.event(original)
    [result] = device.sync([delivered]).get_json()["results"]

    assert (result["status"], result["code"]) == ("conflict", REPORTED_AFTER_REPLAN)
    session.rollback()
    assert session.scalars(select(DoorEventRow.event_id)).all() == [delivered["id"]]
    [conflict] = session.scalars(select(Conflict).where(Conflict.stop_id == original)).all()
    assert (conflict.kind, conflict.status) == (REPORTED_AFTER_REPLAN, "open")
    assert _stop(session, copy_id).held_at is not None
    review = client.get(
        "/api/v1/reconciliation?date=" + _stop(session, original).service_date.isoformat(),
        headers=auth("dispatcher"),
    ).get_json()
    [row] = [s for s in review["stops"] if s["stop_id"] == original]
    open_kinds = {e["kind"] for e in row["exceptions"] if e["state"] == "open"}
    assert REPORTED_AFTER_REPLAN in open_kinds


def test_a_held_copy_cannot_be_put_on_a_manifest(
    client: FlaskClient, auth: Auth, device: Device, session: Session, replanned: tuple[int, int]
) -> None:
    original, copy_id = replanned
    device.sync([device.event(original)])
    copy = _stop(session, copy_id)
    response = client.put(
        f"/api/v1/manifests/driver_b/{copy.service_date.isoformat()}",
        json={"stop_ids": [copy_id]},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 422, response.get_json()
    assert "held" in str(response.get_json()["errors"])


def test_accepting_the_late_report_cancels_the_copy(
    client: FlaskClient, auth: Auth, device: Device, session: Session, replanned: tuple[int, int]
) -> None:
    original, copy_id = replanned
    device.sync([device.event(original)])
    _decide(client, auth, original, REPORTED_AFTER_REPLAN, "accept", "delivered after all")
    copy = _stop(session, copy_id)
    assert copy.status is StopStatus.CANCELLED
    assert _stop(session, original).status is StopStatus.DELIVERED


def test_rejecting_the_late_report_keeps_the_copy_and_plans_no_third_attempt(
    client: FlaskClient, auth: Auth, device: Device, session: Session, replanned: tuple[int, int]
) -> None:
    original, copy_id = replanned
    device.sync([device.event(original)])
    body = _decide(client, auth, original, REPORTED_AFTER_REPLAN, "reject", "photo is of a wall")
    assert body["replanned_stop_id"] == copy_id
    copy = _stop(session, copy_id)
    assert (copy.held_at, copy.status) == (None, StopStatus.PENDING)
    attempts = session.scalars(select(Stop.order_number).where(Stop.order_number.like("%-R%")))
    assert list(attempts) == [copy.order_number]


def test_a_stop_without_a_replan_raises_nothing_new(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    device.sync(cursor=None)
    [result] = device.sync([device.event(stops[0])]).get_json()["results"]
    assert result["status"] == "applied"
    session.rollback()
    assert session.scalars(select(Conflict)).all() == []
