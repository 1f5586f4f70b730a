from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device


@pytest.fixture
def stops(session: Session, world: World) -> list[int]:
    """Three stops on driver_a's manifest (version 1, published to driver_a)."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    session.commit()
    from sqlalchemy import select

    from backend.db.models import Stop

    return list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )


@pytest.fixture
def device(client: FlaskClient, world: World, token_for: Callable[[str], str]) -> Device:
    return Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})


@pytest.fixture
def device_b(client: FlaskClient, world: World, token_for: Callable[[str], str]) -> Device:
    return Device(client, "dev-driver_b", {"Authorization": f"Bearer {token_for('driver_b')}"})
