"""Accounts and sessions (issue 13 §5): throttling that cannot lock an owner out, a
refresh that survives a lost response, revocation that bites at once, console sessions
that end on the server, per-install keys, and logins that cost the same either way."""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth import passwords
from backend.config import (
    DEMO_JWT_KEY,
    DEMO_RECEIPT_SEED,
    DEMO_SECRET_KEY,
    SECRETS_FILE,
    ConfigError,
    load_settings,
    per_install_secrets,
)
from backend.db.models import ConsoleSession, User
from backend.domain.clock import SetClock
from tests.conftest import World
from tests.console.pages import log_in, post_form

OWNER_ADDRESS = "198.51.100.7"
ATTACKER_ADDRESS = "203.0.113.66"
DEPOT_ADDRESS = "192.0.2.10"  # one NAT address for every handheld at the depot


def _login(
    client: FlaskClient,
    username: str = "driver_a",
    password: str = "pw",
    device_id: str = "handheld-7",
    address: str = OWNER_ADDRESS,
) -> Any:
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device_id": device_id},
        environ_base={"REMOTE_ADDR": address},
    )


def _refresh(client: FlaskClient, refresh_token: str) -> Any:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def _mine(client: FlaskClient, access_token: str) -> Any:
    return client.get(
        "/api/v1/manifests/mine?date=2026-11-24",
        headers={"Authorization": f"Bearer {access_token}"},
    )


def _set_active(session: Session, user_id: int, active: bool) -> None:
    user = session.get(User, user_id)
    assert user is not None
    user.is_active = active
    session.commit()


# --- throttling --------------------------------------------------------------------


def test_an_attacker_hammering_an_account_does_not_lock_out_its_owner(
    client: FlaskClient, world: World
) -> None:
    for _ in range(20):
        assert _login(client, password="guess", address=ATTACKER_ADDRESS).status_code in (401, 429)
    assert _login(client, password="pw", address=ATTACKER_ADDRESS).status_code == 429
    assert _login(client, password="pw", address=OWNER_ADDRESS).status_code == 200


