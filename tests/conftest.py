"""Fixtures shared by every test: databases on both backends, the app and a client.

Every API test runs twice, on SQLite and on PostgreSQL. The PostgreSQL run creates its
own uniquely named database on 127.0.0.1:5432 and drops it at the end; when no server
is reachable those runs are skipped and the session says so loudly at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.app import create_app
from backend.config import PROJECT_ROOT, Settings, load_settings
from backend.db.models import Base
from backend.db.session import Database
from backend.domain.clock import SetClock
from tests.browser import start_browser
from tests.factories import SERVICE_DATE

PG_ADMIN_URL = os.environ.get(
    "DOORSTEP_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
_pg_skip_reason: list[str] = []


def _migrate(url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["url"] = url
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"doorstep_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("DOORSTEP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        _pg_skip_reason.append(str(exc).strip().splitlines()[0])
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        _migrate(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _pg_skip_reason:
        terminalreporter.write_sep(
            "!", "POSTGRESQL TESTS WERE SKIPPED: no server reachable", red=True, bold=True
        )
        terminalreporter.write_line(f"reason: {_pg_skip_reason[0]}")


@pytest.fixture(scope="session", autouse=True)
def _secrets_outside_the_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Anything that reads the real environment (a server started by a test, the demo)
    keeps its per-install secrets in a temporary folder, never in the checkout's var/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOORSTEP_SECRETS_DIR", str(tmp_path_factory.mktemp("secrets")))
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _empty_all_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        database_url=database_url,
        storage_dir=tmp_path / "evidence",
        secrets_dir=tmp_path / "secrets",
        login_free_failures=5,
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    _empty_all_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> SetClock:
    """The app's clock: running, from 17:00 UTC on the tests' service date.

    The server reads "now" only from this clock, so tests that pin SERVICE_DATE pass on
    any real date (tests/test_time_is_an_input.py keeps it that way).
    """
    return SetClock(datetime.combine(SERVICE_DATE, time(17, 0), UTC))


@pytest.fixture
def app(settings: Settings, database: Database, clock: SetClock) -> Flask:
    app = create_app(settings, database, clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session for arranging data and checking results behind the API's back."""
    with database.session() as session:
        yield session


@dataclass
class World:
    """Two tenants with every role, for authorization tests."""

    org_id: int
    other_org_id: int
    users: dict[str, int]


@pytest.fixture
def world(session: Session) -> World:
    from tests.factories import make_org, make_user

    org = make_org(session, "acme")
    other = make_org(session, "globex")
    users = {
        "driver_a": make_user(session, org, "driver_a", "driver"),
        "driver_b": make_user(session, org, "driver_b", "driver"),
        "dispatcher": make_user(session, org, "dispatcher", "dispatcher"),
        "support": make_user(session, org, "support", "support"),
        "admin": make_user(session, org, "admin", "admin"),
        "other_driver": make_user(session, other, "other_driver", "driver"),
        "other_dispatcher": make_user(session, other, "other_dispatcher", "dispatcher"),
    }
    session.commit()
    return World(org.id, other.id, {name: user.id for name, user in users.items()})


@pytest.fixture
def token_for(client: FlaskClient) -> Callable[[str], str]:
    """Log ``username`` in (password 'pw') and return an access token."""

    cache: dict[str, str] = {}

    def token(username: str) -> str:
        if username not in cache:
            response = client.post(
                "/api/v1/auth/token",
                json={"username": username, "password": "pw", "device_id": f"dev-{username}"},
            )
            assert response.status_code == 200, response.get_json()
            cache[username] = response.get_json()["access_token"]
        return cache[username]

    return token


@pytest.fixture
def auth(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    """Headers carrying ``username``'s access token."""

    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(username)}"}

    return headers


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one for the whole run (see tests/browser.py for why)."""
    yield from start_browser()
