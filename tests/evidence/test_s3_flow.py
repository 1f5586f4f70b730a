"""The whole evidence path on the S3 backend, against a real S3-compatible server."""

from __future__ import annotations

from collections.abc import Callable

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.db.models import Stop
from backend.evidence.storage import S3Store
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, png, ref


def _delivery_with_one_file(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: World,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> tuple[Device, int, bytes, dict]:  # type: ignore[type-arg]
    app.extensions["doorstep.store"] = s3_store
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = next(iter(s.id for s in session.query(Stop).filter_by(manifest_id=manifest.id)))
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    photo = png("photo-on-s3")
    body = device.sync([device.event(stop_id, evidence=[ref(photo, "photo")])]).get_json()
    [target] = body["uploads"]
    return device, stop_id, photo, target


def _status(session: Session, stop_id: int) -> str:
    session.rollback()
    stop = session.get(Stop, stop_id)
    assert stop is not None
    return stop.status.value


def test_presigned_upload_then_complete_finishes_the_proof(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: World,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> None:
    device, stop_id, photo, target = _delivery_with_one_file(
        app, client, session, world, token_for, s3_store
    )
    assert target["method"] == "POST"
    assert target["complete_url"].endswith("/complete")
    uploaded = requests.post(
        target["url"], data=target["fields"], files={"file": ("p", photo, "image/png")}, timeout=10
    )
    assert uploaded.status_code in (200, 204)
    assert _status(session, stop_id) == "evidence_pending"
    done = client.post(
        target["complete_url"].removeprefix("http://localhost"), headers=device.headers
    )
    assert done.status_code == 200, done.get_json()
    assert _status(session, stop_id) == "delivered"
    assert device.sync().get_json()["uploads"] == []


def test_completing_before_uploading_is_refused_and_keeps_the_file_pending(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: World,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> None:
    device, stop_id, _photo, target = _delivery_with_one_file(
        app, client, session, world, token_for, s3_store
    )
    done = client.post(
        target["complete_url"].removeprefix("http://localhost"), headers=device.headers
    )
    assert done.status_code == 409
    assert done.get_json()["code"] == "file_not_uploaded"
    assert _status(session, stop_id) == "evidence_pending"


def test_wrong_bytes_in_the_bucket_never_count(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: World,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> None:
    device, stop_id, photo, target = _delivery_with_one_file(
        app, client, session, world, token_for, s3_store
    )
    forged = photo[:-1] + b"!"
    requests.post(
        target["url"], data=target["fields"], files={"file": ("p", forged, "image/png")}, timeout=10
    )
    done = client.post(
        target["complete_url"].removeprefix("http://localhost"), headers=device.headers
    )
    assert done.status_code == 409
    assert _status(session, stop_id) == "evidence_pending"


def test_uploading_through_the_api_is_refused_on_s3(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: World,
    token_for: Callable[[str], str],
    s3_store: S3Store,
) -> None:
    device, _stop_id, photo, target = _delivery_with_one_file(
        app, client, session, world, token_for, s3_store
    )
    response = client.put(
        f"/api/v1/evidence/{target['sha256']}",
        data=photo,
        headers={**device.headers, "Content-Type": "image/png"},
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "upload_direct_to_store"
