"""What a recipient sends: instructions, a reschedule request, a rating, a problem
report; every bad input refused with its code; the HTML forms escape and refuse
cross-site posts."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Dispute, PlanChange, Proof, RecipientRequest, Stop
from backend.db.session import scope_to_tenant
from tests.conftest import World
from tests.sync.helpers import Device, files_by_hash, png, ref
from tests.tracking.conftest import Day


def _post(client: FlaskClient, day: Day, action: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/track/{day.token}/{action}", json=body)


def _deliver(day: Day, device: Device) -> None:
    signature = png("sig")
    body = device.sync([device.event(day.mine, "delivered", evidence=[ref(signature)])]).get_json()
    device.upload_owed(body, files_by_hash(signature))


def test_instructions_reach_the_drivers_app_at_its_next_sync(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    device.sync()
    response = _post(client, day, "instructions", {"text": "Gate code 4411, leave at the back"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "handled"
    changes = device.sync().get_json()["changes"]
    [change] = [c for c in changes if c["stop"]["id"] == day.mine] if changes else [None]
    assert change is not None
    assert "From the recipient: Gate code 4411" in change["stop"]["instructions"]
    # A second note replaces the first; the planned instructions stay.
    _post(client, day, "instructions", {"text": "Actually, neighbour at 12"})
    scope_to_tenant(session, world.org_id)
    stop = session.get(Stop, day.mine)
    assert stop is not None
    assert stop.instructions.count("From the recipient:") == 1
    assert stop.instructions.endswith("neighbour at 12")
    timeline = client.get(f"/api/v1/track/{day.token}").get_json()["timeline"]
    assert [e["kind"] for e in timeline].count("instructions") == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": ""}, "text_required"),
        ({"text": "   "}, "text_required"),
        ({"text": "x" * 501}, "text_too_long"),
        ({"text": 12}, "validation_error"),
        ({}, "validation_error"),
    ],
)
def test_bad_instructions_are_refused_with_their_code(
    client: FlaskClient, session: Session, day: Day, body: dict[str, Any], code: str
) -> None:
    response = _post(client, day, "instructions", body)
    assert response.status_code == 422
    assert response.get_json()["code"] == code
    assert session.scalars(select(RecipientRequest)).first() is None
    assert session.scalars(select(PlanChange).where(PlanChange.stop_id == day.mine)).all() != []


@pytest.mark.parametrize(
    ("day_asked", "code"),
    [
        ("2026-11-24", "reschedule_date_past"),  # today (the tests' clock)
        ("2026-11-20", "reschedule_date_past"),
        ("2026-11-29", "not_a_delivery_day"),  # a Sunday
        ("2027-06-01", "reschedule_too_far"),
        ("next week", "validation_error"),
        ("", "validation_error"),
    ],
)
def test_a_reschedule_to_a_past_day_or_a_day_without_deliveries_is_refused_with_the_reason(
    client: FlaskClient, day: Day, day_asked: str, code: str
) -> None:
    response = _post(client, day, "reschedule", {"date": day_asked})
    assert response.status_code == 422
    assert response.get_json()["code"] == code


def test_a_reschedule_is_a_request_for_back_office_not_a_change(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    response = _post(client, day, "reschedule", {"date": "2026-11-27", "note": "away till Friday"})
    assert response.status_code == 201
    assert response.get_json()["status"] == "open"
    scope_to_tenant(session, world.org_id)
    stop = session.get(Stop, day.mine)
    assert stop is not None
    assert stop.replanned_at is None
    view = client.get(f"/api/v1/track/{day.token}").get_json()
    assert "Friday 27 November" in view["reschedule_request"]["text"]
    again = _post(client, day, "reschedule", {"date": "2026-11-28"})
    assert again.status_code == 409
    assert again.get_json()["code"] == "request_already_open"


def test_a_rating_comes_after_delivery_and_only_once(
    client: FlaskClient, day: Day, device: Device
) -> None:
    early = _post(client, day, "rating", {"stars": 5})
    assert early.status_code == 409
    assert early.get_json()["code"] == "tracking_action_closed"
    _deliver(day, device)
    for stars in (0, 6, "five", True, 2.5):
        bad = _post(client, day, "rating", {"stars": stars})
        assert (bad.status_code, bad.get_json()["code"]) == (422, "invalid_rating"), stars
    too_long = _post(client, day, "rating", {"stars": 4, "comment": "y" * 1001})
    assert too_long.get_json()["code"] == "text_too_long"
    assert _post(client, day, "rating", {"stars": 4, "comment": "quick"}).status_code == 201
    twice = _post(client, day, "rating", {"stars": 1})
    assert twice.status_code == 409
    assert twice.get_json()["code"] == "already_rated"


def test_a_problem_report_opens_a_dispute_with_the_proofs_files_cited(
    client: FlaskClient, session: Session, world: World, day: Day, device: Device
) -> None:
    assert _post(client, day, "problem", {"problem": "damaged"}).status_code == 409
    _deliver(day, device)
    bad = _post(client, day, "problem", {"problem": "lost_my_keys"})
    assert bad.status_code == 422
    assert bad.get_json()["code"] == "invalid_problem"
    response = _post(client, day, "problem", {"problem": "not_received", "text": "nothing here"})
    assert response.status_code == 201, response.get_json()
    assert "contact you" in response.get_json()["message"]
    scope_to_tenant(session, world.org_id)
    dispute = session.scalars(select(Dispute)).one()
    proof = session.scalars(select(Proof).where(Proof.stop_id == day.mine)).one()
    assert dispute.reason == "not_received"
    assert dispute.opened_by is None
    assert dispute.opened_via == "recipient"
    assert dispute.evidence_cited == proof.file_hashes
    assert proof.file_hashes
    view = client.get(f"/api/v1/track/{day.token}").get_json()
    assert view["dispute"]["status"] == "open"
    assert view["actions"]["report_problem"] is False
    again = _post(client, day, "problem", {"problem": "damaged"})
    assert again.status_code == 409
    assert again.get_json()["code"] == "dispute_already_open"


def test_the_forms_escape_what_was_sent_and_show_the_refusal(client: FlaskClient, day: Day) -> None:
    sent = "<script>alert(1)</script>" + "x" * 600
    response = client.post(f"/t/{day.token}/instructions", data={"instructions": sent})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-code="text_too_long"' in html


def test_a_form_post_succeeds_and_says_what_happens_next(client: FlaskClient, day: Day) -> None:
    response = client.post(f"/t/{day.token}/instructions", data={"instructions": "Porch"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert "your driver will see your instructions" in page.get_data(as_text=True)


def test_a_form_posted_from_another_site_is_refused(
    client: FlaskClient, session: Session, day: Day
) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = client.post(
            f"/t/{day.token}/instructions", data={"instructions": "Porch"}, headers=headers
        )
        assert response.status_code == 403
    assert session.scalars(select(RecipientRequest)).first() is None
