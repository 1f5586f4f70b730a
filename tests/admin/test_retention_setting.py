"""The retention job's default cut-off is each organization's retention setting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.db.session import Database
from backend.domain.clock import SetClock
from backend.evidence.retention import purge_before
from backend.wiring import evidence_store
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, png, ref

Auth = Callable[[str], dict[str, str]]


def test_evidence_older_than_the_organizations_retention_days_is_purged(
    app: Flask,
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    database: Database,
    clock: SetClock,
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    device = Device(client, "dev-driver_a", auth("driver_a"))
    sig = png("kept-then-purged")
    device.upload_owed(
        device.sync([device.event(stop_id, evidence=[ref(sig)])]).get_json(),
        {ref(sig)["sha256"]: sig},
    )
    changed = client.put(
        "/api/v1/admin/settings", json={"evidence_retention_days": 2}, headers=auth("admin")
    )
    assert changed.status_code == 200
    # The job reads "now" from the app's clock, as `doorstep retention` does.
    with app.app_context():
        store = evidence_store()
        clock.advance(timedelta(days=2))
        with database.session() as job:
            assert purge_before(job, store, None).kept_recent == [ref(sig)["sha256"]]
        clock.advance(timedelta(days=1))
        with database.session() as job:
            assert purge_before(job, store, None).purged == [ref(sig)["sha256"]]
