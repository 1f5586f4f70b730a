from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import Notification, Stop
from backend.db.session import Database
from backend.notifications.transports import Transports
from backend.notifications.worker import send_due
from tests.conftest import World
from tests.factories import make_manifest
from tests.notifications.servers import SmsRecorder, SmtpRecorder, SmtpServer
from tests.sync.helpers import Device


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(SmtpRecorder()) as server:
        yield server


@pytest.fixture
def sms() -> Iterator[SmsRecorder]:
    with SmsRecorder() as server:
        yield server


@pytest.fixture
def stops(session: Session, world: World) -> list[int]:
    """Three stops on driver_a's manifest, each recipient with an e-mail address and
    a phone number (version 1, published to driver_a)."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    rows = session.scalars(
        select(Stop).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
    ).all()
    for n, stop in enumerate(rows, start=1):
        stop.recipient_email = f"Recipient{n}@Example.com"
        stop.recipient_phone = f"+1 206 555 010{n}"
    session.commit()
    return [stop.id for stop in rows]


@pytest.fixture
def device(client: FlaskClient, world: World, token_for: Callable[[str], str]) -> Device:
    return Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})


@pytest.fixture
def run_worker(app: Flask, database: Database, settings: Settings) -> Callable[..., dict[str, int]]:
    """One pass of the worker on the app's clock, with the given transports."""

    def run(transports: Transports, **options: Any) -> dict[str, int]:
        with app.app_context(), database.session() as session:
            return send_due(
                session, transports, settings.secret_key, settings.public_url, **options
            )

    return run


def rows(database: Database, **where: Any) -> list[Notification]:
    with database.session() as session:
        statement = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            statement = statement.where(getattr(Notification, name) == value)
        return list(session.scalars(statement))
