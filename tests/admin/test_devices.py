"""Devices: what each has done and owes; revoking one ends its logins, never its evidence."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin import audit
from backend.db.models import Stop
from backend.domain.clock import SetClock
from backend.proofs.timeline import build_timeline
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, files_by_hash, png, ref

Auth = Callable[[str], dict[str, str]]
URL = "/api/v1/admin/devices"


def _login(client: FlaskClient, device_id: str = "phone-1") -> Any:
    return client.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": device_id},
    )


def _stop(session: Session, world: World) -> int:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    return stop_id


def _device_row(client: FlaskClient, auth: Auth, device_id: str) -> dict[str, Any]:
    items = client.get(URL, headers=auth("admin")).get_json()["items"]
    [row] = [d for d in items if d["device_id"] == device_id]
    return row


def test_the_list_shows_app_version_last_sync_and_what_the_device_owes(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    stop_id = _stop(session, world)
    token = _login(client).get_json()["access_token"]
    device = Device(client, "phone-1", {"Authorization": f"Bearer {token}"})
    sig = png("sig")
    response = device.sync(
        [device.event(stop_id, evidence=[ref(sig)])], app_version="2.3.0", pending_events=4
    )
    assert response.status_code == 200, response.get_json()
    row = _device_row(client, auth, "phone-1")
    assert row["driver"] == "driver_a"
    assert row["app_version"] == "2.3.0"
    assert row["events_owed"] == 4
    assert row["files_owed"] == 1
    assert row["last_sync_at"] is not None
    assert row["revoked_at"] is None
    device.upload_owed(response.get_json(), files_by_hash(sig))
    assert _device_row(client, auth, "phone-1")["files_owed"] == 0


def test_an_old_app_that_sends_no_version_still_syncs(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    token = _login(client).get_json()["access_token"]
    response = Device(client, "phone-1", {"Authorization": f"Bearer {token}"}).sync()
    assert response.status_code == 200
    assert _device_row(client, auth, "phone-1")["app_version"] is None


def test_a_revoked_devices_tokens_fail_at_once_and_its_evidence_is_accepted_after_a_new_login(
    client: FlaskClient, world: World, auth: Auth, session: Session, clock: SetClock
) -> None:
    stop_id = _stop(session, world)
    tokens = _login(client).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    device = Device(client, "phone-1", headers)
    assert device.sync().status_code == 200
    # Captured offline, before the phone is reported stolen.
    captured = device.event(stop_id, evidence=[ref(png("sig"))])
    clock.advance(timedelta(minutes=10))
    device_row_id = _device_row(client, auth, "phone-1")["id"]
    revoked = client.post(f"{URL}/{device_row_id}/revoke", headers=auth("admin"))
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None

    refused = device.sync([captured])
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "token_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401

    clock.advance(timedelta(minutes=5))
    fresh = _login(client).get_json()
    device.headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    accepted = device.sync([captured])
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["results"][0]["status"] == "applied"
    device.upload_owed(accepted.get_json(), files_by_hash(png("sig")))

    bundle = client.get(f"/api/v1/stops/{stop_id}/proof", headers=auth("support")).get_json()
    assert bundle["devices"] == [
        {"device_id": "phone-1", "revoked_at": revoked.get_json()["revoked_at"]}
    ]
    [event] = bundle["events"]
    assert event["device_revoked_in_between"] is True
    assert bundle["status"] == "delivered"
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    [revocation] = [e for e in build_timeline(session, stop) if e.kind == "device_revoked"]
    assert "phone-1" in revocation.title
    [entry] = [e for e in audit.entries(session) if e.action == "device.revoke"]
    assert entry.after == {"device_id": "phone-1", "revoked_at": revoked.get_json()["revoked_at"]}


def test_revoking_one_device_leaves_the_drivers_other_device_signed_in(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    lost = _login(client, "phone-1").get_json()["access_token"]
    kept = _login(client, "phone-2").get_json()["access_token"]
    Device(client, "phone-1", {"Authorization": f"Bearer {lost}"}).sync()
    device_row_id = _device_row(client, auth, "phone-1")["id"]
    client.post(f"{URL}/{device_row_id}/revoke", headers=auth("admin"))
    assert Device(client, "phone-1", {"Authorization": f"Bearer {lost}"}).sync().status_code == 401
    assert Device(client, "phone-2", {"Authorization": f"Bearer {kept}"}).sync().status_code == 200


def test_an_unknown_device_is_not_found(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.post(f"{URL}/999999/revoke", headers=auth("admin"))
    assert response.status_code == 404


def test_a_revoked_device_is_no_longer_trusted_past_its_addresss_throttle(
    app: Flask, client: FlaskClient, world: World, auth: Auth, clock: SetClock
) -> None:
    app.config["DOORSTEP"] = dataclasses.replace(
        app.config["DOORSTEP"], login_free_failures_per_address=3
    )
    clock.freeze()  # the address's wait must not run out while a slow machine runs this
    depot = {"REMOTE_ADDR": "10.9.9.9"}

    def login(device_id: str, password: str = "pw", username: str = "driver_a") -> int:
        body = {"username": username, "password": password, "device_id": device_id}
        return client.post("/api/v1/auth/token", json=body, environ_base=depot).status_code

    assert login("phone-1") == 200
    for name in ("driver_b", "support", "nobody", "dispatcher"):
        login("other", "guess", name)
    # Known, the phone gets in although its address is past its allowance...
    assert login("phone-1") == 200
    device_row_id = _device_row(client, auth, "phone-1")["id"]
    client.post(f"{URL}/{device_row_id}/revoke", headers=auth("admin"))
    # ...revoked, it is held to the address's limit like any stranger.
    assert login("phone-1") == 429
