"""Fixtures shared by the API tests."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Stop
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, files_by_hash, png, ref


@pytest.fixture
def delivered(client: FlaskClient, world: World, session: Session, token_for) -> Stop:  # type: ignore[no-untyped-def]
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    stop = session.scalars(
        select(Stop).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
    ).first()
    assert stop is not None
    stop.recipient_name = "Ann 100%_Real Lee"
    session.commit()
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync([device.event(stop.id, evidence=[ref(png("sig"))])]).get_json()
    device.upload_owed(body, files_by_hash(png("sig")))
    return stop
