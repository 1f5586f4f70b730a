"""The operator's commands: a new organization and its admin, and recovery when no
admin can sign in. Bad input exits non-zero with a clear message and writes nothing."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin.audit import OPERATOR
from backend.config import Settings
from backend.db.models import AuditEntry, Organization, User
from tests.admin.cli_helpers import run_cli

STRONG = "lantern-orbit-cactus-9"


@pytest.fixture
def cli(
    settings: Settings,
    database: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # type: ignore[no-untyped-def]
    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        return run_cli(monkeypatch, capsys, settings.database_url, *argv, stdin=stdin)

    return run


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Organization, User, AuditEntry)
    )


def test_org_create_makes_the_tenant_and_an_admin_who_must_change_the_password(
    cli, client: FlaskClient, session: Session
) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = cli(
        "org", "create", "Acme Deliveries, Inc.", "--timezone", "Europe/Paris", "--admin", "ana"
    )
    assert status == 0
    assert "acme-deliveries-inc" in out
    password = re.search(r"one-time password for ana: (\S+)", out)
    assert password is not None
    org = session.scalars(select(Organization)).one()
    assert (org.slug, org.timezone) == ("acme-deliveries-inc", "Europe/Paris")
    login = client.post(
        "/api/v1/auth/token",
        json={"username": "ana", "password": password.group(1), "device_id": "laptop"},
    )
    assert login.status_code == 200
    assert login.get_json()["must_change_password"] is True
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert list(actions) == ["organization.create", "user.create"]
    assert set(session.scalars(select(AuditEntry.actor))) == {OPERATOR}

    listed = cli("org", "list")
    assert listed[0] == 0
    assert "acme-deliveries-inc" in listed[1]
    assert "ana" in listed[1]


@pytest.mark.parametrize(
    ("argv", "stdin", "says"),
    [
        (("--timezone", "Mars/Olympus", "--admin", "bob"), "", "unknown time zone"),
        (("--timezone", "UTC", "--admin", "bob", "--password-stdin"), "short\n", "12"),
        (("--timezone", "UTC", "--admin", "bob", "--password-stdin"), "qwertyuiop123\n", "common"),
        (("--timezone", "UTC", "--admin", "taken"), "", "taken"),
        (("--timezone", "UTC", "--admin", "bad name"), "", "username"),
    ],
)
def test_org_create_refuses_bad_input_and_writes_nothing(
    cli, session: Session, argv: tuple[str, ...], stdin: str, says: str
) -> None:  # type: ignore[no-untyped-def]
    assert cli("org", "create", "First", "--timezone", "UTC", "--admin", "taken")[0] == 0
    before = _counts(session)
    status, _out, err = cli("org", "create", "Beta", *argv, stdin=stdin)
    assert status == 1
    assert says in err
    assert "Traceback" not in err
    assert _counts(session) == before


def test_an_organization_is_created_once(cli, session: Session) -> None:  # type: ignore[no-untyped-def]
    assert cli("org", "create", "Beta", "--timezone", "UTC", "--admin", "bob")[0] == 0
    status, _, err = cli("org", "create", "BETA", "--timezone", "UTC", "--admin", "carl")
    assert status == 1
    assert "org_exists" in err
    assert session.scalar(select(User.id).where(User.username == "carl")) is None


def test_recovery_commands_add_deactivate_and_reset(
    cli, client: FlaskClient, session: Session
) -> None:  # type: ignore[no-untyped-def]
    cli("org", "create", "Beta", "--timezone", "UTC", "--admin", "bob", stdin="")
    status, out, _ = cli(
        "user", "add", "beta", "carl", "--role", "admin", "--password-stdin", stdin=f"{STRONG}\n"
    )
    assert status == 0
    assert cli("user", "add", "beta", "dan", "--role", "pilot")[0] == 1
    assert cli("user", "add", "nowhere", "dan", "--role", "driver")[0] == 1
    assert cli("user", "add", "beta", "carl", "--role", "driver")[0] == 1

    login = client.post(
        "/api/v1/auth/token", json={"username": "carl", "password": STRONG, "device_id": "x"}
    )
    assert login.status_code == 200
    token = login.get_json()["refresh_token"]

    assert cli("user", "deactivate", "carl")[0] == 0
    assert cli("user", "deactivate", "carl")[0] == 0  # already done: nothing to do
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": token}).status_code == 401
    # bob is now the last active admin of beta.
    status, _, err = cli("user", "deactivate", "bob")
    assert (status, "last_admin" in err) == (1, True)

    status, out, _ = cli("user", "reset-password", "bob")
    assert status == 0
    password = re.search(r"one-time password for bob: (\S+)", out)
    assert password is not None
    relogin = client.post(
        "/api/v1/auth/token",
        json={"username": "bob", "password": password.group(1), "device_id": "x"},
    )
    assert relogin.get_json()["must_change_password"] is True
    assert cli("user", "reset-password", "nobody")[0] == 1
    actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("user.deactivate") == 1
    assert "user.reset_password" in actions
