"""Who may do what to whose data: actor x endpoint x object.

Each case runs on a fresh database with driver_a's manifest in tenant "acme". Roles
that may not use an endpoint get 403; objects of another driver (driver endpoints) or
another tenant get 404, exactly as if they did not exist. The administration endpoints
are checked against a second tenant made with the operator's `doorstep org create`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import Depot, Device, Stop
from tests.admin.cli_helpers import run_cli
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest

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


# --- Administration: admins only, and only their own tenant -------------------------
#
# The second tenant is made as an operator would, with `doorstep org create`; its admin
# changes the one-time password through the API before acting.

ADMIN_ACTORS = ("driver_a", "dispatcher", "support", "admin", "cli_admin")
CLI_ADMIN_PASSWORD = "lantern-orbit-cactus-9"


def _admin_requests(user_id: int) -> dict[str, tuple[str, str, Any]]:
    users = "/api/v1/admin/users"
    return {
        "users": ("GET", users, None),
        "add_user": ("POST", users, {"username": "newbie", "role": "driver"}),
        "import_users": ("POST", f"{users}/import", "username,role\nnewbie,driver\n"),
        "user": ("GET", f"{users}/{user_id}", None),
        "edit_user": ("PATCH", f"{users}/{user_id}", {"full_name": "B. Driver"}),
        "deactivate": ("POST", f"{users}/{user_id}/deactivate", None),
        "reactivate": ("POST", f"{users}/{user_id}/reactivate", None),
        "reset_password": ("POST", f"{users}/{user_id}/reset-password", {}),
        "audit": ("GET", "/api/v1/admin/audit", None),
        "audit_csv": ("GET", "/api/v1/admin/audit.csv", None),
    }


# expected status per endpoint, per actor (in ADMIN_ACTORS order); the target user is
# acme's driver_b, which the other tenant's admin cannot even see.
ADMIN_MATRIX = {
    "users": (403, 403, 403, 200, 200),
    "add_user": (403, 403, 403, 201, 201),
    "import_users": (403, 403, 403, 201, 201),
    "user": (403, 403, 403, 200, 404),
    "edit_user": (403, 403, 403, 200, 404),
    "deactivate": (403, 403, 403, 200, 404),
    "reactivate": (403, 403, 403, 200, 404),
    "reset_password": (403, 403, 403, 200, 404),
    "audit": (403, 403, 403, 200, 200),
    "audit_csv": (403, 403, 403, 200, 200),
}
ADMIN_CASES = [
    (endpoint, actor, expected[i])
    for endpoint, expected in ADMIN_MATRIX.items()
    for i, actor in enumerate(ADMIN_ACTORS)
]


@pytest.fixture
def cli_admin_headers(
    client: FlaskClient,
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    status, out, err = run_cli(
        monkeypatch,
        capsys,
        settings.database_url,
        "org",
        "create",
        "Initech",
        "--timezone",
        "America/Chicago",
        "--admin",
        "cli_admin",
    )
    assert status == 0, err
    one_time = out.split("one-time password for cli_admin: ")[1].split()[0]
    pair = client.post(
        "/api/v1/auth/token",
        json={"username": "cli_admin", "password": one_time, "device_id": "laptop"},
    ).get_json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": one_time, "new_password": CLI_ADMIN_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 200, changed.get_json()
    return headers


@pytest.mark.parametrize(("endpoint", "actor", "expected"), ADMIN_CASES)
def test_admin_authorization(
    client: FlaskClient,
    world: World,
    auth: Callable[[str], dict[str, str]],
    cli_admin_headers: dict[str, str],
    endpoint: str,
    actor: str,
    expected: int,
) -> None:
    method, url, body = _admin_requests(world.users["driver_b"])[endpoint]
    headers = cli_admin_headers if actor == "cli_admin" else auth(actor)
    if isinstance(body, str):
        response = client.open(
            url, method=method, data=body, headers={**headers, "Content-Type": "text/csv"}
        )
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == expected, response.get_data(as_text=True)


def test_each_tenants_admin_lists_and_audits_only_their_own(
    client: FlaskClient,
    world: World,
    auth: Callable[[str], dict[str, str]],
    cli_admin_headers: dict[str, str],
) -> None:
    client.post(
        "/api/v1/admin/users",
        json={"username": "acme_new", "role": "driver"},
        headers=auth("admin"),
    )
    theirs = client.get("/api/v1/admin/users", headers=cli_admin_headers).get_json()["items"]
    assert [u["username"] for u in theirs] == ["cli_admin"]
    ours = client.get("/api/v1/admin/users", headers=auth("admin")).get_json()["items"]
    assert "cli_admin" not in {u["username"] for u in ours}
    log = client.get("/api/v1/admin/audit", headers=cli_admin_headers).get_json()["items"]
    assert {e["action"] for e in log} == {
        "organization.create",
        "user.create",
        "user.change_password",
    }
    assert "acme_new" not in client.get(
        "/api/v1/admin/audit.csv", headers=cli_admin_headers
    ).get_data(as_text=True)


@pytest.mark.parametrize("actor", ["driver_a", "dispatcher", "support", "admin"])
def test_every_role_changes_its_own_password(
    client: FlaskClient, world: World, auth: Callable[[str], dict[str, str]], actor: str
) -> None:
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": "pw", "new_password": CLI_ADMIN_PASSWORD},
        headers=auth(actor),
    )
    assert response.status_code == 200, response.get_json()


# The organization's administration (settings, depots, devices): admins only, and the
# admin of a tenant made with `doorstep org create` finds none of this tenant's depots
# or devices.
ORG_ADMIN_ACTORS = ("admin", "cli_admin", "dispatcher", "support", "driver_a", "other_dispatcher")


def _org_admin_requests(
    depot_id: int, device_id: int, user_id: int
) -> dict[str, tuple[str, str, Any]]:
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


ORG_ADMIN_MATRIX = {
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
ORG_ADMIN_CASES = [
    (endpoint, actor, expected[i])
    for endpoint, expected in ORG_ADMIN_MATRIX.items()
    for i, actor in enumerate(ORG_ADMIN_ACTORS)
]


@pytest.mark.parametrize(("endpoint", "actor", "expected"), ORG_ADMIN_CASES)
def test_org_admin_authorization(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Callable[[str], dict[str, str]],
    cli_admin_headers: dict[str, str],
    endpoint: str,
    actor: str,
    expected: int,
) -> None:
    depot = Depot(org_id=world.org_id, name="North", lat=47.6, lon=-122.3)
    device = Device(org_id=world.org_id, device_key="phone-of-driver_a")
    session.add_all([depot, device])
    session.commit()
    method, url, body = _org_admin_requests(depot.id, device.id, world.users["support"])[endpoint]
    headers = cli_admin_headers if actor == "cli_admin" else auth(actor)
    response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == expected, response.get_json()
    if endpoint in ("depots", "devices") and actor == "cli_admin":
        seen = {item.get("name") or item.get("device_id") for item in response.get_json()["items"]}
        assert not seen & {"North", "phone-of-driver_a"}
