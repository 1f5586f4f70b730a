"""Login, refresh rotation, family revocation and login throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Device, RefreshToken
from backend.domain.clock import SetClock
from tests.conftest import World


def _login(client: FlaskClient, username: str = "driver_a", password: str = "pw") -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device_id": "handheld-7"},
    )
    return {"status": response.status_code, **response.get_json()}


def test_login_returns_a_bearer_token_pair(client: FlaskClient, world: World) -> None:
    body = _login(client)
    assert body["status"] == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] != body["refresh_token"]


def test_login_registers_the_device(client: FlaskClient, world: World, session: Session) -> None:
    _login(client)
    device = session.scalars(select(Device).where(Device.device_key == "handheld-7")).one()
    assert device.user_id == world.users["driver_a"]


def test_wrong_password_is_refused_with_a_stable_code(client: FlaskClient, world: World) -> None:
    body = _login(client, password="nope")
    assert body["status"] == 401
    assert body["code"] == "invalid_credentials"


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
    client: FlaskClient, world: World
) -> None:
    body = _login(client, username="nobody")
    assert (body["status"], body["code"]) == (401, "invalid_credentials")


def test_login_requires_a_device_id(client: FlaskClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", json={"username": "driver_a", "password": "pw"})
    assert response.status_code == 422
    assert "device_id" in response.get_json()["errors"]


@pytest.mark.parametrize("device_id", ["handheld-7\n", "hand held", "ü"])
def test_a_device_id_outside_its_pattern_is_refused(
    client: FlaskClient, world: World, device_id: str
) -> None:
    # The pattern is checked with fullmatch: no trailing newline slips past "$".
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": device_id},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["device_id"] == ["use letters, digits and _ . : - only"]


def test_the_documented_device_id_pattern_is_ecma_262(client: FlaskClient) -> None:
    # "\Z" is Python-only; JSON Schema validators (schemathesis's among them) reject it.
    spec = client.get("/api/v1/openapi.json").get_json()
    pattern = spec["components"]["schemas"]["Login"]["properties"]["device_id"]["pattern"]
    assert pattern == "^[A-Za-z0-9_.:-]+$"


def test_repeated_failures_are_rate_limited_even_with_the_right_password(
    client: FlaskClient, world: World
) -> None:
    for _ in range(5):
        assert _login(client, password="wrong")["status"] == 401
    body = _login(client)
    assert body["status"] == 429
    assert body["code"] == "rate_limited"


def test_rate_limited_login_says_when_to_retry(client: FlaskClient, world: World) -> None:
    for _ in range(5):
        _login(client, password="wrong")
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "driver_a", "password": "pw", "device_id": "d"},
    )
    assert int(response.headers["Retry-After"]) > 0


def test_refresh_rotates_the_refresh_token(client: FlaskClient, world: World) -> None:
    first = _login(client)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    me = client.get(
        "/api/v1/manifests/mine?date=2026-11-24",
        headers={"Authorization": f"Bearer {second['access_token']}"},
    )
    assert me.status_code == 404  # authenticated; this driver simply has no manifest


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: FlaskClient, world: World, session: Session, clock: SetClock
) -> None:
    first = _login(client)
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).get_json()
    clock.advance(timedelta(seconds=31))  # past the grace window for a lost response
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.get_json()["code"] == "token_reused"
    # The legitimate holder's newer token is revoked too: the thief cannot keep a branch.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    assert after.get_json()["code"] == "token_revoked"
    tokens = session.scalars(select(RefreshToken)).all()
    assert tokens
    assert all(t.revoked_at is not None for t in tokens)


def test_reuse_revokes_only_its_own_family(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    stolen = _login(client)
    other_login = _login(client)
    client.post("/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    clock.advance(timedelta(seconds=31))
    client.post("/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    untouched = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]}
    )
    assert untouched.status_code == 200


def test_an_access_token_cannot_be_used_to_refresh(client: FlaskClient, world: World) -> None:
    pair = _login(client)
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_type"


def test_a_refresh_token_cannot_be_used_as_an_access_token(
    client: FlaskClient, world: World
) -> None:
    pair = _login(client)
    response = client.get(
        "/api/v1/manifests/mine", headers={"Authorization": f"Bearer {pair['refresh_token']}"}
    )
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_type"
