"""The console's recipient messages: support sees and re-sends a delivery's messages,
an admin edits the templates and reads the outbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import AuditEntry, Notification, NotificationTemplate, Stop
from backend.domain.notifications import Kind
from backend.notifications import rendering
from backend.notifications.service import Outgoing, opt_out, queue
from tests.conftest import World
from tests.factories import make_manifest

EDITOR = "/console/admin/messages/delivered"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    response = client.post(
        "/console/login",
        data={"username": username, "password": "pw", "csrf_token": _csrf(page), "next": ""},
    )
    assert response.status_code == 302
    return client


def _post(client: FlaskClient, page_url: str, url: str, data: dict[str, Any]) -> Any:
    page = client.get(page_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": _csrf(page), **data})


@pytest.fixture
def stop_id(app: Flask, session: Session, world: World) -> int:
    """A stop whose recipient was told it is out for delivery (e-mail sent, SMS failed)
    and that it was delivered (e-mail held back: unsubscribed since)."""
    manifest = make_manifest(session, world.org_id, world.users["driver_a"], stops=1)
    stop = session.scalars(select(Stop).where(Stop.manifest_id == manifest.id)).one()
    stop.recipient_email = "dana.smith@example.com"
    stop.recipient_phone = "+1 206 555 0101"
    session.commit()
    context = {"sender": "Acme", "recipient_name": "Dana", "order_number": stop.order_number}
    with app.app_context():
        queue(session, world.org_id, [Outgoing(Kind.OUT_FOR_DELIVERY, stop, "", context)])
        session.commit()
        session.execute(
            update(Notification)
            .where(Notification.channel == "email")
            .values(status="sent", attempts=1, provider_ref="<msg-1@acme.example>")
        )
        session.execute(
            update(Notification)
            .where(Notification.channel == "sms")
            .values(status="failed", attempts=1, last_error="21211 invalid 'To' phone number")
        )
        opt_out(session, world.org_id, "email", "dana.smith@example.com")
        queue(session, world.org_id, [Outgoing(Kind.DELIVERED, stop, "", context)])
        session.commit()
    return stop.id


def _rows(session: Session) -> list[Notification]:
    session.rollback()
    return list(session.scalars(select(Notification).order_by(Notification.id)))


@pytest.mark.parametrize("username", ["support", "dispatcher"])
def test_the_delivery_page_lists_each_message_with_its_status_and_the_opt_out(
    app: Flask, world: World, stop_id: int, username: str
) -> None:
    page = _signed_in(app, username).get(f"/console/deliveries/{stop_id}").get_data(as_text=True)
    table = page[page.index('data-testid="messages"') :]
    assert table.count("data-message=") == 4
    assert 'data-status="sent"' in table
    assert "&lt;msg-1@acme.example&gt;" in table
    assert "21211 invalid &#39;To&#39; phone number" in table
    assert "the recipient unsubscribed" in table
    # Partly masked: support checks it with the customer; the page does not show it all.
    assert "d•••@example.com" in table
    assert "+•••0101" in table
    assert "dana.smith" not in page
    assert 'data-testid="unsubscribed"' in table
    # Only the failed SMS may be re-sent, and only by support.
    assert table.count('data-testid="resend-form"') == (1 if username == "support" else 0)


def test_support_re_sends_a_failed_message_once_as_a_new_audited_message(
    app: Flask, world: World, session: Session, stop_id: int
) -> None:
    client = _signed_in(app, "support")
    page = f"/console/deliveries/{stop_id}"
    failed = next(r for r in _rows(session) if r.status == "failed")
    url = f"{page}/messages/{failed.id}/resend"
    unconfirmed = _post(client, page, url, {})
    assert unconfirmed.status_code == 422
    assert 'data-field="resend"' in unconfirmed.get_data(as_text=True)
    assert len(_rows(session)) == 4

    assert _post(client, page, url, {"confirm": "true"}).status_code == 302
    again = _post(client, page, url, {"confirm": "true"})
    assert again.status_code == 409
    assert "re-sent already" in again.get_data(as_text=True)
    rows = _rows(session)
    assert len(rows) == 5
    new = rows[-1]
    assert (new.status, new.channel, new.address, new.kind) == (
        "pending",
        "sms",
        failed.address,
        failed.kind,
    )
    assert new.dedupe_key.startswith(f"resend:{failed.id}:")
    assert new.context == failed.context
    # The original keeps its story.
    assert next(r for r in rows if r.id == failed.id).status == "failed"
    [entry] = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "notification.resend")
    ).all()
    assert (entry.actor, entry.target_id, entry.org_id) == ("support", str(failed.id), world.org_id)
    assert entry.after == {"resent_as": new.id, "channel": "sms", "stop_id": stop_id}
    shown = client.get(page).get_data(as_text=True)
    assert f"re-send of #{failed.id}" in shown


def test_a_message_that_did_not_fail_or_went_to_an_opted_out_address_is_not_re_sent(
    app: Flask, world: World, session: Session, stop_id: int
) -> None:
    client = _signed_in(app, "support")
    page = f"/console/deliveries/{stop_id}"
    rows = _rows(session)
    sent = next(r for r in rows if r.status == "sent")
    refused = _post(client, page, f"{page}/messages/{sent.id}/resend", {"confirm": "true"})
    assert refused.status_code == 409
    assert "only a failed message" in refused.get_data(as_text=True)
    # A failed e-mail to an address that unsubscribed since stays unsent.
    session.execute(update(Notification).where(Notification.id == sent.id).values(status="failed"))
    session.commit()
    opted = _post(client, page, f"{page}/messages/{sent.id}/resend", {"confirm": "true"})
    assert opted.status_code == 409
    assert "unsubscribed" in opted.get_data(as_text=True)
    # Another delivery's page cannot reach this message.
    manifest = make_manifest(session, world.org_id, world.users["driver_b"], stops=1)
    other_stop = session.scalars(select(Stop).where(Stop.manifest_id == manifest.id)).one()
    session.commit()
    other = f"/console/deliveries/{other_stop.id}"
    crossed = _post(client, other, f"{other}/messages/{sent.id}/resend", {"confirm": "true"})
    assert crossed.status_code == 404
    assert len(_rows(session)) == 4
    assert session.scalars(select(AuditEntry)).all() == []


def test_a_dispatcher_may_not_re_send(
    app: Flask, world: World, session: Session, stop_id: int
) -> None:
    client = _signed_in(app, "dispatcher")
    page = f"/console/deliveries/{stop_id}"
    failed = next(r for r in _rows(session) if r.status == "failed")
    answer = _post(client, page, f"{page}/messages/{failed.id}/resend", {"confirm": "true"})
    assert answer.status_code == 403
    assert len(_rows(session)) == 4


@pytest.mark.parametrize("url", ["/console/admin/messages", EDITOR, "/console/admin/outbox"])
@pytest.mark.parametrize(
    ("username", "status"), [("admin", 200), ("dispatcher", 403), ("support", 403)]
)
def test_only_admins_see_the_message_pages(
    app: Flask, world: World, url: str, username: str, status: int
) -> None:
    assert _signed_in(app, username).get(url).status_code == status


def test_a_dispatcher_cannot_post_a_template(app: Flask, world: World, session: Session) -> None:
    client = _signed_in(app, "dispatcher")
    home = client.get("/console/day").get_data(as_text=True)
    parts = {"subject": "x {{ tracking_url }}", "text": "{{ tracking_url }}"}
    answer = client.post(EDITOR, data={"csrf_token": _csrf(home), "action": "save", **parts})
    assert answer.status_code == 403
    assert session.scalars(select(NotificationTemplate)).all() == []


def test_an_admin_previews_saves_and_resets_a_template_and_a_broken_one_is_not_saved(
    app: Flask, world: World, session: Session
) -> None:
    client = _signed_in(app, "admin")
    shown = client.get(EDITOR).get_data(as_text=True)
    # The shipped default is in the form and beside it, previewed with sample values.
    default_sms = rendering.default_source("delivered", "sms")
    assert shown.count(str(escape(default_sms))) >= 2
    assert 'data-part="subject"' in shown
    assert "A-1042" in shown
    parts = {
        "subject": "Order {{ order_number }} arrived",
        "text": "Hi {{ recipient_name }}: {{ tracking_url }}",
        "html": "<p>{{ recipient_name }}</p>{{ tracking_url }}",
        "sms": "Arrived {{ tracking_url }} {{ secret.__class__ }}",
    }
    refused = _post(client, EDITOR, EDITOR, {"action": "save", **parts})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'data-field="sms"' in page
    assert 'data-field="text"' not in page
    # What the admin typed is shown again, not lost.
    assert "secret.__class__" in page
    assert session.scalars(select(NotificationTemplate)).all() == []

    parts["sms"] = "Arrived {{ tracking_url }}"
    preview = _post(client, EDITOR, EDITOR, {"action": "preview", **parts})
    assert preview.status_code == 200
    assert "Order A-1042 arrived" in preview.get_data(as_text=True)
    session.rollback()
    assert session.scalars(select(NotificationTemplate)).all() == []

    assert _post(client, EDITOR, EDITOR, {"action": "save", **parts}).status_code == 302
    session.rollback()
    stored = rendering.template_of(session, world.org_id, "delivered")
    assert stored is not None
    assert stored.sms == "Arrived {{ tracking_url }}"
    assert "Reset to the shipped wording" in client.get(EDITOR).get_data(as_text=True)

    assert _post(client, EDITOR, f"{EDITOR}/reset", {}).status_code == 302
    session.rollback()
    assert rendering.template_of(session, world.org_id, "delivered") is None
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.actor == "admin").order_by(AuditEntry.id)
    ).all()
    assert actions == ["notification_template.change", "notification_template.reset"]


def test_an_unknown_kind_is_a_404_page(app: Flask, world: World) -> None:
    answer = _signed_in(app, "admin").get("/console/admin/messages/birthday")
    assert answer.status_code == 404
    assert "notification_kind_unknown" in answer.get_data(as_text=True)


def test_the_outbox_page_counts_by_status_and_lists_failures_with_their_error(
    app: Flask, world: World, stop_id: int
) -> None:
    page = _signed_in(app, "admin").get("/console/admin/outbox").get_data(as_text=True)
    today = page[page.index('data-span="today"') :]
    assert '<td data-status="sent">1</td>' in today
    assert '<td data-status="failed">1</td>' in today
    assert '<td data-status="suppressed">1</td>' in today
    assert '<td data-status="pending">1</td>' in today
    failed = page[page.index('data-testid="failed"') :]
    assert "21211 invalid &#39;To&#39; phone number" in failed
    assert f"/console/deliveries/{stop_id}#messages" in failed
