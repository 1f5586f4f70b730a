"""TOTP two-factor sign-in for console staff: enrol, sign in with a code, required by
the organization, single-use codes, wrong codes throttled, secrets never audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.admin import audit
from backend.domain.clock import SetClock
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _password(client: FlaskClient, username: str = "dispatcher") -> Any:
    page = client.get("/console/login").get_data(as_text=True)
    return client.post(
        "/console/login",
        data={"username": username, "password": "pw", "csrf_token": _csrf(page), "next": ""},
    )


def _post(client: FlaskClient, url: str, page_url: str, **data: str) -> Any:
    page = client.get(page_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": _csrf(page), **data})


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/console/account/two-factor").status_code == 200


def _enrol(client: FlaskClient, clock: SetClock) -> str:
    """Sign in with a password, enrol from the account page; the secret."""
    assert _password(client).status_code == 302
    page = _post(client, "/console/account/two-factor", "/console/account/two-factor")
    html = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert secret, html
    assert f"secret={secret.group(1)}" in html  # the provisioning URI, shown once too
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    done = _post(
        client, "/console/account/two-factor/confirm", "/console/account/two-factor", code=code
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    assert "On:" in client.get("/console/account/two-factor").get_data(as_text=True)
    client.post("/console/logout", data={"csrf_token": _csrf(page.get_data(as_text=True))})
    return secret.group(1)


def test_an_enrolled_user_signs_in_with_a_code_after_the_password(
    app: Flask, world: World, clock: SetClock, session: Session
) -> None:
    secret = _enrol(app.test_client(), clock)
    client = app.test_client()
    response = _password(client)
    assert response.headers["Location"].endswith("/console/login/code")
    assert not _signed_in(client)
    clock.advance(timedelta(seconds=30))
    code = pyotp.TOTP(secret).at(clock.now())
    signed = _post(client, "/console/login/code", "/console/login/code", code=code)
    assert signed.status_code == 302
    assert _signed_in(client)
    session.rollback()
    [entry] = [e for e in audit.entries(session) if e.action == "user.totp_enrol"]
    assert secret not in str(entry.before) + str(entry.after)
    assert entry.after == {"two_factor": True}


def test_a_code_works_once(app: Flask, world: World, clock: SetClock) -> None:
    secret = _enrol(app.test_client(), clock)
    clock.advance(timedelta(seconds=30))
    code = pyotp.TOTP(secret).at(clock.now())
    first = app.test_client()
    _password(first)
    assert _post(first, "/console/login/code", "/console/login/code", code=code).status_code == 302
    second = app.test_client()
    _password(second)
    replay = _post(second, "/console/login/code", "/console/login/code", code=code)
    assert replay.status_code == 401
    assert 'data-code="invalid_totp_code"' in replay.get_data(as_text=True)
    assert not _signed_in(second)


def test_wrong_codes_count_against_the_login_throttle(
    app: Flask, world: World, clock: SetClock
) -> None:
    _enrol(app.test_client(), clock)
    clock.freeze()  # each wait must not run out while a slow machine runs this
    client = app.test_client()
    _password(client)
    statuses = [
        _post(client, "/console/login/code", "/console/login/code", code="000000").status_code
        for _ in range(8)
    ]
    assert statuses[0] == 401
    assert 429 in statuses


def test_when_the_organization_requires_it_staff_without_a_code_enrol_at_login(
    app: Flask, world: World, clock: SetClock, auth: Auth
) -> None:
    client: FlaskClient = app.test_client()
    changed = client.put(
        "/api/v1/admin/settings", json={"require_staff_totp": True}, headers=auth("admin")
    )
    assert changed.status_code == 200
    response = _password(client, "support")
    assert response.headers["Location"].endswith("/console/login/enrol")
    assert not _signed_in(client)
    html = client.get("/console/login/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    assert secret
    wrong = client.post("/console/login/enrol", data={"csrf_token": _csrf(html), "code": "123456"})
    assert wrong.status_code == 401
    assert secret.group(1) not in wrong.get_data(as_text=True)
    right = client.post(
        "/console/login/enrol",
        data={"csrf_token": _csrf(html), "code": pyotp.TOTP(secret.group(1)).at(clock.now())},
    )
    assert right.status_code == 302
    assert _signed_in(client)


def test_an_admin_resets_a_lost_second_factor(
    app: Flask, world: World, clock: SetClock, auth: Auth
) -> None:
    _enrol(app.test_client(), clock)
    client = app.test_client()
    reset = client.delete(
        f"/api/v1/admin/users/{world.users['dispatcher']}/two-factor", headers=auth("admin")
    )
    assert reset.status_code == 204
    response = _password(client)
    assert response.status_code == 302
    assert _signed_in(client)


def _api_login(client: FlaskClient, username: str, **extra: str) -> Any:
    body = {"username": username, "password": "pw", "device_id": "laptop", **extra}
    return client.post("/api/v1/auth/token", json=body)


def test_staff_with_two_factor_need_a_code_for_an_api_token_too(
    app: Flask, world: World, clock: SetClock
) -> None:
    secret = _enrol(app.test_client(), clock)
    client = app.test_client()
    missing = _api_login(client, "dispatcher")
    assert (missing.status_code, missing.get_json()["code"]) == (401, "totp_code_required")
    wrong = _api_login(client, "dispatcher", totp_code="000000")
    assert (wrong.status_code, wrong.get_json()["code"]) == (401, "invalid_totp_code")
    clock.advance(timedelta(seconds=30))
    right = _api_login(client, "dispatcher", totp_code=pyotp.TOTP(secret).at(clock.now()))
    assert right.status_code == 200, right.get_json()


def test_a_required_second_factor_stops_unenrolled_staff_at_the_api_but_not_drivers(
    app: Flask, world: World, auth: Auth
) -> None:
    client = app.test_client()
    changed = client.put(
        "/api/v1/admin/settings", json={"require_staff_totp": True}, headers=auth("admin")
    )
    assert changed.status_code == 200
    refused = _api_login(client, "support")
    assert (refused.status_code, refused.get_json()["code"]) == (403, "totp_enrolment_required")
    assert _api_login(client, "driver_a").status_code == 200