def test_each_further_failure_from_a_source_doubles_its_wait(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    clock.freeze()
    waits = []
    for _ in range(5):  # the test settings allow 5 free failures
        assert _login(client, password="guess", address=ATTACKER_ADDRESS).status_code == 401
    for _ in range(4):
        refused = _login(client, password="pw", address=ATTACKER_ADDRESS)
        assert (refused.status_code, refused.get_json()["code"]) == (429, "rate_limited")
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(timedelta(seconds=waits[-1]))
        assert _login(client, password="guess", address=ATTACKER_ADDRESS).status_code == 401
    assert waits == [1, 2, 4, 8]


def test_the_wait_stops_growing_at_fifteen_minutes(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    clock.freeze()
    for _ in range(20):
        response = _login(client, password="guess", address=ATTACKER_ADDRESS)
        if response.status_code == 429:
            clock.advance(timedelta(seconds=int(response.headers["Retry-After"])))
            response = _login(client, password="guess", address=ATTACKER_ADDRESS)
        assert response.status_code == 401
    refused = _login(client, password="guess", address=ATTACKER_ADDRESS)
    assert int(refused.headers["Retry-After"]) == 15 * 60


def test_a_known_device_gets_in_while_others_at_its_address_hammer_the_account(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["DOORSTEP"] = dataclasses.replace(
        app.config["DOORSTEP"], login_free_failures_per_address=8
    )
    assert _login(client, device_id="handheld-7", address=DEPOT_ADDRESS).status_code == 200
    # Past the account's allowance at this address, and the address's own allowance.
    for username in ["driver_a"] * 5 + ["driver_b", "support", "nobody"]:
        _login(client, username, "guess", device_id="stolen-phone", address=DEPOT_ADDRESS)
    assert _login(client, device_id="stolen-phone", address=DEPOT_ADDRESS).status_code == 429
    assert _login(client, "driver_b", device_id="new-phone", address=DEPOT_ADDRESS).status_code == (
        429
    )
    assert _login(client, device_id="handheld-7", address=DEPOT_ADDRESS).status_code == 200


def test_claiming_a_known_devices_id_from_elsewhere_does_not_block_that_device(
    client: FlaskClient, world: World
) -> None:
    assert _login(client, device_id="handheld-7", address=DEPOT_ADDRESS).status_code == 200
    for _ in range(10):
        _login(client, password="guess", device_id="handheld-7", address=ATTACKER_ADDRESS)
    assert _login(client, device_id="handheld-7", address=ATTACKER_ADDRESS).status_code == 429
    assert _login(client, device_id="handheld-7", address=DEPOT_ADDRESS).status_code == 200


def test_one_address_spraying_many_accounts_is_slowed_down(
    app: Flask, client: FlaskClient, world: World
) -> None:
    app.config["DOORSTEP"] = dataclasses.replace(
        app.config["DOORSTEP"], login_free_failures_per_address=8
    )
    for n in range(8):
        assert _login(client, f"user{n}", "guess", address=ATTACKER_ADDRESS).status_code == 401
    refused = _login(client, "driver_b", "pw", address=ATTACKER_ADDRESS)
    assert (refused.status_code, refused.get_json()["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert _login(client, "driver_b", "pw", address=OWNER_ADDRESS).status_code == 200


def test_a_source_that_stays_quiet_is_forgotten(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    for _ in range(5):
        _login(client, password="guess", address=ATTACKER_ADDRESS)
    assert _login(client, address=ATTACKER_ADDRESS).status_code == 429
    clock.advance(timedelta(minutes=16))
    for _ in range(4):  # the free failures are back
        assert _login(client, password="guess", address=ATTACKER_ADDRESS).status_code == 401
    assert _login(client, address=ATTACKER_ADDRESS).status_code == 200


# --- refresh grace -----------------------------------------------------------------


def test_a_retried_refresh_within_the_grace_window_gets_the_same_pair(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    first = _login(client).get_json()
    rotated = _refresh(client, first["refresh_token"]).get_json()
    clock.advance(timedelta(seconds=20))  # the response was lost; the handheld retries
    retried = _refresh(client, first["refresh_token"])
    assert retried.status_code == 200
    assert retried.get_json() == rotated
    assert _mine(client, rotated["access_token"]).status_code == 404  # still logged in
    assert _refresh(client, rotated["refresh_token"]).status_code == 200


def test_a_refresh_replayed_after_the_grace_window_still_revokes_the_login(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    first = _login(client).get_json()
    rotated = _refresh(client, first["refresh_token"]).get_json()
    clock.advance(timedelta(seconds=31))
    replay = _refresh(client, first["refresh_token"])
    assert (replay.status_code, replay.get_json()["code"]) == (401, "token_reused")
    assert _refresh(client, rotated["refresh_token"]).get_json()["code"] == "token_revoked"


def test_a_replay_after_the_new_token_was_used_is_theft_even_within_the_grace_window(
    client: FlaskClient, world: World
) -> None:
    first = _login(client).get_json()
    rotated = _refresh(client, first["refresh_token"]).get_json()
    newest = _refresh(client, rotated["refresh_token"]).get_json()
    replay = _refresh(client, first["refresh_token"])
    assert (replay.status_code, replay.get_json()["code"]) == (401, "token_reused")
    assert _refresh(client, newest["refresh_token"]).status_code == 401


# --- revocation reaches access tokens at once ----------------------------------------


def test_a_deactivated_drivers_access_token_stops_working_at_once(
    client: FlaskClient, world: World, session: Session
) -> None:
    pair = _login(client).get_json()
    assert _mine(client, pair["access_token"]).status_code == 404
    _set_active(session, world.users["driver_a"], False)
    refused = _mine(client, pair["access_token"])
    assert (refused.status_code, refused.get_json()["code"]) == (401, "account_inactive")


def test_an_access_token_stops_working_once_its_login_is_revoked(
    client: FlaskClient, world: World, clock: SetClock
) -> None:
    first = _login(client).get_json()
    rotated = _refresh(client, first["refresh_token"]).get_json()
    clock.advance(timedelta(seconds=31))
    assert _refresh(client, first["refresh_token"]).status_code == 401  # theft detected
    refused = _mine(client, rotated["access_token"])
    assert (refused.status_code, refused.get_json()["code"]) == (401, "token_revoked")
    other_login = _login(client, device_id="handheld-8").get_json()
    assert _mine(client, other_login["access_token"]).status_code == 404


# --- console sessions --------------------------------------------------------------


def _copy_cookie(source: FlaskClient, app: Flask) -> FlaskClient:
    cookie = source.get_cookie("doorstep_console", path="/console")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("doorstep_console", cookie.value, path="/console")
    return thief


def test_a_copied_console_cookie_stops_working_after_logout(
    app: Flask, client: FlaskClient, world: World
) -> None:
    log_in(client, "dispatcher")
    thief = _copy_cookie(client, app)
    assert thief.get("/console/day").status_code == 200
    assert post_form(client, "/console/logout", {}).status_code == 302
    assert thief.get("/console/day").status_code == 302


def test_deactivation_ends_console_sessions_for_good(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    log_in(client, "dispatcher")
    elsewhere = _copy_cookie(client, app)
    _set_active(session, world.users["dispatcher"], False)
    assert client.get("/console/day").status_code == 302
    _set_active(session, world.users["dispatcher"], True)
    assert elsewhere.get("/console/day").status_code == 302
    ended = session.scalars(select(ConsoleSession.ended_at)).all()
    assert ended
    assert all(at is not None for at in ended)


def test_the_server_keeps_only_a_hash_of_the_console_session_token(
    client: FlaskClient, world: World, session: Session
) -> None:
    log_in(client, "dispatcher")
    cookie = client.get_cookie("doorstep_console", path="/console")
    assert cookie is not None
    stored = session.scalars(select(ConsoleSession.token_hash)).one()
    assert stored not in cookie.value


# --- per-install keys ----------------------------------------------------------------


def test_development_signs_with_a_per_install_key_not_the_published_one(tmp_path: Path) -> None:
    settings = load_settings(environ={}, secrets_dir=tmp_path)
    assert DEMO_JWT_KEY not in dict(settings.jwt_keys).values()
    assert settings.secret_key != DEMO_SECRET_KEY
    assert DEMO_RECEIPT_SEED not in dict(settings.receipt_keys).values()
    secrets_file = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    again = load_settings(environ={}, secrets_dir=tmp_path)  # a restart, another worker
    assert (again.jwt_keys, again.secret_key, again.receipt_keys) == (
        settings.jwt_keys,
        settings.secret_key,
        settings.receipt_keys,
    )
    assert load_settings(environ={}, secrets_dir=tmp_path / "other").jwt_keys != settings.jwt_keys


def test_secrets_given_in_the_environment_win_over_the_file(tmp_path: Path) -> None:
    key = "env-" + "k" * 40
    settings = load_settings(environ={"DOORSTEP_JWT_KEYS": f"e1:{key}"}, secrets_dir=tmp_path)
    assert settings.jwt_keys == (("e1", key),)
    assert settings.secret_key != DEMO_SECRET_KEY  # still from the file


def test_workers_starting_together_share_one_set_of_secrets(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: per_install_secrets(tmp_path), range(16)))
    assert all(result == results[0] for result in results)
    assert json.loads((tmp_path / SECRETS_FILE).read_text()) == results[0]
    assert [p.name for p in tmp_path.iterdir()] == [SECRETS_FILE]  # no temporary left


def test_production_never_writes_a_secrets_file_and_still_refuses_demo_keys(
    tmp_path: Path,
) -> None:
    settings = load_settings(environ={"DOORSTEP_ENV": "production"}, secrets_dir=tmp_path)
    with pytest.raises(ConfigError, match="demo"):
        settings.check_safe_for_production()
    assert not (tmp_path / SECRETS_FILE).exists()


# --- equal cost ----------------------------------------------------------------------


class _CountingHasher:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.verifications = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        result: bool = self.real.verify(password_hash, password)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def counting_hasher(monkeypatch: pytest.MonkeyPatch) -> _CountingHasher:
    hasher = _CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    return hasher


@pytest.mark.parametrize(
    ("username", "password", "arrange"),
    [
        ("nobody", "pw", None),
        ("driver_a", "wrong", None),
        ("driver_a", "pw", "deactivate"),
    ],
    ids=["unknown-user", "wrong-password", "inactive-user"],
)
def test_an_unknown_user_costs_the_same_hash_as_a_wrong_password(
    client: FlaskClient,
    world: World,
    session: Session,
    counting_hasher: _CountingHasher,
    username: str,
    password: str,
    arrange: str | None,
) -> None:
    if arrange == "deactivate":
        _set_active(session, world.users["driver_a"], False)
    response = _login(client, username, password)
    assert (response.status_code, response.get_json()["code"]) == (401, "invalid_credentials")
    assert counting_hasher.verifications == 1


def test_the_dummy_hash_costs_what_a_real_hash_costs() -> None:
    real: Callable[[str], str] = passwords.hash_password
    params = passwords._DUMMY_HASH.split("$")[3]
    assert real("anything").split("$")[3] == params
