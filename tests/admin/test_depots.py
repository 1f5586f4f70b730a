"""Depots: create, edit, retire; an import names its depot, by name, among those in service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin import audit
from backend.db.models import Depot, Stop
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]
URL = "/api/v1/admin/depots"
NORTH = {
    "name": "North",
    "address": "1 Dock Rd",
    "lat": 47.6,
    "lon": -122.3,
    "timezone": "America/Los_Angeles",
}


def _create(client: FlaskClient, auth: Auth, **fields: Any) -> Any:
    return client.post(URL, json={**NORTH, **fields}, headers=auth("admin"))


def _import(client: FlaskClient, auth: Auth, *rows: str) -> Any:
    return client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data="\n".join(["order_number,address,lat,lon,parcels,depot", *rows]) + "\n",
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )


def _count(session: Session, model: type) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_admin_creates_edits_and_retires_a_depot_and_each_step_is_audited(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    created = _create(client, auth)
    assert created.status_code == 201, created.get_json()
    depot_id = created.get_json()["id"]
    changed = client.patch(
        f"{URL}/{depot_id}", json={"address": "2 Dock Rd"}, headers=auth("admin")
    )
    assert changed.get_json()["address"] == "2 Dock Rd"
    retired = client.post(f"{URL}/{depot_id}/retire", headers=auth("admin"))
    assert retired.status_code == 200
    assert retired.get_json()["retired_at"] is not None
    again = client.post(f"{URL}/{depot_id}/retire", headers=auth("admin"))
    assert again.get_json()["retired_at"] == retired.get_json()["retired_at"]
    listed = client.get(URL, headers=auth("admin")).get_json()["items"]
    assert [d["name"] for d in listed] == ["North"]
    session.rollback()
    actions = [e.action for e in audit.entries(session)]
    assert actions == ["depot.retire", "depot.change", "depot.create"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lon": -180.5}, "lon"),
        ({"lat": "north"}, "lat"),
        ({"timezone": "Atlantis/Capital"}, "timezone"),
        ({"timezone": "Europe"}, "timezone"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_depot_is_refused_by_field_and_nothing_is_created(
    client: FlaskClient,
    world: World,
    auth: Auth,
    session: Session,
    fields: dict[str, Any],
    field: str,
) -> None:
    response = _create(client, auth, **fields)
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["errors"]) == [field]
    assert _count(session, Depot) == 0


def test_a_depot_needs_a_name_and_a_location(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.post(URL, json={"address": "x"}, headers=auth("admin"))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"name", "lat", "lon"}


def test_a_depot_name_is_used_once(client: FlaskClient, world: World, auth: Auth) -> None:
    assert _create(client, auth).status_code == 201
    response = _create(client, auth)
    assert response.status_code == 409
    assert response.get_json()["code"] == "depot_name_taken"
    assert "name" in response.get_json()["errors"]


def test_an_edit_off_the_map_changes_nothing(client: FlaskClient, world: World, auth: Auth) -> None:
    depot_id = _create(client, auth).get_json()["id"]
    response = client.patch(
        f"{URL}/{depot_id}", json={"address": "elsewhere", "lat": 123}, headers=auth("admin")
    )
    assert response.status_code == 422
    assert (
        client.get(f"{URL}/{depot_id}", headers=auth("admin")).get_json()["address"] == "1 Dock Rd"
    )


def test_an_import_names_its_depot_and_an_unknown_or_retired_one_refuses_that_row(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    north = _create(client, auth).get_json()["id"]
    old = _create(client, auth, name="Old").get_json()["id"]
    client.post(f"{URL}/{old}/retire", headers=auth("admin"))
    refused = _import(
        client,
        auth,
        "X-1,1 A St,47.6,-122.3,P1,North",
        "X-2,2 A St,47.6,-122.3,P2,South",
        "X-3,3 A St,47.6,-122.3,P3,Old",
    )
    assert refused.status_code == 422
    rows = refused.get_json()["errors"]["rows"]
    assert set(rows) == {"3", "4"}
    assert "depot" in rows["3"]
    assert "depot" in rows["4"]
    assert _count(session, Stop) == 0
    accepted = _import(
        client, auth, "X-1,1 A St,47.6,-122.3,P1,North", "X-2,2 A St,47.6,-122.3,P2,"
    )
    assert accepted.status_code == 201, accepted.get_json()
    session.rollback()
    depots = {s.order_number: s.depot_id for s in session.scalars(select(Stop))}
    assert depots == {"X-1": north, "X-2": None}


def test_a_json_import_names_its_depot_too(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    north = _create(client, auth).get_json()["id"]
    stop = {
        "order_number": "J-1",
        "address": "1 A St",
        "lat": 47.6,
        "lon": -122.3,
        "parcels": ["P1"],
    }
    response = client.post(
        "/api/v1/stops/import",
        json={
            "service_date": "2026-11-24",
            "stops": [{**stop, "depot": "North"}, {**stop, "order_number": "J-2", "depot": "Nope"}],
        },
        headers=auth("dispatcher"),
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["rows"]) == ["1"]
    fixed = client.post(
        "/api/v1/stops/import",
        json={"service_date": "2026-11-24", "stops": [{**stop, "depot": "North"}]},
        headers=auth("dispatcher"),
    )
    assert fixed.status_code == 201
    session.rollback()
    assert session.scalars(select(Stop.depot_id)).all() == [north]
