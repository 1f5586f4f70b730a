"""Working the console: the exception queue with its confirmations, the evidence view,
disputes from open to settled, and the PDF."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Dispute, ExceptionDecision, Stop
from driver_client.media import render_signature
from tests.client.test_media import _camera_jpeg
from tests.conftest import World
from tests.console.pages import error_code, log_in, post_form
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync.helpers import Device, files_by_hash, ref

FAR = {"lat": 47.70, "lon": -122.40, "accuracy_m": 5.0, "fixed_at": None}
NOON = "2026-11-24T12:00:00+00:00"
DAY = SERVICE_DATE.isoformat()


@dataclass
class Day:
    good: int  # delivered with signature and photo, at the door
    far: int  # delivered far away: outside_geofence
    pending: int  # never attempted: no_outcome
    signature_sha: str
    photo_sha: str


@pytest.fixture
def day(client: FlaskClient, world: World, session: Session, token_for) -> Day:  # type: ignore[no-untyped-def]
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=3)
    session.commit()
    good, far, pending = session.scalars(
        select(Stop.id).where(Stop.manifest_id == manifest.id).order_by(Stop.id)
    )
    signature = render_signature([[(10, 10), (80, 60), (150, 20)]], (200, 80))
    photo = _camera_jpeg((640, 480))
    device = Device(client, "dev-driver_a", {"Authorization": f"Bearer {token_for('driver_a')}"})
    delivered = {
        **device.event(good, evidence=[ref(signature), ref(photo, "photo", "image/jpeg")]),
        "recorded_at": NOON,
    }
    payload = {
        "recipient_name": "X",
        "geo": FAR,
        "scanned_barcodes": [],
        "where_left": "front_door",
    }
    astray = {**device.event(far, payload=payload, evidence=[ref(signature)]), "recorded_at": NOON}
    body = device.sync([delivered, astray]).get_json()
    device.upload_owed(body, files_by_hash(signature, photo))
    return Day(good, far, pending, ref(signature)["sha256"], ref(photo)["sha256"])


def _decisions(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(ExceptionDecision)) or 0


def test_the_queue_lists_each_open_exception_with_its_kind(client: FlaskClient, day: Day) -> None:
    log_in(client, "dispatcher")
    html = client.get(f"/console/exceptions?date={DAY}").get_data(as_text=True)
    assert f'value="{day.far}:outside_geofence"' in html
    assert f'value="{day.pending}:no_outcome"' in html
    assert f'value="{day.good}:' not in html
    only = client.get(f"/console/exceptions?date={DAY}&kind=no_outcome").get_data(as_text=True)
    assert f'value="{day.far}:outside_geofence"' not in only


def test_accepting_selected_exceptions_clears_them(
    client: FlaskClient, day: Day, session: Session
) -> None:
    log_in(client, "dispatcher")
    response = post_form(
        client,
        "/console/exceptions/decide",
        {
            "date": DAY,
            "decision": "accept",
            "note": "GPS drift",
            "items": f"{day.far}:outside_geofence",
        },
    )
    assert response.status_code == 302
    assert _decisions(session) == 1
    assert response.headers["Location"].startswith("/console/exceptions?")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Accepted 1 exception." in page
    assert f'value="{day.far}:outside_geofence"' not in page


def test_rejecting_asks_for_a_note_then_a_confirmation(
    client: FlaskClient, day: Day, session: Session
) -> None:
    log_in(client, "dispatcher")
    item = f"{day.pending}:no_outcome"
    no_note = post_form(
        client, "/console/exceptions/decide", {"date": DAY, "decision": "reject", "items": item}
    )
    assert no_note.status_code == 422
    assert "the note is required to reject" in no_note.get_data(as_text=True)
    asked = post_form(
        client,
        "/console/exceptions/decide",
        {"date": DAY, "decision": "reject", "note": "not attempted", "items": item},
    )
    assert asked.status_code == 200
    assert 'data-testid="confirm-reject"' in asked.get_data(as_text=True)
    assert _decisions(session) == 0
    done = post_form(
        client,
        "/console/exceptions/decide",
        {
            "date": DAY,
            "decision": "reject",
            "note": "not attempted",
            "items": item,
            "confirmed": "true",
        },
    )
    assert done.status_code == 302
    assert _decisions(session) == 1
    attempts = session.scalar(
        select(func.count()).select_from(Stop).where(Stop.order_number.like("%-R1"))
    )
    assert attempts == 1


def test_deciding_on_all_refuses_a_queue_that_changed_meanwhile(
    client: FlaskClient, day: Day, session: Session
) -> None:
    log_in(client, "dispatcher")
    stale = post_form(
        client,
        "/console/exceptions/decide",
        {"date": DAY, "decision": "accept", "scope": "all", "expected": "5"},
    )
    assert stale.status_code == 409
    assert "The queue changed while you were looking" in stale.get_data(as_text=True)
    assert _decisions(session) == 0
    everything = post_form(
        client,
        "/console/exceptions/decide",
        {"date": DAY, "decision": "accept", "scope": "all", "expected": "2", "note": "ok"},
    )
    assert everything.status_code == 302
    assert _decisions(session) == 2
    empty = client.get(f"/console/exceptions?date={DAY}").get_data(as_text=True)
    assert 'data-testid="queue-empty"' in empty


def test_bad_decision_forms_are_shown_again_with_the_reason(
    client: FlaskClient, day: Day, session: Session
) -> None:
    log_in(client, "dispatcher")
    for data, status in (
        ({"decision": "shrug", "items": f"{day.pending}:no_outcome"}, 422),
        ({"decision": "accept"}, 422),
        ({"decision": "accept", "items": "not-an-item"}, 422),
        ({"decision": "accept", "items": f"{day.good}:no_outcome"}, 409),
    ):
        response = post_form(client, "/console/exceptions/decide", {"date": DAY, **data})
        assert response.status_code == status, data
        assert 'class="field-error"' in response.get_data(as_text=True)
    assert _decisions(session) == 0


def test_the_evidence_view_shows_the_proof_and_that_it_verifies(
    client: FlaskClient, day: Day
) -> None:
    log_in(client, "support")
    html = client.get(f"/console/deliveries/{day.good}").get_data(as_text=True)
    assert "The proof verifies" in html
    assert f"/console/evidence/{day.signature_sha}" in html
    assert f"/console/evidence/{day.photo_sha}" in html
    assert f"/console/deliveries/{day.good}/map.svg" in html
    assert 'data-testid="timeline"' in html
    photo = client.get(f"/console/evidence/{day.photo_sha}")
    assert (photo.status_code, photo.mimetype) == (200, "image/jpeg")
    assert "sandbox" in photo.headers["Content-Security-Policy"]
    svg = client.get(f"/console/deliveries/{day.good}/map.svg")
    assert svg.mimetype == "image/svg+xml"
    pdf = client.get(f"/console/deliveries/{day.good}/proof.pdf")
    assert pdf.data.startswith(b"%PDF")


def test_a_dispute_is_opened_noted_and_settled_from_the_evidence_view(
    client: FlaskClient, day: Day, session: Session
) -> None:
    log_in(client, "support")
    base = f"/console/deliveries/{day.good}"
    missing = post_form(client, f"{base}/disputes", {"note": "customer called"})
    assert missing.status_code == 422
    assert 'data-field="reason"' in missing.get_data(as_text=True)
    opened = post_form(client, f"{base}/disputes", {"reason": "not_received", "note": "called"})
    assert opened.status_code == 302
    page = client.get(base).get_data(as_text=True)
    assert "legal hold" in page
    again = post_form(client, f"{base}/disputes", {"reason": "damaged"})
    assert (again.status_code, "already has an open dispute" in again.get_data(as_text=True)) == (
        409,
        True,
    )
    session.rollback()
    dispute_id = session.scalar(select(Dispute.id).where(Dispute.stop_id == day.good))
    assert (
        post_form(
            client, f"/console/disputes/{dispute_id}/notes", {"text": "photo shows porch"}
        ).status_code
        == 302
    )

    resolve = f"/console/disputes/{dispute_id}/resolve"
    unconfirmed = post_form(
        client,
        resolve,
        {"outcome": "rejected", "reason": "delivered", "evidence_cited": f"photo:{day.photo_sha}"},
    )
    assert unconfirmed.status_code == 422
    assert "settling a dispute is final" in unconfirmed.get_data(as_text=True)
    uncited = post_form(
        client, resolve, {"outcome": "rejected", "reason": "delivered", "confirm": "true"}
    )
    assert uncited.status_code == 422
    assert 'data-field="evidence_cited"' in uncited.get_data(as_text=True)
    settled = client.post(
        resolve,
        data={
            "csrf_token": _token(client),
            "outcome": "rejected",
            "reason": "the photo shows the parcel at the door",
            "evidence_cited": [f"photo:{day.photo_sha}", f"signature:{day.signature_sha}", "geo"],
            "confirm": "true",
        },
    )
    assert settled.status_code == 302
    session.rollback()
    dispute = session.get(Dispute, dispute_id)
    assert dispute is not None
    assert dispute.status == "rejected"
    assert dispute.evidence_cited == [
        f"photo:{day.photo_sha}",
        f"signature:{day.signature_sha}",
        "geo",
    ]
    closed = post_form(
        client,
        resolve,
        {"outcome": "upheld", "remedy": "refund", "reason": "x", "confirm": "true"},
    )
    assert closed.status_code == 409


def _token(client: FlaskClient) -> str:
    from tests.console.pages import csrf_of

    return csrf_of(client, "/console/search")


def test_dispatchers_see_evidence_but_settle_disputes_only_when_granted(
    client: FlaskClient, day: Day, session: Session, world: World
) -> None:
    support = client.application.test_client()
    log_in(support, "support")
    post_form(support, f"/console/deliveries/{day.good}/disputes", {"reason": "damaged"})
    session.rollback()
    dispute_id = session.scalar(select(Dispute.id).where(Dispute.stop_id == day.good))

    log_in(client, "dispatcher")
    page = client.get(f"/console/deliveries/{day.good}").get_data(as_text=True)
    assert "The proof verifies" in page
    assert 'data-testid="resolve-form"' not in page
    body = {
        "outcome": "upheld",
        "remedy": "refund",
        "refund_amount": "10.00",
        "refund_currency": "USD",
        "reason": "goodwill",
        "confirm": "true",
    }
    refused = post_form(client, f"/console/disputes/{dispute_id}/resolve", body)
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    opened = post_form(client, f"/console/deliveries/{day.far}/disputes", {"reason": "damaged"})
    assert opened.status_code == 403

    from backend.db.models import User

    session.rollback()  # a fresh snapshot: logging in wrote the console session since
    user = session.get(User, world.users["dispatcher"])
    assert user is not None
    user.grants = ["resolve_disputes"]
    session.commit()
    assert 'data-testid="resolve-form"' in client.get(f"/console/deliveries/{day.good}").get_data(
        as_text=True
    )
    assert post_form(client, f"/console/disputes/{dispute_id}/resolve", body).status_code == 302


def test_search_matches_literally_and_says_when_nothing_matches(
    client: FlaskClient, day: Day
) -> None:
    log_in(client, "support")
    found = client.get("/console/search?q=Pine St").get_data(as_text=True)
    assert f"/console/deliveries/{day.good}" in found
    nothing = client.get("/console/search", query_string={"q": "%%"})
    assert 'data-testid="no-results"' in nothing.get_data(as_text=True)
    short = client.get("/console/search?q=x")
    assert short.status_code == 422


def test_an_unreachable_file_store_is_an_outage_not_a_broken_proof(
    client: FlaskClient,
    day: Day,
    auth,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import socket

    from backend.evidence.storage import S3Store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    client.application.extensions["doorstep.store"] = S3Store(
        "evidence", f"http://127.0.0.1:{dead_port}", "us-east-1"
    )
    log_in(client, "support")
    page = client.get(f"/console/deliveries/{day.good}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The files could not be checked just now" in html
    assert "does not verify" not in html
    pdf = client.get(f"/console/deliveries/{day.good}/proof.pdf")
    assert (pdf.status_code, error_code(pdf)) == (503, "store_unavailable")
    api = client.get(f"/api/v1/stops/{day.good}/proof.pdf", headers=auth("support"))
    assert (api.status_code, api.get_json()["code"]) == (503, "store_unavailable")


def test_today_shows_each_drivers_progress_and_open_exceptions(
    client: FlaskClient, day: Day
) -> None:
    log_in(client, "dispatcher")
    html = client.get(f"/console/day?date={DAY}").get_data(as_text=True)
    assert 'data-testid="open-total">2<' in html
    row = html[html.index('data-driver="driver_a"') :].split("</tr>")[0]
    cells = row.split('<td class="num" data-col="')[1:]
    # delivered, failed, to do, re-planned, exceptions
    assert [c.split(">")[1].split("<")[0].strip() for c in cells[:4]] == ["2", "0", "1", "0"]
    assert ">2</a>" in cells[4]
