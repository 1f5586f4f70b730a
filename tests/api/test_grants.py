"""Grants: a permission held on top of a role, given and taken back with `doorstep grant`."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.auth.tokens import TokenType, decode_token
from backend.cli import main
from backend.config import Settings
from backend.db.models import User
from tests.conftest import World


def _login_claims(client: FlaskClient, settings: Settings, username: str) -> dict[str, object]:
    body = client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": "pw", "device_id": "laptop"},
    ).get_json()
    with client.application.app_context():  # checked against the app's clock
        return decode_token(settings, body["access_token"], TokenType.ACCESS)


def test_a_grant_given_on_the_command_line_reaches_the_next_token(
    client: FlaskClient,
    settings: Settings,
    world: World,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert "grants" not in _login_claims(client, settings, "dispatcher")

    assert main(["grant", "dispatcher", "resolve_disputes"]) == 0
    assert "now holds: resolve_disputes" in capsys.readouterr().out
    assert _login_claims(client, settings, "dispatcher")["grants"] == ["resolve_disputes"]

    assert main(["grant", "dispatcher", "resolve_disputes", "--revoke"]) == 0
    user = session.get(User, world.users["dispatcher"])
    assert user is not None
    session.refresh(user)
    assert user.grants == []


def test_granting_an_unknown_user_fails_without_a_traceback(
    settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert main(["grant", "nobody", "resolve_disputes"]) == 1
    with pytest.raises(SystemExit):
        main(["grant", "dispatcher", "rule_the_world"])
