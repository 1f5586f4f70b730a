"""The console's organization pages: admins only, the same services and errors as the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin.settings import org_settings
from backend.db.models import Depot, Device, RefreshToken
from tests.conftest import World

PAGES = ("/console/admin/settings", "/console/admin/depots", "/console/admin/devices")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    response = client.post(
        "/console/login",
        data={"username": username, "password": "pw", "csrf_token": _csrf(page), "next": ""},
    )
    assert response.status_code == 302
    return client


def _post(client: FlaskClient, page_url: str, url: str, data: dict[str, Any]) -> Any:
    page = client.get(page_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": _csrf(page), **data})


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize(("username", "status"), [("admin", 200), ("dispatcher", 403)])
def test_only_admins_see_the_organization_pages(
    app: Flask, world: World, url: str, username: str, status: int
) -> None:
    assert _signed_in(app, username).get(url).status_code == status


def test_an_admin_saves_settings_and_a_bad_time_zone_is_shown_on_its_field(
    app: Flask, world: World, session: Session
) -> None:
    client = _signed_in(app, "admin")
    page = "/console/admin/settings"
    bad = _post(client, page, page, {"timezone": "Nowhere/Land", "geofence_threshold_m": "200"})
    assert bad.status_code == 422
    assert 'data-field="timezone"' in bad.get_data(as_text=True)
    assert org_settings(session, world.org_id).version == 0
    good = _post(
        client,
        page,
        page,
        {"timezone": "Europe/Berlin", "geofence_threshold_m": "200", "policy_signature": "on"},
    )
    assert good.status_code == 302
    session.rollback()
    saved = org_settings(session, world.org_id)
    assert (saved.timezone, saved.geofence_threshold_m) == ("Europe/Berlin", 200)
    assert saved.default_proof_policy.signature is True


def test_an_admin_creates_and_retires_a_depot_and_an_off_map_one_is_refused(
    app: Flask, world: World, session: Session
) -> None:
    client = _signed_in(app, "admin")
    page = "/console/admin/depots"
    off = _post(client, page, page, {"name": "Sea", "lat": "95", "lon": "0"})
    assert off.status_code == 422
    assert 'data-field="lat"' in off.get_data(as_text=True)
    made = _post(client, page, page, {"name": "North", "lat": "47.6", "lon": "-122.3"})
    assert made.status_code == 302
    depot = session.scalars(select(Depot)).one()
    retired = _post(client, page, f"{page}/{depot.id}/retire", {})
    assert retired.status_code == 302
    session.rollback()
    assert session.get(Depot, depot.id).retired_at is not None  # type: ignore[union-attr]


def test_an_admin_revokes_a_device_from_the_console(
    app: Flask, world: World, session: Session
) -> None:
    api = app.test_client()
    login = api.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": "phone-9"},
    ).get_json()
    client = _signed_in(app, "admin")
    page = "/console/admin/devices"
    assert "phone-9" in client.get(page).get_data(as_text=True)
    device = session.scalars(select(Device).where(Device.device_key == "phone-9")).one()
    assert _post(client, page, f"{page}/{device.id}/revoke", {}).status_code == 302
    session.rollback()
    tokens = session.scalars(select(RefreshToken).where(RefreshToken.device_id == device.id))
    assert all(t.revoked_at is not None for t in tokens)
    mine = api.get(
        "/api/v1/manifests/mine", headers={"Authorization": f"Bearer {login['access_token']}"}
    )
    assert mine.status_code == 401
