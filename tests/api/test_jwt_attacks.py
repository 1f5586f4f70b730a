"""Tokens an attacker might forge or replay are all refused with 401 and a stable code."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.auth.tokens import ALGORITHM, Principal, TokenType, issue_token
from backend.config import Settings
from backend.domain.roles import Role
from tests.conftest import World
from tests.factories import SERVICE_DATE

URL = f"/api/v1/manifests/mine?date={SERVICE_DATE.isoformat()}"


def _get(client: FlaskClient, token: str) -> tuple[int, str]:
    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()["code"]


def _principal(world: World) -> Principal:
    return Principal(world.users["driver_a"], world.org_id, Role.DRIVER, "driver_a", "dev")


# The app's clock starts at 17:00 on the service date (tests/conftest.py).
CLOCK_START = int(datetime.combine(SERVICE_DATE, time(17, 0), UTC).timestamp())


def _claims(settings: Settings, world: World, **overrides: object) -> dict[str, object]:
    now = CLOCK_START
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(world.users["driver_a"]),
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "typ": "access",
        "org": world.org_id,
        "role": "driver",
        "name": "driver_a",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(settings: Settings, claims: dict[str, object], **kwargs: object) -> str:
    kid, secret = settings.active_jwt_key
    headers = {"kid": kid, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers=headers)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_genuine_token_is_accepted(client: FlaskClient, world: World, settings: Settings) -> None:
    token = _sign(settings, _claims(settings, world))
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_alg_none_is_refused(client: FlaskClient, world: World, settings: Settings) -> None:
    unsigned = _b64({"alg": "none", "typ": "JWT", "kid": "demo-1"}) + "."
    unsigned += _b64(_claims(settings, world)) + "."
    assert _get(client, unsigned) == (401, "token_algorithm")


def test_another_algorithm_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    kid, secret = settings.active_jwt_key
    token = jwt.encode(_claims(settings, world), secret, algorithm="HS512", headers={"kid": kid})
    assert _get(client, token) == (401, "token_algorithm")


def test_an_expired_token_is_refused(client: FlaskClient, world: World, settings: Settings) -> None:
    past = CLOCK_START - int(timedelta(hours=2).total_seconds())
    token = _sign(settings, _claims(settings, world, iat=past - 600, exp=past))
    assert _get(client, token) == (401, "token_expired")


def test_a_token_for_another_audience_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    token = _sign(settings, _claims(settings, world, aud="someone-else"))
    assert _get(client, token) == (401, "token_audience")


def test_a_token_from_another_issuer_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    token = _sign(settings, _claims(settings, world, iss="evil"))
    assert _get(client, token) == (401, "token_issuer")


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "aud", "iss", "typ"])
def test_a_token_missing_a_required_claim_is_refused(
    client: FlaskClient, world: World, settings: Settings, claim: str
) -> None:
    claims = _claims(settings, world)
    del claims[claim]
    status, _code = _get(client, _sign(settings, claims))
    assert status == 401


def test_a_tampered_payload_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    header, _payload, signature = _sign(settings, _claims(settings, world)).split(".")
    promoted = _b64(_claims(settings, world, role="admin"))
    assert _get(client, f"{header}.{promoted}.{signature}") == (401, "token_signature")


def test_a_token_signed_with_another_secret_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    kid = settings.active_jwt_key[0]
    token = jwt.encode(
        _claims(settings, world), "x" * 48, algorithm=ALGORITHM, headers={"kid": kid}
    )
    assert _get(client, token) == (401, "token_signature")


def test_an_unknown_key_id_is_refused(
    client: FlaskClient, world: World, settings: Settings
) -> None:
    token = _sign(settings, _claims(settings, world), headers={"kid": "retired"})
    assert _get(client, token) == (401, "token_unknown_key")


def test_garbage_is_refused_as_malformed(client: FlaskClient, world: World) -> None:
    assert _get(client, "not.a.jwt") == (401, "token_malformed")


def test_a_missing_header_asks_for_authentication(client: FlaskClient) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication_required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_signed_by_a_retiring_key_still_verify_after_rotation(
    app: Flask, world: World, settings: Settings
) -> None:
    with app.app_context():  # tokens are stamped by the app's clock
        old_token = issue_token(settings, TokenType.ACCESS, _principal(world)).token
    rotated = replace(settings, jwt_keys=(("k2", "n" * 48), *settings.jwt_keys))
    app.config["DOORSTEP"] = rotated
    client = app.test_client()
    assert client.get(URL, headers={"Authorization": f"Bearer {old_token}"}).status_code == 404
    new_token = issue_token(rotated, TokenType.ACCESS, _principal(world)).token
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"


def test_a_token_for_another_tenant_cannot_reach_this_tenants_data(
    client: FlaskClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    response = client.get(URL, headers=auth("other_driver"))
    assert response.status_code == 404
