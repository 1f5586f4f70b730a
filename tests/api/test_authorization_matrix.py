"""Who may do what to whose data: actor x endpoint x object.

Each case runs on a fresh database with driver_a's manifest in tenant "acme". Roles
that may not use an endpoint get 403; objects of another driver (driver endpoints) or
another tenant get 404, exactly as if they did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Depot, Device, Organization, Stop
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest, make_user

ACTORS = ("driver_a", "driver_b", "dispatcher", "support", "other_dispatcher", "other_driver")
D = SERVICE_DATE.isoformat()


def _request(stop_id: int) -> dict[str, tuple[str, str, Any]]:
    event = {
        "id": str(uuid.uuid4()),
        "stop_id": stop_id,
        "type": "arrived",
        "recorded_at": "2026-11-24T17:00:00Z",
        "hlc": "001795539600000-000000-dev",
        "base_version": 1,
        "payload": {},
        "evidence": [],
    }
    return {
        "mine": ("GET", f"/api/v1/manifests/mine?date={D}", None),
        "stop": ("GET", f"/api/v1/stops/{stop_id}", None),
        "change": ("PATCH", f"/api/v1/stops/{stop_id}", {"instructions": "ring twice"}),
        "cancel": ("POST", f"/api/v1/stops/{stop_id}/cancel", {"reason": "x"}),
        "manifest": ("GET", f"/api/v1/manifests/driver_a/{D}", None),
        "assign": ("PUT", f"/api/v1/manifests/driver_a/{D}", {"stop_ids": [stop_id]}),
        "proof": ("GET", f"/api/v1/stops/{stop_id}/proof", None),
        "import": (
            "POST",
            "/api/v1/stops/import",
            {
                "service_date": D,
                "stops": [
                    {
                        "order_number": "N-1",
                        "address": "1 A St",
                        "lat": 1,
                        "lon": 2,
                        "parcels": ["P1"],
                    }
                ],
            },
        ),
        "sync": ("POST", "/api/v1/sync", {"device_id": None, "cursor": None, "events": [event]}),
        "decide": (
            "POST",
            f"/api/v1/reconciliation/stops/{stop_id}/exceptions/no_outcome",
            {"decision": "annotate", "note": "x"},
        ),
        "bulk_decide": (
            "POST",
            "/api/v1/reconciliation/decisions",
            {"decision": "annotate", "items": [{"stop_id": stop_id, "kind": "no_outcome"}]},
        ),
        "progress": ("GET", f"/api/v1/reconciliation/progress?date={D}", None),
        "search": ("GET", "/api/v1/deliveries/search?q=Pine", None),
        "dispute": ("POST", "/api/v1/disputes", {"stop_id": stop_id, "reason": "damaged"}),
    }


# expected status per endpoint, per actor (in ACTORS order)
MATRIX = {
    "mine": (200, 404, 403, 403, 403, 404),
    "stop": (403, 403, 200, 200, 404, 403),
    "change": (403, 403, 200, 403, 404, 403),
    "cancel": (403, 403, 200, 403, 404, 403),
    "manifest": (403, 403, 200, 200, 404, 403),
    "assign": (403, 403, 200, 403, 404, 403),
    "proof": (403, 403, 200, 200, 404, 403),
    "import": (403, 403, 201, 403, 201, 403),
    "sync": (200, 200, 403, 403, 403, 200),
    "decide": (403, 403, 201, 403, 404, 403),
    "bulk_decide": (403, 403, 201, 403, 404, 403),
    "progress": (403, 403, 200, 403, 200, 403),
    "search": (403, 403, 200, 200, 200, 403),
    "dispute": (403, 403, 403, 201, 403, 403),
}
CASES = [
    (endpoint, actor, expected[i])
    for endpoint, expected in MATRIX.items()
    for i, actor in enumerate(ACTORS)
]


@pytest.mark.parametrize(("endpoint", "actor", "expected"), CASES)
def test_authorization(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Callable[[str], dict[str, str]],
    endpoint: str,
    actor: str,
    expected: int,
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    method, url, body = _request(stop_id)[endpoint]
    if endpoint == "sync":
        body["device_id"] = f"dev-{actor}"
    response = client.open(url, method=method, json=body, headers=auth(actor))
    assert response.status_code == expected, response.get_json()
    if endpoint == "sync" and expected == 200:
        [result] = response.get_json()["results"]
        wanted = "applied" if actor == "driver_a" else "rejected"
        assert result["status"] == wanted


def test_another_tenant_lists_none_of_this_tenants_stops(
    client: FlaskClient, world: World, session: Session, auth: Callable[[str], dict[str, str]]
) -> None:
    make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    session.commit()
    mine = client.get(f"/api/v1/stops?date={D}", headers=auth("dispatcher")).get_json()
    theirs = client.get(f"/api/v1/stops?date={D}", headers=auth("other_dispatcher")).get_json()
    overview = client.get(f"/api/v1/manifests?date={D}", headers=auth("other_dispatcher"))
    assert mine["total"] == 2
    assert theirs == {"items": [], "total": 0}
    assert overview.get_json() == {"items": []}


# The organization's administration (settings, depots, devices): admins only, and an
# admin of another tenant finds none of this tenant's depots or devices.
ADMIN_ACTORS = ("admin", "other_admin", "dispatcher", "support", "driver_a", "other_dispatcher")


def _admin_requests(depot_id: int, device_id: int, user_id: int) -> dict[str, tuple[str, str, Any]]:
    return {
        "settings": ("GET", "/api/v1/admin/settings", None),
        "change_settings": ("PUT", "/api/v1/admin/settings", {"geofence_threshold_m": 200}),
        "settings_versions": ("GET", "/api/v1/admin/settings/versions", None),
        "depots": ("GET", "/api/v1/admin/depots", None),
        "create_depot": ("POST", "/api/v1/admin/depots", {"name": "New", "lat": 1, "lon": 2}),
        "depot": ("GET", f"/api/v1/admin/depots/{depot_id}", None),
        "change_depot": ("PATCH", f"/api/v1/admin/depots/{depot_id}", {"address": "2 Dock Rd"}),
        "retire_depot": ("POST", f"/api/v1/admin/depots/{depot_id}/retire", None),
        "devices": ("GET", "/api/v1/admin/devices", None),
        "revoke_device": ("POST", f"/api/v1/admin/devices/{device_id}/revoke", None),
        "reset_two_factor": ("DELETE", f"/api/v1/admin/users/{user_id}/two-factor", None),
    }


ADMIN_MATRIX = {
    "settings": (200, 200, 403, 403, 403, 403),
    "change_settings": (200, 200, 403, 403, 403, 403),
    "settings_versions": (200, 200, 403, 403, 403, 403),
    "depots": (200, 200, 403, 403, 403, 403),
    "create_depot": (201, 201, 403, 403, 403, 403),
    "depot": (200, 404, 403, 403, 403, 403),
    "change_depot": (200, 404, 403, 403, 403, 403),
    "retire_depot": (200, 404, 403, 403, 403, 403),
    "devices": (200, 200, 403, 403, 403, 403),
    "revoke_device": (200, 404, 403, 403, 403, 403),
    "reset_two_factor": (204, 404, 403, 403, 403, 403),
}
ADMIN_CASES = [
    (endpoint, actor, expected[i])
    for endpoint, expected in ADMIN_MATRIX.items()
    for i, actor in enumerate(ADMIN_ACTORS)
]


@pytest.mark.parametrize(("endpoint", "actor", "expected"), ADMIN_CASES)
def test_admin_authorization(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Callable[[str], dict[str, str]],
    endpoint: str,
    actor: str,
    expected: int,
) -> None:
    other = session.get(Organization, world.other_org_id)
    assert other is not None
    make_user(session, other, "other_admin", "admin")
    depot = Depot(org_id=world.org_id, name="North", lat=47.6, lon=-122.3)
    device = Device(org_id=world.org_id, device_key="phone-of-driver_a")
    session.add_all([depot, device])
    session.commit()
    method, url, body = _admin_requests(depot.id, device.id, world.users["support"])[endpoint]
    response = client.open(url, method=method, json=body, headers=auth(actor))
    assert response.status_code == expected, response.get_json()
    if endpoint in ("depots", "devices") and actor == "other_admin":
        seen = {item.get("name") or item.get("device_id") for item in response.get_json()["items"]}
        assert not seen & {"North", "phone-of-driver_a"}
