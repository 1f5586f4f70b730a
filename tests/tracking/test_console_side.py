"""Back office: the delivery page's tracking link (issued on demand, revocable) and the
queue of recipient requests, where a reschedule is handled with a re-plan."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import RecipientRequest, Stop
from backend.db.session import scope_to_tenant
from tests.conftest import World
from tests.console.pages import log_in, post_form
from tests.tracking.conftest import Day

LINK = re.compile(r'value="http://localhost/t/([A-Za-z0-9_-]{24})"')


def test_the_delivery_page_shows_the_link_and_a_revoke_issues_nothing_new(
    client: FlaskClient, day: Day
) -> None:
    log_in(client, "support")
    page = client.get(f"/console/deliveries/{day.mine}").get_data(as_text=True)
    found = LINK.search(page)
    assert found
    assert found.group(1) == day.token
    post_form(client, f"/console/deliveries/{day.mine}/tracking-link/revoke", {})
    assert client.get(f"/api/v1/track/{day.token}").status_code == 404
    page = client.get(f"/console/deliveries/{day.mine}").get_data(as_text=True)
    assert LINK.search(page) is None
    assert "No working link" in page
    post_form(client, f"/console/deliveries/{day.mine}/tracking-link", {})
    page = client.get(f"/console/deliveries/{day.mine}").get_data(as_text=True)
    fresh = LINK.search(page)
    assert fresh
    assert fresh.group(1) != day.token
    assert client.get(f"/api/v1/track/{fresh.group(1)}").status_code == 200


def test_a_reschedule_request_is_queued_then_handled_with_a_replan(
    client: FlaskClient, session: Session, world: World, day: Day
) -> None:
    asked = client.post(f"/api/v1/track/{day.token}/reschedule", json={"date": "2026-11-27"})
    assert asked.status_code == 201
    log_in(client, "dispatcher")
    queue = client.get("/console/recipient-requests?status=open").get_data(as_text=True)
    assert "Wants 2026-11-27" in queue
    assert "Recipient requests" in queue
    request_id = asked.get_json()["request_id"]
    done = post_form(client, f"/console/recipient-requests/{request_id}/handle", {"replan": "yes"})
    assert done.status_code == 302
    scope_to_tenant(session, world.org_id)
    session.expire_all()
    original = session.get(Stop, day.mine)
    assert original is not None
    assert original.replanned_as_id is not None
    attempt = session.get(Stop, original.replanned_as_id)
    assert attempt is not None
    assert attempt.service_date.isoformat() == "2026-11-27"
    row = session.scalars(select(RecipientRequest)).one()
    assert row.status == "handled"
    assert row.handled_by == world.users["dispatcher"]
    # The recipient's page follows the order to its new attempt.
    view = client.get(f"/api/v1/track/{day.token}").get_json()
    assert view["status"] == "rescheduled"
    assert view["order_number"].endswith("-R1")
    assert "rescheduled" in [entry["kind"] for entry in view["timeline"]]
    again = post_form(client, f"/console/recipient-requests/{request_id}/handle", {})
    assert again.status_code == 302  # shown as a message: already handled
    assert "already handled" in client.get("/console/recipient-requests").get_data(as_text=True)


def test_support_marks_handled_but_may_not_replan(client: FlaskClient, day: Day) -> None:
    asked = client.post(f"/api/v1/track/{day.token}/reschedule", json={"date": "2026-11-27"})
    log_in(client, "support")
    request_id = asked.get_json()["request_id"]
    refused = post_form(
        client, f"/console/recipient-requests/{request_id}/handle", {"replan": "yes"}
    )
    assert refused.status_code == 403


def test_drivers_never_see_the_queue(client: FlaskClient, day: Day) -> None:
    log_in(client, "driver_a")
    assert client.get("/console/recipient-requests").status_code in (302, 403)


def test_an_admin_sets_the_delivery_days_and_the_photo_setting_on_the_console(
    client: FlaskClient, session: Session, world: World
) -> None:
    from backend.admin.settings import org_settings

    log_in(client, "admin")
    page = "/console/admin/settings"
    base = {"timezone": "UTC", "geofence_threshold_m": "150", "delivery_weekdays_shown": "1"}
    none = post_form(client, page, base)
    assert none.status_code == 422
    assert 'data-field="delivery_weekdays"' in none.get_data(as_text=True)
    client.post(
        page,
        data={
            **base,
            "csrf_token": re.search(
                r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True)
            ).group(1),  # type: ignore[union-attr]
            "delivery_weekdays": ["wed", "mon"],
            "tracking_show_photo": "on",
        },
    )
    session.rollback()
    saved = org_settings(session, world.org_id)
    assert saved.delivery_weekdays == ("mon", "wed")
    assert saved.tracking_show_photo is True
