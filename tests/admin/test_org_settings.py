"""Organization settings: one reader, versioned changes, effective at once, refused whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin import audit
from backend.db.models import OrgSettingsVersion, Stop
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]
URL = "/api/v1/admin/settings"


def _put(client: FlaskClient, auth: Auth, body: dict[str, Any]) -> Any:
    return client.put(URL, json=body, headers=auth("admin"))


def test_an_admin_reads_the_defaults_with_a_link_to_the_webhooks(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    body = client.get(URL, headers=auth("admin")).get_json()
    assert body["version"] == 0
    assert body["timezone"] == "UTC"
    assert body["geofence_threshold_m"] == 150
    assert body["links"]["webhooks"] == "/api/v1/webhooks"


def test_each_change_is_a_new_version_with_who_and_the_whole_settings_and_an_audit_entry(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    first = _put(client, auth, {"timezone": "Europe/Paris", "tracking_page_name": "Acme"})
    assert first.status_code == 200, first.get_json()
    second = _put(client, auth, {"geofence_threshold_m": 300})
    assert second.get_json()["version"] == 2
    assert second.get_json()["timezone"] == "Europe/Paris"
    versions = client.get(f"{URL}/versions", headers=auth("admin")).get_json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["changed_by"] == "admin"
    assert versions[0]["settings"]["tracking_page_name"] == "Acme"
    assert versions[0]["settings"]["geofence_threshold_m"] == 300
    session.rollback()
    [latest, _] = [e for e in audit.entries(session) if e.action == "settings.change"]
    assert latest.before == {"version": 1, "geofence_threshold_m": 150}
    assert latest.after == {"version": 2, "geofence_threshold_m": 300}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", ""),
        ("timezone", "America"),
        ("timezone", "x" * 300),
        ("geofence_threshold_m", 0),
        ("geofence_threshold_m", 100_000),
        ("geofence_threshold_m", "far"),
        ("evidence_retention_days", -1),
        ("tracking_logo_url", "http://example.invalid/logo.png"),
        ("notification_sender_email", "not-an-address"),
        ("quiet_hours_start", "25:00"),
        ("default_proof_policy", {"signature": "maybe"}),
        ("default_proof_policy", {"min_photos": 99}),
    ],
)
def test_a_bad_value_is_refused_by_field_and_nothing_changes(
    client: FlaskClient, world: World, auth: Auth, session: Session, field: str, value: Any
) -> None:
    response = _put(client, auth, {"tracking_page_name": "Fine", field: value})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [field]
    assert client.get(URL, headers=auth("admin")).get_json()["tracking_page_name"] == ""
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OrgSettingsVersion)) == 0


def test_quiet_hours_need_both_ends(client: FlaskClient, world: World, auth: Auth) -> None:
    response = _put(client, auth, {"quiet_hours_start": "21:00"})
    assert response.status_code == 422
    assert "quiet_hours_end" in response.get_json()["errors"]
    assert (
        _put(client, auth, {"quiet_hours_start": "21:00", "quiet_hours_end": "08:00"}).status_code
        == 200
    )


def test_an_unknown_setting_is_refused(client: FlaskClient, world: World, auth: Auth) -> None:
    response = _put(client, auth, {"colour": "blue"})
    assert response.status_code == 422
    assert "colour" in response.get_json()["errors"]


def test_a_new_time_zone_moves_today_at_once(
    client: FlaskClient, world: World, auth: Auth, clock: Any
) -> None:
    # 17:00 UTC on the service date is already the next day in Auckland.
    assert _put(client, auth, {"timezone": "Pacific/Auckland"}).status_code == 200
    from tests.sync.helpers import Device

    body = Device(client, "dev-driver_a", auth("driver_a")).sync().get_json()
    assert body["service_date"] == "2026-11-25"


def test_the_geofence_threshold_the_sync_uses_comes_from_the_settings(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    from tests.factories import make_manifest
    from tests.sync.helpers import Device

    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    assert _put(client, auth, {"geofence_threshold_m": 4321}).status_code == 200
    device = Device(client, "dev-driver_a", auth("driver_a"))
    assert device.sync([device.event(stop_id)]).status_code == 200
    proof = client.get(f"/api/v1/stops/{stop_id}/proof", headers=auth("dispatcher")).get_json()
    assert proof["proof"]["geo_check"]["threshold_m"] == 4321


def test_new_stops_without_a_policy_get_the_default_and_those_with_one_keep_theirs(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    policy = {"signature": True, "photo": True, "min_photos": 2}
    assert _put(client, auth, {"default_proof_policy": policy}).status_code == 200
    csv = (
        "order_number,address,lat,lon,parcels,signature_required\n"
        "D-1,1 A St,47.6,-122.3,P1,\n"
        "D-2,2 A St,47.6,-122.3,P2,no\n"
    )
    response = client.post(
        "/api/v1/stops/import?date=2026-11-24",
        data=csv,
        headers={**auth("dispatcher"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.get_json()
    session.rollback()
    stops = {s.order_number: s for s in session.scalars(select(Stop))}
    assert stops["D-1"].proof_policy == {
        "signature": True,
        "photo": True,
        "min_photos": 2,
        "age_check": False,
        "parcel_scan": False,
    }
    assert stops["D-2"].proof_policy["signature"] is False
    assert stops["D-2"].proof_policy["photo"] is False


def test_a_change_that_changes_nothing_makes_no_version(
    client: FlaskClient, world: World, auth: Auth, session: Session
) -> None:
    assert _put(client, auth, {"timezone": "UTC", "geofence_threshold_m": 150}).status_code == 200
    assert client.get(URL, headers=auth("admin")).get_json()["version"] == 0
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OrgSettingsVersion)) == 0
    assert [e for e in audit.entries(session) if e.action == "settings.change"] == []
