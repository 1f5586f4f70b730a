"""The customer's proof-of-delivery PDF."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Stop
from driver_client.media import render_signature
from tests.client.test_media import _camera_jpeg
from tests.conftest import World
from tests.factories import make_manifest
from tests.sync.helpers import Device, ref

Auth = Callable[[str], dict[str, str]]


def test_the_pdf_carries_the_proof_and_its_digest_but_no_photo_metadata(
    client: FlaskClient,
    world: World,
    session: Session,
    auth: Auth,
    token_for,  # type: ignore[no-untyped-def]
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert stop_id is not None
    signature = render_signature([[(10, 10), (80, 60), (150, 20)]], (200, 80))
    photo = _camera_jpeg((800, 600))  # as a careless device might send it: with EXIF + GPS
    files = {ref(signature)["sha256"]: signature, ref(photo)["sha256"]: photo}
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    body = device.sync(
        [device.event(stop_id, evidence=[ref(signature), ref(photo, "photo", "image/jpeg")])]
    ).get_json()
    device.upload_owed(body, files)
    bundle = client.get(f"/api/v1/stops/{stop_id}/proof", headers=auth("support")).get_json()

    response = client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("support"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    pdf = response.data
    assert pdf.startswith(b"%PDF")
    assert b"Proof of delivery" in pdf
    assert bundle["proof"]["digest"].encode() in pdf
    assert b"/Subtype /Image" in pdf
    assert pdf.count(b"/Subtype /Image") >= 2
    assert b"PhoneMaker" not in pdf  # the camera's EXIF did not survive


def test_drivers_cannot_download_proof_documents(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    session.commit()
    stop_id = session.scalar(select(Stop.id).where(Stop.manifest_id == manifest.id))
    assert (
        client.get(f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("driver_a")).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/stops/{stop_id}/proof.pdf", headers=auth("other_dispatcher")
        ).status_code
        == 404
    )
