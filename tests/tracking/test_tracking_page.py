"""The recipient's page and its JSON: what they see at each point of the day, and
what they never see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.admin.settings import change_settings
from backend.db.models import DriverPosition, Stop, StopEta
from backend.db.session import scope_to_tenant
from backend.domain.stops import StopStatus
from backend.tracking import tokens
from tests.conftest import World
from tests.sync.helpers import Device, files_by_hash, jpeg, png, ref
from tests.tracking.conftest import NOW, Day


def _json(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/track/{token}")
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _eta(session: Session, world: World, stop_id: int, minutes: int, before: int) -> None:
    scope_to_tenant(session, world.org_id)
    session.merge(
        StopEta(
            org_id=world.org_id,
            stop_id=stop_id,
            eta_at=NOW + timedelta(minutes=minutes),
            stops_before=before,
            computed_at=NOW,
        )
    )
    session.commit()


def _position(session: Session, world: World) -> None:
    session.add(
        DriverPosition(
            org_id=world.org_id,
            driver_id=world.users["driver_a"],
            lat=47.6105,
            lon=-122.3305,
            accuracy_m=5.0,
            recorded_at=NOW - timedelta(minutes=1),
            received_at=NOW,
        )
    )
    session.commit()


def test_before_departure_the_page_shows_the_promised_window_in_the_org_zone(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    scope_to_tenant(session, world.org_id)
    change_settings(
        session, world.org_id, actor="t", actor_user_id=None, changes={"timezone": "Europe/Paris"}
    )
    view = _json(client, day.token)
    assert view["status"] == "planned"
    # 14:00 UTC is 15:00 in Paris in November.
    assert "15:00 to 19:00" in view["promised_window"]["text"]
    assert view["eta"] is None
    assert [entry["kind"] for entry in view["timeline"]] == ["planned"]
    page = client.get(f"/t/{day.token}")
    assert page.status_code == 200
    assert "15:00 to 19:00" in page.get_data(as_text=True)


def test_out_for_delivery_shows_the_eta_and_hides_the_position_until_next(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    assert device.sync([device.event(day.stops[0], "arrived")]).status_code == 200
    _eta(session, world, day.mine, minutes=25, before=4)
    _position(session, world)
    view = _json(client, day.token)
    assert view["status"] == "out_for_delivery"
    assert view["eta"]["text"] == "about 25 minutes, 4 stops before yours"
    assert view["driver"] == {"first_name": "Driver", "position": None}
    assert "out_for_delivery" in [entry["kind"] for entry in view["timeline"]]

    _eta(session, world, day.mine, minutes=6, before=0)
    view = _json(client, day.token)
    assert view["status"] == "arriving"
    assert view["eta"]["text"] == "about 6 minutes, you are next"
    position = view["driver"]["position"]
    assert position["lat"] == 47.6105
    assert position["distance_m"] > 0


def test_another_stop_its_recipient_and_the_device_never_appear(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    photo = jpeg("door")
    signature = png("sig")
    first = device.event(day.stops[0], "delivered", evidence=[ref(signature)])
    mine = device.event(
        day.mine,
        "delivered",
        evidence=[ref(signature), ref(photo, "photo", "image/jpeg")],
    )
    body = device.sync([first, mine]).get_json()
    device.upload_owed(body, files_by_hash(photo, signature))
    _eta(session, world, day.stops[2], minutes=40, before=0)
    text = client.get(f"/api/v1/track/{day.token}").get_data(as_text=True)
    page = client.get(f"/t/{day.token}").get_data(as_text=True)
    for shown in (text, page):
        assert "Secret Neighbour" not in shown
        assert "Hidden Lane" not in shown
        assert "dev-driver_a" not in shown
        assert "driver_a" not in shown
        assert "Ada Recipient" not in shown  # not even their own name: the link may travel


def test_delivered_shows_where_it_was_left_and_a_verifying_proof_and_the_photo_only_when_allowed(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    photo = jpeg("porch")
    signature = png("sig")
    payload = {
        "recipient_name": "A",
        "geo": {"lat": 47.611, "lon": -122.331, "accuracy_m": 8.0, "fixed_at": None},
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    event = device.event(
        day.mine,
        "delivered",
        payload=payload,
        evidence=[ref(signature), ref(photo, "photo", "image/jpeg")],
    )
    body = device.sync([event]).get_json()
    device.upload_owed(body, files_by_hash(photo, signature))

    view = _json(client, day.token)
    assert view["status"] == "delivered"
    delivery = view["delivery"]
    assert delivery["where_left_text"] == "At the front door"
    proof = delivery["proof"]
    assert proof["verified"] is True
    assert proof["problems"] == []
    assert proof["receipt"]["digest"] == proof["digest"]
    assert proof["photos"] == []  # the organization has not allowed photos
    sha = ref(photo)["sha256"]
    assert client.get(f"/t/{day.token}/photos/{sha}").status_code == 404

    scope_to_tenant(session, world.org_id)
    change_settings(
        session, world.org_id, actor="t", actor_user_id=None, changes={"tracking_show_photo": True}
    )
    view = _json(client, day.token)
    assert view["delivery"]["proof"]["photos"] == [sha]
    served = client.get(f"/t/{day.token}/photos/{sha}")
    assert served.status_code == 200
    assert served.data == photo
    # The signature is no photo: never served.
    assert client.get(f"/t/{day.token}/photos/{ref(signature)['sha256']}").status_code == 404
    assert view["actions"] == {
        "instructions": False,
        "reschedule": False,
        "rate": True,
        "report_problem": True,
    }


def test_a_tampered_proof_reads_as_not_verified(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    from backend.db.models import Proof

    device.sync([device.event(day.mine, "delivered", evidence=[])])
    scope_to_tenant(session, world.org_id)
    proof = session.scalars(select(Proof).where(Proof.stop_id == day.mine)).one()
    proof.fields = {**proof.fields, "where_left": "neighbour"}
    session.commit()
    verdict = _json(client, day.token)["delivery"]["proof"]
    assert verdict["verified"] is False
    assert any("digest mismatch" in problem for problem in verdict["problems"])


def test_failed_says_why_and_what_happens_next(
    client: FlaskClient, day: Day, device: Device
) -> None:
    device.sync([device.event(day.mine, "failed", payload={"reason": "access_denied"})])
    view = _json(client, day.token)
    assert view["status"] == "failed"
    assert view["failure"]["reason_text"] == "The driver could not get in"
    assert "contact you" in view["failure"]["next_step"]
    assert view["actions"]["reschedule"] is True


def test_unknown_expired_revoked_and_malformed_links_all_answer_the_same_404(
    client: FlaskClient, session: Session, world: World, day: Day, settings: Any
) -> None:
    scope_to_tenant(session, world.org_id)
    expiring = tokens.issue(session, world.org_id, day.stops[0], settings.secret_key, NOW)
    _delivered_days_ago(session, day.stops[0], 31)
    revoked = tokens.issue(session, world.org_id, day.stops[2], settings.secret_key, NOW)
    tokens.revoke(session, day.stops[2], NOW)
    session.commit()
    unknown = "A" * 24
    answers = set()
    for token in (unknown, expiring, revoked, "short", "x" * 300, "%00zz"):
        for path in (f"/api/v1/track/{token}", f"/api/v1/track/{token}/rating"):
            method = client.get if not path.endswith("rating") else client.post
            response = method(path, **({} if method is client.get else {"json": {"stars": 5}}))
            answers.add(
                (response.status_code, response.get_json()["code"], response.get_json()["message"])
            )
        page = client.get(f"/t/{token}")
        assert page.status_code == 404
        assert "No tracking page here" in page.get_data(as_text=True)
    assert answers == {(404, "not_found", "no tracking page at this address")}


def _delivered_days_ago(session: Session, stop_id: int, days: int) -> None:
    stop = session.get(Stop, stop_id)
    assert stop is not None
    stop.status = StopStatus.DELIVERED
    stop.updated_at = NOW - timedelta(days=days)
    session.flush()


def test_a_link_outlives_the_orders_outcome_by_thirty_days(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    scope_to_tenant(session, world.org_id)
    _delivered_days_ago(session, day.mine, 29)
    session.commit()
    assert client.get(f"/api/v1/track/{day.token}").status_code == 200
    _delivered_days_ago(session, day.mine, 30)
    session.commit()
    assert client.get(f"/api/v1/track/{day.token}").status_code == 404


def test_page_and_json_answer_etag_and_304(client: FlaskClient, day: Day) -> None:
    for path in (f"/api/v1/track/{day.token}", f"/t/{day.token}"):
        first = client.get(path)
        etag = first.headers["ETag"]
        assert etag
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["ETag"] == etag
        assert first.headers["Referrer-Policy"] == "no-referrer"
        assert "noindex" in first.headers["X-Robots-Tag"]


def test_the_page_pulls_nothing_from_another_origin(client: FlaskClient, day: Day) -> None:
    page = client.get(f"/t/{day.token}")
    html = page.get_data(as_text=True)
    assert "http://" not in html
    assert "https://" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert '<meta name="robots" content="noindex, nofollow">' in html


def test_the_tracking_link_names_only_its_orders_latest_attempt(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    scope_to_tenant(session, world.org_id)
    stop = session.get(Stop, day.mine)
    assert stop is not None
    assert _json(client, day.token)["order_number"] == stop.order_number


def test_at_the_door_the_page_says_so_and_stops_showing_the_position(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    device.sync([device.event(day.mine, "arrived")])
    _eta(session, world, day.mine, minutes=0, before=0)
    _position(session, world)
    view = _json(client, day.token)
    assert view["status"] == "arriving"
    assert view["headline"] == "Your driver is at your door."
    assert view["driver"]["position"] is None
    assert "arrived" in [entry["kind"] for entry in view["timeline"]]


def test_the_etag_moves_with_every_fact_the_page_shows(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    path = f"/api/v1/track/{day.token}"
    seen = [client.get(path).headers["ETag"]]

    def changed() -> None:
        response = client.get(path, headers={"If-None-Match": seen[-1]})
        assert response.status_code == 200, "the page changed but still answered 304"
        seen.append(response.headers["ETag"])

    device.sync([device.event(day.stops[0], "arrived")])  # the driver set off
    changed()
    _eta(session, world, day.mine, minutes=30, before=1)
    changed()
    _eta(session, world, day.mine, minutes=20, before=1)
    changed()
    _position(session, world)
    changed()
    client.post(f"{path}/instructions", json={"text": "Back door"})
    changed()
    scope_to_tenant(session, world.org_id)
    change_settings(
        session, world.org_id, actor="t", actor_user_id=None, changes={"timezone": "Asia/Tokyo"}
    )
    changed()
    assert len(set(seen)) == len(seen)
