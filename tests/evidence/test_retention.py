"""The retention job deletes old evidence bytes, never under legal hold, and proofs
still verify afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import EvidenceFile, Stop
from backend.db.session import Database
from backend.domain.digest import verify_bundle
from backend.evidence.retention import purge_before
from backend.wiring import evidence_store
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, png, ref

Auth = Callable[[str], dict[str, str]]


def _two_deliveries(client: FlaskClient, world: World, session: Session, token_for) -> list[int]:  # type: ignore[no-untyped-def]
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=2)
    session.commit()
    ids = list(
        session.scalars(select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id))
    )
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    files = {ref(png(f"s{i}"))["sha256"]: png(f"s{i}") for i in range(2)}
    events = [device.event(stop_id, evidence=[ref(png(f"s{i}"))]) for i, stop_id in enumerate(ids)]
    device.upload_owed(device.sync(events).get_json(), files)
    return ids


def test_old_evidence_is_purged_except_under_legal_hold(
    app: Flask,
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    ids = _two_deliveries(client, world, session, token_for)
    client.post(
        "/api/v1/disputes",
        json={"stop_id": ids[1], "reason": "not_received"},
        headers=auth("support"),
    )
    held_sha, purged_sha = ref(png("s1"))["sha256"], ref(png("s0"))["sha256"]
    with app.app_context():
        store = evidence_store()
    with database.session() as job:
        dry = purge_before(job, store, date(2026, 11, 25), dry_run=True)
    assert dry.purged == [purged_sha]
    assert store.exists(world.org_id, purged_sha)

    with database.session() as job:
        report = purge_before(job, store, date(2026, 11, 25))
    assert (report.purged, report.kept_on_legal_hold) == ([purged_sha], [held_sha])
    assert not store.exists(world.org_id, purged_sha)
    assert store.exists(world.org_id, held_sha)
    session.rollback()
    purged = session.scalars(select(EvidenceFile).where(EvidenceFile.sha256 == purged_sha)).one()
    assert purged.purged_at is not None

    bundle = client.get(f"/api/v1/stops/{ids[0]}/proof", headers=auth("support")).get_json()
    assert bundle["status"] == "delivered"
    assert bundle["files"][0]["purged"] is True
    keys = {kid: __import__("base64").b64decode(k) for kid, k in bundle["public_keys"].items()}
    assert verify_bundle(bundle, keys) == []
    gone = client.get(f"/api/v1/evidence/{purged_sha}", headers=auth("support"))
    assert (gone.status_code, gone.get_json()["code"]) == (410, "file_purged")


def test_recent_evidence_is_kept(
    app: Flask,
    client: FlaskClient,
    world: World,
    session: Session,
    token_for,  # type: ignore[no-untyped-def]
    database: Database,
) -> None:
    _two_deliveries(client, world, session, token_for)
    with app.app_context():
        store = evidence_store()
    with database.session() as job:
        report = purge_before(job, store, date(2026, 11, 24))
    assert report.purged == []
    assert len(report.kept_recent) == 2
