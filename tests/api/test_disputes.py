"""Customer service: find a delivery, see where its proof was taken, settle a dispute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Parcel, Stop
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]


def _search(client: FlaskClient, auth: Auth, q: str) -> list[int]:
    response = client.get(
        "/api/v1/deliveries/search", query_string={"q": q}, headers=auth("support")
    )
    assert response.status_code == 200, response.get_json()
    return [item["stop_id"] for item in response.get_json()["items"]]


def test_a_delivery_is_found_by_order_barcode_recipient_or_address(
    client: FlaskClient, auth: Auth, delivered: Stop, session: Session
) -> None:
    barcode = session.scalar(select(Parcel.barcode).where(Parcel.stop_id == delivered.id))
    assert barcode is not None
    assert _search(client, auth, delivered.order_number) == [delivered.id]
    assert _search(client, auth, barcode) == [delivered.id]
    assert _search(client, auth, "ann 100%_real") == [delivered.id]
    assert delivered.id in _search(client, auth, "Pine St")


def test_search_strings_are_matched_literally(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    assert _search(client, auth, "%%") == []
    assert _search(client, auth, "__") == []
    assert _search(client, auth, "100%_") == [delivered.id]


def test_the_map_shows_the_stop_the_fix_and_the_distance(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    response = client.get(f"/api/v1/stops/{delivered.id}/map.svg", headers=auth("support"))
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg")
    assert "m from the stop" in svg
    assert "geo check inside" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def _open(client: FlaskClient, auth: Auth, stop_id: int, who: str = "support") -> Any:
    return client.post(
        "/api/v1/disputes",
        json={
            "stop_id": stop_id,
            "reason": "not_received",
            "note": "customer says nothing arrived",
        },
        headers=auth(who),
    )


def test_opening_a_dispute_puts_the_proof_on_legal_hold(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    response = _open(client, auth, delivered.id)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["legal_hold"]) == ("open", True)
    assert body["notes"][0]["text"] == "customer says nothing arrived"
    [found] = client.get(
        "/api/v1/deliveries/search",
        query_string={"q": delivered.order_number},
        headers=auth("support"),
    ).get_json()["items"]
    assert found["legal_hold"] is True


def test_a_dispute_is_rejected_citing_the_evidence_and_the_hold_lifts(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    dispute_id = _open(client, auth, delivered.id).get_json()["id"]
    client.post(
        f"/api/v1/disputes/{dispute_id}/notes",
        json={"text": "photo shows the porch"},
        headers=auth("support"),
    )
    missing = client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={"outcome": "rejected", "reason": "delivered"},
        headers=auth("support"),
    )
    assert missing.status_code == 422
    assert "evidence_cited" in missing.get_json()["errors"]
    done = client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={
            "outcome": "rejected",
            "reason": "signed for at the door, 3 m from the stop",
            "evidence_cited": ["signature", "geo", "receipt"],
        },
        headers=auth("support"),
    )
    body = done.get_json()
    assert (body["status"], body["legal_hold"], len(body["notes"])) == ("rejected", False, 2)
    again = client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={"outcome": "upheld", "remedy": "refund", "reason": "x"},
        headers=auth("support"),
    )
    assert (again.status_code, again.get_json()["code"]) == (409, "dispute_closed")


def test_an_upheld_dispute_needs_a_remedy(client: FlaskClient, auth: Auth, delivered: Stop) -> None:
    dispute_id = _open(client, auth, delivered.id).get_json()["id"]
    url = f"/api/v1/disputes/{dispute_id}/resolve"
    assert (
        client.post(
            url, json={"outcome": "upheld", "reason": "box crushed"}, headers=auth("support")
        ).status_code
        == 422
    )
    ok = client.post(
        url,
        json={"outcome": "upheld", "remedy": "redeliver", "reason": "box crushed"},
        headers=auth("support"),
    )
    assert ok.get_json()["remedy"] == "redeliver"


def test_only_support_settles_disputes(client: FlaskClient, auth: Auth, delivered: Stop) -> None:
    assert _open(client, auth, delivered.id, "dispatcher").status_code == 403
    assert _open(client, auth, delivered.id, "driver_a").status_code == 403
    dispute_id = _open(client, auth, delivered.id).get_json()["id"]
    resolve = client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={"outcome": "upheld", "remedy": "refund", "reason": "x"},
        headers=auth("dispatcher"),
    )
    assert resolve.status_code == 403
    assert (
        client.get(f"/api/v1/disputes/{dispute_id}", headers=auth("dispatcher")).status_code == 200
    )
    assert (
        client.get(f"/api/v1/disputes/{dispute_id}", headers=auth("other_dispatcher")).status_code
        == 404
    )
    assert _open(client, auth, 999_999).status_code == 404


def test_bad_dispute_input_is_refused_by_field(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    response = client.post(
        "/api/v1/disputes",
        json={"stop_id": delivered.id, "reason": "bored"},
        headers=auth("support"),
    )
    assert response.status_code == 422
    assert "reason" in response.get_json()["errors"]
    short = client.get(
        "/api/v1/deliveries/search", query_string={"q": "a"}, headers=auth("support")
    )
    assert short.status_code == 422


def test_dispatchers_settle_disputes_only_when_granted(
    client: FlaskClient, auth: Auth, delivered: Stop, session: Session, world: World
) -> None:
    from backend.db.models import User
    from backend.domain.roles import Grant

    dispute_id = _open(client, auth, delivered.id).get_json()["id"]
    url = f"/api/v1/disputes/{dispute_id}/resolve"
    body = {
        "outcome": "upheld",
        "remedy": "refund",
        "refund_amount": "10.00",
        "refund_currency": "USD",
        "reason": "goodwill",
    }
    refused = client.post(url, json=body, headers=auth("dispatcher"))
    assert (refused.status_code, refused.get_json()["code"]) == (403, "forbidden")

    session.rollback()  # the fixture's read snapshot predates the API's writes
    dispatcher = session.get(User, world.users["dispatcher"])
    assert dispatcher is not None
    dispatcher.grants = [Grant.RESOLVE_DISPUTES.value]
    session.commit()
    login = client.post(
        "/api/v1/auth/token",
        json={"username": "dispatcher", "password": "pw", "device_id": "granted"},
    ).get_json()
    granted = {"Authorization": f"Bearer {login['access_token']}"}
    assert client.post(url, json=body, headers=granted).status_code == 200


def test_the_dispute_list_carries_each_disputes_notes(
    client: FlaskClient, auth: Auth, delivered: Stop
) -> None:
    dispute_id = _open(client, auth, delivered.id).get_json()["id"]
    client.post(
        f"/api/v1/disputes/{dispute_id}/notes", json={"text": "second"}, headers=auth("support")
    )
    [item] = client.get("/api/v1/disputes", headers=auth("support")).get_json()["items"]
    assert [n["text"] for n in item["notes"]] == ["customer says nothing arrived", "second"]
