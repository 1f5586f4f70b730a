"""The window promised to the customer: imported, defaulted, changed, carried to a
re-plan, and every version kept in ``promise_change``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import PromiseChange, Stop
from backend.db.session import scope_to_tenant
from backend.planning.service import plan_next_attempts
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]


def _row(**extra: Any) -> dict[str, Any]:
    return {
        "order_number": "P-1",
        "address": "1 Main St",
        "lat": 47.6,
        "lon": -122.3,
        "window_start": "09:00",
        "window_end": "17:00",
        "parcels": ["P1"],
        **extra,
    }


def _import(client: FlaskClient, auth: Auth, *rows: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/stops/import",
        json={"service_date": "2026-11-24", "stops": list(rows)},
        headers=auth("dispatcher"),
    )


def _history(session: Session, stop_id: int) -> list[tuple[str, str | None, int | None]]:
    session.rollback()
    return [
        (row.reason, row.promised_start.isoformat() if row.promised_start else None, row.changed_by)
        for row in session.scalars(
            select(PromiseChange).where(PromiseChange.stop_id == stop_id).order_by(PromiseChange.id)
        )
    ]


def test_an_imported_promise_is_kept_beside_the_working_window(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    response = _import(
        client,
        auth,
        _row(promised_start="10:00", promised_end="12:00", recipient_email="ann@example.com"),
    )
    assert response.status_code == 201, response.get_json()
    stop_id = response.get_json()["stops"][0]["id"]
    body = client.get(f"/api/v1/stops/{stop_id}", headers=auth("dispatcher")).get_json()
    assert body["promised_window"] == {
        "start": "2026-11-24T10:00:00Z",
        "end": "2026-11-24T12:00:00Z",
    }
    assert body["time_window"]["start"] == "2026-11-24T09:00:00Z"
    assert body["recipient_email"] == "ann@example.com"
    assert _history(session, stop_id) == [("planned", "2026-11-24T10:00:00+00:00", None)]


def test_without_a_promise_the_customer_is_promised_the_working_window(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    response = _import(client, auth, _row())
    stop_id = response.get_json()["stops"][0]["id"]
    body = client.get(f"/api/v1/stops/{stop_id}", headers=auth("dispatcher")).get_json()
    assert body["promised_window"] == body["time_window"]
    assert body["recipient_email"] == ""
    assert [reason for reason, _, _ in _history(session, stop_id)] == ["planned"]


def test_a_csv_import_reads_the_promise_columns(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    csv = (
        "order_number,address,lat,lon,window_start,window_end,promised_start,promised_end,"
        "recipient_email,parcels\n"
        "C-1,1 Main St,47.6,-122.3,08:00,18:00,14:00,16:00,bo@example.org,C1\n"
    )
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data=csv,
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.get_json()
    session.rollback()
    stop = session.scalars(select(Stop).where(Stop.order_number == "C-1")).one()
    assert (stop.promised_start.hour, stop.promised_end.hour) == (14, 16)  # type: ignore[union-attr]
    assert stop.recipient_email == "bo@example.org"


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"promised_start": "10:00"}, "promised_end", "give both ends"),
        ({"promised_end": "10:00"}, "promised_start", "give both ends"),
        ({"promised_start": "12:00", "promised_end": "10:00"}, "promised_end", "must be after"),
        ({"promised_start": "25:00", "promised_end": "26:00"}, "promised_start", "time of day"),
        (
            {"promised_start": "2026-11-24T10:00", "promised_end": "11:00"},
            "promised_start",
            "offset",
        ),
        ({"recipient_email": "not-an-address"}, "recipient_email", "e-mail"),
        ({"recipient_email": "a@b.co" + "x" * 254}, "recipient_email", "at most 254"),
        ({"recipient_email": 7}, "recipient_email", "must be text"),
    ],
)
def test_a_bad_promise_or_email_refuses_the_whole_import(
    client: FlaskClient,
    world: World,
    auth: Auth,
    session: Session,
    extra: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = _import(client, auth, _row(order_number="OK-1"), _row(**extra))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "import_invalid"
    assert any(message in text for text in body["errors"]["rows"]["1"][field])
    session.rollback()
    assert session.scalars(select(Stop)).first() is None
    assert session.scalars(select(PromiseChange)).first() is None


def test_changing_the_promise_is_recorded_with_who_changed_it(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    stop_id = _import(client, auth, _row()).get_json()["stops"][0]["id"]
    response = client.patch(
        f"/api/v1/stops/{stop_id}",
        json={
            "promised_start": "2026-11-24T13:00:00Z",
            "promised_end": "2026-11-24T15:00:00Z",
            "recipient_email": "new@example.com",
        },
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["promised_window"]["start"] == "2026-11-24T13:00:00Z"
    assert response.get_json()["recipient_email"] == "new@example.com"
    history = _history(session, stop_id)
    assert [reason for reason, _, _ in history] == ["planned", "changed"]
    assert history[1][2] == world.users["dispatcher"]
    # A change that leaves the promise alone writes no history.
    client.patch(
        f"/api/v1/stops/{stop_id}", json={"instructions": "gate"}, headers=auth("dispatcher")
    )
    assert len(_history(session, stop_id)) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"promised_start": "2026-11-24T18:00:00Z"}, "promised_end"),
        ({"promised_start": None}, "promised_end"),
        ({"recipient_email": "nope"}, "recipient_email"),
        ({"recipient_email": "a@b.co" + "x" * 254}, "recipient_email"),
    ],
)
def test_a_bad_promise_change_is_refused_and_changes_nothing(
    client: FlaskClient,
    world: World,
    auth: Auth,
    session: Session,
    change: dict[str, Any],
    field: str,
) -> None:
    stop_id = _import(client, auth, _row()).get_json()["stops"][0]["id"]
    response = client.patch(f"/api/v1/stops/{stop_id}", json=change, headers=auth("dispatcher"))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert [reason for reason, _, _ in _history(session, stop_id)] == ["planned"]
    stop = session.get(Stop, stop_id)
    assert stop is not None
    assert stop.version == 1
    assert stop.recipient_email == ""


def test_a_replanned_attempt_keeps_the_email_and_moves_the_promise(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    stop_id = _import(
        client,
        auth,
        _row(promised_start="10:00", promised_end="12:00", recipient_email="ann@example.com"),
    ).get_json()["stops"][0]["id"]
    session.rollback()
    scope_to_tenant(session, world.org_id)
    original = session.get(Stop, stop_id)
    assert original is not None
    new_ids = plan_next_attempts(session, [original], {stop_id: date(2026, 11, 25)})
    session.commit()
    clone = session.get(Stop, new_ids[stop_id])
    assert clone is not None
    assert clone.recipient_email == "ann@example.com"
    assert clone.promised_start is not None
    assert clone.promised_start.isoformat() == ("2026-11-25T10:00:00+00:00")
    assert _history(session, clone.id) == [("rescheduled", "2026-11-25T10:00:00+00:00", None)]
