"""From the driver's sync to the recipient's inbox, through the real endpoint."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

from flask import Flask
from sqlalchemy import select

from backend.config import parse_smtp_url
from backend.db.models import Notification, WebhookDelivery, WebhookEndpoint
from backend.db.session import Database
from backend.notifications.transports import SmtpTransport, Transports
from backend.tracking import tokens
from tests.conftest import World
from tests.notifications.conftest import rows
from tests.notifications.servers import SmtpServer
from tests.sync.helpers import Device


def _subscribe(database: Database, org_id: int, *events: str) -> None:
    with database.session() as session:
        session.add(
            WebhookEndpoint(
                org_id=org_id, url="http://127.0.0.1:9/hook", secret="s", events=list(events)
            )
        )
        session.commit()


def _html_and_text(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def test_a_batch_sent_twice_queues_each_message_once_and_the_mail_arrives(
    app: Flask,
    database: Database,
    world: World,
    stops: list[int],
    device: Device,
    smtp: SmtpServer,
    run_worker: Callable[..., dict[str, int]],
) -> None:
    _subscribe(database, world.org_id, "route.started", "delivered")
    batch = [device.event(stops[0], "delivered"), device.event(stops[1], "failed")]
    first = device.sync(batch)
    assert first.status_code == 200, first.get_json()
    assert [r["status"] for r in first.get_json()["results"]] == ["applied", "applied"]
    again = device.sync(batch)
    assert [r["status"] for r in again.get_json()["results"]] == ["duplicate", "duplicate"]

    queued = rows(database)
    by_kind: dict[str, list[Notification]] = {}
    for row in queued:
        by_kind.setdefault(row.kind, []).append(row)
    # One per recipient and channel: the resend added nothing.
    assert sorted((r.stop_id, r.channel) for r in by_kind["delivered"]) == [
        (stops[0], "email"),
        (stops[0], "sms"),
    ]
    assert sorted((r.stop_id, r.channel) for r in by_kind["failed"]) == [
        (stops[1], "email"),
        (stops[1], "sms"),
    ]
    # The route started: only the stop still open hears "out for delivery".
    assert sorted((r.stop_id, r.channel) for r in by_kind["out_for_delivery"]) == [
        (stops[2], "email"),
        (stops[2], "sms"),
    ]
    assert {r.address for r in by_kind["delivered"]} == {"recipient1@example.com", "+12065550101"}
    with database.session() as session:
        started = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "route.started")
        ).all()
    assert len(started) == 1
    assert started[0].payload["stop_ids"] == [stops[2]]
    # The route has started and stops[2] is next: its recipient hears "arriving soon"
    # (after the ETA recompute), on each channel, once.
    assert sorted((r.stop_id, r.channel) for r in by_kind["arriving_soon"]) == [
        (stops[2], "email"),
        (stops[2], "sms"),
    ]

    # A later batch of the same day is not the route's start.
    later = device.sync([device.event(stops[2], "delivered")])
    assert later.status_code == 200
    assert len(rows(database, kind="out_for_delivery")) == 2

    transports = Transports(email=SmtpTransport(parse_smtp_url(smtp.url)))
    counts = run_worker(transports)
    # Four e-mails: delivered, failed, out for delivery, arriving soon; and the later
    # delivered one.
    assert counts["sent"] == 5
    assert run_worker(transports)["sent"] == 0
    received = smtp.recorder.received
    assert len(received) == 5
    delivered = next(r for r in received if "was delivered" in str(r.message["Subject"]))
    assert delivered.envelope_to == ["recipient1@example.com"]
    text, html = _html_and_text(delivered.message)
    assert "ORD-" in text
    assert "handed to you" in text
    link = next(word for word in text.split() if "/t/" in word)
    assert link.startswith("http://127.0.0.1:8000/t/")
    assert f'href="{link}"' in html
    with app.app_context(), database.session() as session:
        from backend import clock

        token_row = tokens.resolve(session, link.rsplit("/", 1)[1], clock.now())
    assert token_row is not None
    assert token_row.stop_id == stops[0]
    unsubscribe = str(delivered.message["List-Unsubscribe"])
    assert unsubscribe.startswith("<http://127.0.0.1:8000/u/")
    assert unsubscribe.endswith(">")
    assert delivered.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # SMS has no transport here: those rows are suppressed with the reason, not sent.
    sms_rows = rows(database, channel="sms")
    assert {r.status for r in sms_rows} == {"suppressed"}
    assert "DOORSTEP_SMS_URL" in sms_rows[0].last_error
    failed = next(r for r in received if "could not deliver" in str(r.message["Subject"]))
    failed_text, _ = _html_and_text(failed.message)
    assert "nobody was there to receive it" in failed_text
    assert "recipient_absent" not in failed_text
