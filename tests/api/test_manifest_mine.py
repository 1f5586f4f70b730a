"""GET /api/v1/manifests/mine: the driver's own manifest, ETags, 304s and gzip."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import Organization
from backend.domain.clock import SetClock
from backend.manifests.service import bump_revision
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest

URL = f"/api/v1/manifests/mine?date={SERVICE_DATE.isoformat()}"
Auth = Callable[[str], dict[str, str]]


def _arrange(session: Session, world: World, stops: int = 3) -> int:
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=stops)
    session.commit()
    return manifest.id


def test_driver_gets_their_stops_in_order(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world, stops=4)
    response = client.get(URL, headers=auth("driver_a"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["driver"] == "driver_a"
    assert [s["sequence"] for s in body["stops"]] == [1, 2, 3, 4]
    first = body["stops"][0]
    assert set(first) >= {
        "id",
        "sequence",
        "status",
        "version",
        "address",
        "location",
        "time_window",
        "recipient",
        "parcels",
        "proof_policy",
        "instructions",
    }
    assert first["location"] == {"lat": 47.611, "lon": -122.331}
    assert first["time_window"]["start"] == "2026-11-24T09:00:00Z"
    assert first["proof_policy"]["signature"] is True
    assert first["parcels"][0]["barcode"].startswith("PKG")


def test_date_defaults_to_today_in_the_organizations_time_zone(
    client: FlaskClient, world: World, session: Session, auth: Auth, clock: SetClock
) -> None:
    # 19:00 in Seattle is already 03:00 tomorrow in UTC: today is still Seattle's date.
    session.execute(
        update(Organization)
        .where(Organization.id == world.org_id)
        .values(timezone="America/Los_Angeles")
    )
    make_manifest(session, world.org_id, world.users["driver_a"], service_date=SERVICE_DATE)
    session.commit()
    clock.set(datetime.combine(SERVICE_DATE + timedelta(days=1), time(3, 0), UTC))
    response = client.get("/api/v1/manifests/mine", headers=auth("driver_a"))
    assert response.status_code == 200
    assert response.get_json()["service_date"] == SERVICE_DATE.isoformat()


def test_response_carries_an_etag_and_revalidates_with_304(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world)
    first = client.get(URL, headers=auth("driver_a"))
    etag = first.headers["ETag"]
    again = client.get(URL, headers={**auth("driver_a"), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag


def test_a_changed_manifest_no_longer_matches_the_old_etag(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    manifest_id = _arrange(session, world)
    etag = client.get(URL, headers=auth("driver_a")).headers["ETag"]
    bump_revision(session, manifest_id)
    session.commit()
    again = client.get(URL, headers={**auth("driver_a"), "If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["ETag"] != etag
    assert again.get_json()["revision"] == 2


def test_a_strong_form_of_the_etag_also_revalidates(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world)
    etag = client.get(URL, headers=auth("driver_a")).headers["ETag"]
    strong = etag.removeprefix("W/")
    again = client.get(URL, headers={**auth("driver_a"), "If-None-Match": f'"x", {strong}'})
    assert again.status_code == 304


def test_response_is_gzipped_when_asked(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world, stops=30)
    plain = client.get(URL, headers=auth("driver_a"))
    zipped = client.get(URL, headers={**auth("driver_a"), "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert len(zipped.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()


def test_driver_b_cannot_read_driver_a_manifest(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world)
    response = client.get(URL, headers=auth("driver_b"))
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_other_tenant_driver_sees_nothing(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    _arrange(session, world)
    assert client.get(URL, headers=auth("other_driver")).status_code == 404


def test_dispatcher_cannot_use_the_driver_endpoint(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    response = client.get(URL, headers=auth("support"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


def test_a_bad_date_is_a_validation_error(client: FlaskClient, world: World, auth: Auth) -> None:
    response = client.get("/api/v1/manifests/mine?date=2026-13-45", headers=auth("driver_a"))
    assert response.status_code == 422
    assert "date" in response.get_json()["errors"]


def test_an_unknown_query_parameter_is_rejected(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    response = client.get(URL + "&driver=driver_b", headers=auth("driver_a"))
    assert response.status_code == 422
    assert "driver" in response.get_json()["errors"]


def test_the_hand_written_encoder_matches_the_documented_schema(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    from backend.manifests.schemas import ManifestSchema

    _arrange(session, world)
    body = client.get(URL, headers=auth("driver_a")).get_json()
    # load() raises on any field the schema does not document or any missing field.
    ManifestSchema().load(body)
