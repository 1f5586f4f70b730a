"""The worker: retries with backoff, quiet hours, opt-outs, tenants' templates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.config import Settings, parse_sms_url, parse_smtp_url
from backend.db.models import NotificationOptOut, Organization, Stop
from backend.db.session import Database
from backend.domain.clock import SetClock
from backend.domain.notifications import Kind
from backend.domain.refusal import Refusal
from backend.notifications import rendering, worker
from backend.notifications.service import Outgoing, queue, unsubscribe_token
from backend.notifications.transports import SmtpTransport, Transports, TwilioSms
from tests.conftest import World
from tests.notifications.conftest import rows
from tests.notifications.servers import SmsRecorder, SmtpServer

Worker = Callable[..., dict[str, int]]


def _queue(
    app: Flask, database: Database, org_id: int, stop_id: int, kind: Kind, **context: Any
) -> int:
    with app.app_context(), database.session() as session:
        stop = session.get(Stop, stop_id)
        assert stop is not None
        base = {"sender": "Acme", "recipient_name": "Dana", "order_number": stop.order_number}
        made = queue(session, org_id, [Outgoing(kind, stop, "", base | context)])
        session.commit()
        return made


def _settings(database: Database, org_id: int, **values: Any) -> None:
    with database.session() as session:
        org = session.get(Organization, org_id)
        assert org is not None
        org.settings = {**(org.settings or {}), **values}
        session.commit()


def _email(smtp: SmtpServer) -> Transports:
    return Transports(email=SmtpTransport(parse_smtp_url(smtp.url)))


def test_a_refused_attempt_is_retried_with_growing_backoff_then_given_up(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    smtp: SmtpServer,
    clock: SetClock,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    smtp.recorder.answers = ["451 4.3.0 mailbox busy"] * worker.MAX_ATTEMPTS
    transports = _email(smtp)
    delays = []
    for attempt in range(1, worker.MAX_ATTEMPTS + 1):
        assert run_worker(transports)["retry" if attempt < worker.MAX_ATTEMPTS else "failed"] == 1
        [row] = rows(database, channel="email")
        assert row.attempts == attempt
        assert "451" in row.last_error
        if attempt < worker.MAX_ATTEMPTS:
            assert row.status == "pending"
            assert row.claimed_at is None
            delays.append((row.next_attempt_at - clock.now()).total_seconds())
            # Not due yet: a pass now sends nothing.
            assert run_worker(transports)["sent"] == 0
            clock.set(row.next_attempt_at + timedelta(seconds=1))
    assert row.status == "failed"
    # Exponential with jitter (half to full of a doubling ceiling, capped at an hour).
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(3600, 60 * 2 ** (attempt - 1))
        assert ceiling / 2 - 2 <= delay <= ceiling
    assert smtp.recorder.received == []


def test_a_permanent_refusal_is_not_retried(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    smtp: SmtpServer,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    smtp.recorder.answers = ["550 5.1.1 no such mailbox"]
    assert run_worker(_email(smtp))["failed"] == 1
    [row] = rows(database, channel="email")
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in row.last_error


def test_sms_goes_out_through_the_worker(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    sms: SmsRecorder,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED, delivered_at="17:02")
    counts = run_worker(Transports(sms=TwilioSms(parse_sms_url(sms.url))))
    assert counts["sent"] == 1
    [request] = sms.requests
    assert request.form["To"] == ["+12065550101"]
    body = request.form["Body"][0]
    assert "was delivered at 17:02" in body
    assert "http://127.0.0.1:8000/t/" in body
    [row] = rows(database, channel="sms")
    assert row.status == "sent"
    assert row.provider_ref.startswith("SM")


def test_quiet_hours_defer_messages_and_drop_a_stale_arriving_soon(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    smtp: SmtpServer,
    clock: SetClock,
    run_worker: Worker,
) -> None:
    # 17:00 UTC in Paris is 18:00: inside quiet hours from 17:30 to 08:00.
    with database.session() as session:
        org = session.get(Organization, world.org_id)
        assert org is not None
        org.timezone = "Europe/Paris"
        session.commit()
    _settings(database, world.org_id, quiet_hours_start="17:30", quiet_hours_end="08:00")
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    eta = (clock.now() + timedelta(minutes=10)).isoformat()
    _queue(app, database, world.org_id, stops[1], Kind.ARRIVING_SOON, eta="soon", eta_at=eta)
    [delivered] = rows(database, channel="email", kind="delivered")
    # 08:00 Paris the next morning is 07:00 UTC.
    assert delivered.next_attempt_at == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    [arriving] = rows(database, channel="email", kind="arriving_soon")
    assert arriving.status == "suppressed"
    assert "quiet hours" in arriving.last_error
    assert run_worker(_email(smtp))["sent"] == 0
    clock.set(datetime(2026, 11, 25, 7, 0, 5, tzinfo=UTC))
    assert run_worker(_email(smtp))["sent"] == 1
    assert len(smtp.recorder.received) == 1


def test_a_due_message_landing_in_quiet_hours_waits_for_their_end(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    smtp: SmtpServer,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    # Quiet hours begin after it was queued (a retry would land the same way).
    _settings(database, world.org_id, quiet_hours_start="16:00", quiet_hours_end="08:00")
    assert run_worker(_email(smtp))["sent"] == 0
    [row] = rows(database, channel="email")
    assert row.status == "pending"
    assert row.next_attempt_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_the_unsubscribe_link_confirms_then_records_and_is_honoured(
    app: Flask,
    client: FlaskClient,
    database: Database,
    world: World,
    stops: list[int],
    settings: Settings,
    smtp: SmtpServer,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.OUT_FOR_DELIVERY)
    token = unsubscribe_token(settings.secret_key, world.org_id, "email", "recipient1@example.com")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert b"recipient1@example.com" in page.data
    with database.session() as session:
        # Looking is not unsubscribing (mail scanners follow links).
        assert session.scalars(select(NotificationOptOut)).all() == []
    # RFC 8058 one-click: the mail client POSTs this body, no page in between.
    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert b"No more e-mails" in done.data
    assert client.post(f"/u/{token}").status_code == 200
    [waiting] = rows(database, channel="email")
    assert waiting.status == "suppressed"
    # At enqueue too: the next message to that address is stored suppressed.
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    [later] = rows(database, channel="email", kind="delivered")
    assert later.status == "suppressed"
    assert "unsubscribed" in later.last_error
    # Text messages to the same recipient still go: the opt-out was for e-mail.
    assert {r.status for r in rows(database, channel="sms")} == {"pending"}
    assert run_worker(_email(smtp))["sent"] == 0
    assert smtp.recorder.received == []


def test_the_worker_honours_an_opt_out_made_after_queueing(
    app: Flask,
    client: FlaskClient,
    database: Database,
    world: World,
    stops: list[int],
    settings: Settings,
    smtp: SmtpServer,
    run_worker: Worker,
) -> None:
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED)
    with database.session() as session:
        session.add(
            NotificationOptOut(
                org_id=world.org_id, channel="email", address="recipient1@example.com"
            )
        )
        session.commit()
    run_worker(_email(smtp))
    [row] = rows(database, channel="email")
    assert row.status == "suppressed"
    assert smtp.recorder.received == []


@pytest.mark.parametrize(
    "token",
    ["nope", "a.b", "x" * 2000, "MTIzCmVtYWlsCmFAYi5j.AAAAAAAAAAAAAAAAAAAAAA"],
)
def test_a_forged_or_broken_unsubscribe_token_is_404(
    client: FlaskClient, world: World, token: str
) -> None:
    assert client.get(f"/u/{token}").status_code == 404
    assert client.post(f"/u/{token}").status_code == 404


def test_a_tenants_template_is_used_and_a_broken_one_refused(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    smtp: SmtpServer,
    run_worker: Worker,
) -> None:
    parts = {
        "subject": "Parcel {{ order_number }} delivered <3",
        "text": "Hi {{ recipient_name }}! Proof: {{ tracking_url }}",
        "html": "<p>Hi {{ recipient_name }}</p><a href='{{ tracking_url }}'>proof</a>",
        "sms": "Delivered: {{ tracking_url }}",
    }
    with database.session() as session:
        rendering.set_template(session, world.org_id, "delivered", parts)
        with pytest.raises(Refusal) as refused:
            rendering.set_template(
                session,
                world.org_id,
                "delivered",
                parts | {"text": "{{ tracking_url }} {{ secret.__class__ }}", "sms": "{% if %}"},
            )
    assert refused.value.errors is not None
    assert set(refused.value.errors) == {"text", "sms"}
    _queue(app, database, world.org_id, stops[0], Kind.DELIVERED, recipient_name="<b>Dana</b>")
    # Another tenant keeps the shipped wording.
    assert run_worker(_email(smtp))["sent"] == 1
    [received] = smtp.recorder.received
    assert received.message["Subject"].startswith("Parcel ORD-")
    html = received.message.get_body(preferencelist=("html",))
    text = received.message.get_body(preferencelist=("plain",))
    assert html is not None
    assert text is not None
    # Escaped in HTML, as given in text.
    assert "&lt;b&gt;Dana&lt;/b&gt;" in html.get_content()
    assert text.get_content().startswith("Hi <b>Dana</b>! Proof: http://127.0.0.1:8000/t/")
    with database.session() as session:
        assert rendering.template_of(session, world.other_org_id, "delivered") is None
        # Back to the shipped wording.
        session.rollback()
        rendering.reset_template(session, world.org_id, "delivered")
        assert rendering.template_of(session, world.org_id, "delivered") is None
