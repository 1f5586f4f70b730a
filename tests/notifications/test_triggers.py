"""Messages are queued where things happen: ETAs, disputes, re-plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.db.models import Organization, Stop, StopEta, WebhookDelivery, WebhookEndpoint
from backend.db.session import Database, scope_to_tenant
from backend.domain.clock import SetClock
from backend.domain.stops import StopStatus
from backend.notifications.triggers import queue_arriving_soon
from backend.planning.service import plan_next_attempts
from tests.conftest import World
from tests.factories import SERVICE_DATE
from tests.notifications.conftest import rows
from tests.sync.helpers import Device

Auth = Callable[[str], dict[str, str]]


def _subscribe(database: Database, org_id: int, *events: str) -> None:
    with database.session() as session:
        session.add(
            WebhookEndpoint(
                org_id=org_id, url="https://hooks.example/x", secret="s" * 32, events=list(events)
            )
        )
        session.commit()


def _webhooks(database: Database, event_type: str) -> list[dict[str, object]]:
    with database.session() as session:
        return [
            row.payload
            for row in session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.event_type == event_type)
                .order_by(WebhookDelivery.id)
            )
        ]


def test_arriving_soon_goes_to_stops_within_the_tenants_minutes_or_next_once(
    app: Flask, database: Database, world: World, stops: list[int], clock: SetClock
) -> None:
    _subscribe(database, world.org_id, "stop.arriving")
    with database.session() as session:
        org = session.get(Organization, world.org_id)
        assert org is not None
        org.settings = {"arriving_soon_minutes": 20}
        now = clock.now()
        for stop_id, minutes, before in zip(stops, (40, 18, 90), (0, 1, 2), strict=True):
            session.add(
                StopEta(
                    org_id=world.org_id,
                    stop_id=stop_id,
                    eta_at=now + timedelta(minutes=minutes),
                    stops_before=before,
                    computed_at=now,
                )
            )
        session.commit()
    for _ in range(2):
        with app.app_context(), database.session() as session:
            scope_to_tenant(session, world.org_id)
            assert queue_arriving_soon(session, world.org_id, stops) == 2
            session.commit()
    queued = rows(database, kind="arriving_soon", channel="email")
    # Next (40 min, but no stop before it) and within 20 minutes; not the 90-minute one.
    assert [row.stop_id for row in queued] == [stops[0], stops[1]]
    assert "in about 18 minutes" in queued[1].context["eta"]
    arriving = _webhooks(database, "stop.arriving")
    assert [payload["stop_id"] for payload in arriving] == [stops[0], stops[1]]


def test_a_settled_dispute_tells_the_recipient_what_really_happens(
    client: FlaskClient,
    auth: Auth,
    database: Database,
    world: World,
    stops: list[int],
    device: Device,
) -> None:
    assert device.sync([device.event(stops[0]), device.event(stops[1])]).status_code == 200
    outcomes = []
    for stop_id, settlement in (
        (
            stops[0],
            {
                "outcome": "upheld",
                "remedy": "refund",
                "refund_amount": "12.50",
                "refund_currency": "EUR",
            },
        ),
        (stops[1], {"outcome": "rejected", "evidence_cited": ["geo", "receipt"]}),
    ):
        opened = client.post(
            "/api/v1/disputes",
            json={"stop_id": stop_id, "reason": "not_received"},
            headers=auth("support"),
        )
        assert opened.status_code == 201, opened.get_json()
        settled = client.post(
            f"/api/v1/disputes/{opened.get_json()['id']}/resolve",
            json={"reason": "checked the proof", **settlement},
            headers=auth("support"),
        )
        assert settled.status_code == 200, settled.get_json()
        [row] = rows(database, kind="dispute_settled", channel="email", stop_id=stop_id)
        outcomes.append(row.context["outcome"])
    assert outcomes[0] == "We upheld your report: a refund of 12.50 EUR has been approved."
    assert "could not uphold it, so no refund or new delivery will be made" in outcomes[1]


def test_a_redelivery_names_its_date_once(
    client: FlaskClient,
    auth: Auth,
    database: Database,
    world: World,
    stops: list[int],
    device: Device,
) -> None:
    assert device.sync([device.event(stops[0])]).status_code == 200
    opened = client.post(
        "/api/v1/disputes",
        json={"stop_id": stops[0], "reason": "damaged"},
        headers=auth("support"),
    )
    day = SERVICE_DATE + timedelta(days=2)
    settled = client.post(
        f"/api/v1/disputes/{opened.get_json()['id']}/resolve",
        json={
            "outcome": "upheld",
            "reason": "crushed",
            "remedy": "redeliver",
            "redeliver_on": day.isoformat(),
        },
        headers=auth("support"),
    )
    assert settled.status_code == 200, settled.get_json()
    [row] = rows(database, kind="dispute_settled", channel="email")
    assert "delivered again on Thursday 26 November 2026" in row.context["outcome"]
    # The dispute's message already says it: no separate "rescheduled".
    assert rows(database, kind="rescheduled") == []


def test_a_failed_stop_replanned_to_another_day_tells_the_new_date(
    app: Flask, database: Database, world: World, stops: list[int]
) -> None:
    with app.app_context(), database.session() as session:
        scope_to_tenant(session, world.org_id)
        original = session.get(Stop, stops[0])
        assert original is not None
        original.status = StopStatus.FAILED
        day = SERVICE_DATE + timedelta(days=1)
        attempts = plan_next_attempts(session, [original], {original.id: day})
        session.commit()
    [email, sms] = rows(database, kind="rescheduled")
    assert (email.channel, sms.channel) == ("email", "sms")
    assert email.context["new_date"] == "Wednesday 25 November 2026"
    assert email.context["order_number"].endswith("-R1")
    assert str(attempts[stops[0]]) in email.dedupe_key
