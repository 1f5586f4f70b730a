"""A driver's day with three stops, and a tracking link for the second one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import Stop
from backend.db.session import scope_to_tenant
from backend.tracking import tokens
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device

NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


@dataclass
class Day:
    stops: list[int]
    token: str

    @property
    def mine(self) -> int:
        """The stop the link was issued for (the second of the day)."""
        return self.stops[1]


@pytest.fixture
def day(session: Session, world: World, settings: Settings) -> Day:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    stops = list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )
    for n, stop_id in enumerate(stops, start=1):
        stop = session.get(Stop, stop_id)
        assert stop is not None
        stop.recipient_name = f"Secret Neighbour {n}" if n != 2 else "Ada Recipient"
        stop.address = f"{n} Hidden Lane" if n != 2 else "2 Known Street"
        stop.promised_start = NOW.replace(hour=14)
        stop.promised_end = NOW.replace(hour=18)
        stop.created_at = NOW - timedelta(days=1, hours=3)  # planned the day before
    scope_to_tenant(session, world.org_id)
    token = tokens.issue(
        session, world.org_id, stops[1], settings.secret_key, NOW - timedelta(days=1)
    )
    session.commit()
    return Day(stops, token)


@pytest.fixture
def device(client: FlaskClient, world: World, token_for: Callable[[str], str]) -> Device:
    return Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
