"""Dispute remedies act: a redelivery is a stop for dispatch, a refund has an amount,
and integrators hear of both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Parcel, Stop, WebhookDelivery, WebhookEndpoint
from backend.db.session import scope_to_tenant
from backend.domain.stops import StopStatus
from backend.proofs.timeline import build_timeline
from tests.conftest import World
from tests.console.pages import log_in, post_form
from tests.factories import SERVICE_DATE

Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def dispute_id(
    client: FlaskClient,
    auth: Auth,
    delivered: Stop,
    session: Session,
    world: World,
) -> int:
    # An integrator listens for dispute events.
    session.add(
        WebhookEndpoint(
            org_id=world.org_id, url="https://hooks.example/x", secret="s" * 32, events=["dispute"]
        )
    )
    session.commit()
    response = client.post(
        "/api/v1/disputes",
        json={"stop_id": delivered.id, "reason": "damaged"},
        headers=auth("support"),
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def _settle(client: FlaskClient, auth: Auth, dispute_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={"outcome": "upheld", "reason": "box crushed", **body},
        headers=auth("support"),
    )


def _settled_events(session: Session) -> list[dict[str, Any]]:
    session.rollback()
    return [
        row.payload
        for row in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        if row.payload.get("event") == "dispute.settled"
    ]


def test_a_redelivery_is_a_new_stop_for_dispatch_linked_to_the_dispute(
    client: FlaskClient,
    auth: Auth,
    dispute_id: int,
    delivered: Stop,
    session: Session,
) -> None:
    response = _settle(client, auth, dispute_id, remedy="redeliver")
    assert response.status_code == 200, response.get_json()
    redelivery = response.get_json()["redelivery"]

    session.rollback()
    stop = session.get(Stop, redelivery["stop_id"])
    assert stop is not None
    # Another attempt of the same order, tomorrow by the organization's clock, unassigned.
    assert stop.order_number == f"{delivered.order_number}-R1"
    assert stop.service_date == SERVICE_DATE + timedelta(days=1)
    assert (stop.manifest_id, stop.status) == (None, StopStatus.PENDING)
    assert stop.address == delivered.address
    barcodes = session.scalars(select(Parcel.barcode).where(Parcel.stop_id.in_([stop.id])))
    originals = session.scalars(select(Parcel.barcode).where(Parcel.stop_id == delivered.id))
    assert sorted(barcodes) == sorted(originals)
    [event] = _settled_events(session)
    assert (event["remedy"], event["redelivery"]["stop_id"]) == ("redeliver", stop.id)

    scope_to_tenant(session, stop.org_id)
    original = session.get(Stop, delivered.id)
    assert original is not None
    kinds = [entry.kind for entry in build_timeline(session, original)]
    assert "redelivery_planned" in kinds
    log_in(client, "support")
    page = client.get(f"/console/deliveries/{delivered.id}").get_data(as_text=True)
    assert f"{delivered.order_number}-R1" in page


def test_a_redelivery_can_be_planned_for_a_later_day_but_not_the_past(
    client: FlaskClient, auth: Auth, dispute_id: int
) -> None:
    past = _settle(client, auth, dispute_id, remedy="redeliver", redeliver_on="2020-01-01")
    assert (past.status_code, list(past.get_json()["errors"])) == (422, ["redeliver_on"])
    later = (SERVICE_DATE + timedelta(days=3)).isoformat()
    ok = _settle(client, auth, dispute_id, remedy="redeliver", redeliver_on=later)
    assert ok.get_json()["redelivery"]["service_date"] == later


def test_a_refund_records_its_amount_and_currency(
    client: FlaskClient, auth: Auth, dispute_id: int, session: Session
) -> None:
    missing = _settle(client, auth, dispute_id, remedy="refund")
    assert missing.status_code == 422
    assert set(missing.get_json()["errors"]) == {"refund_amount", "refund_currency"}
    for amount, currency, field in (
        ("-3", "USD", "refund_amount"),
        ("3", "usd", "refund_currency"),
    ):
        bad = _settle(
            client,
            auth,
            dispute_id,
            remedy="refund",
            refund_amount=amount,
            refund_currency=currency,
        )
        assert (bad.status_code, list(bad.get_json()["errors"])) == (422, [field])

    ok = _settle(
        client, auth, dispute_id, remedy="refund", refund_amount="24.9", refund_currency="USD"
    )
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["refund"] == {"amount": "24.90", "currency": "USD"}
    [event] = _settled_events(session)
    assert (event["remedy"], event["refund"]) == ("refund", {"amount": "24.90", "currency": "USD"})
    assert event["type"] == "dispute"


def test_a_rejected_dispute_carries_no_remedy_details(
    client: FlaskClient, auth: Auth, dispute_id: int
) -> None:
    response = client.post(
        f"/api/v1/disputes/{dispute_id}/resolve",
        json={
            "outcome": "rejected",
            "reason": "signed for",
            "evidence_cited": ["signature"],
            "refund_amount": "5.00",
            "refund_currency": "USD",
        },
        headers=auth("support"),
    )
    assert (response.status_code, list(response.get_json()["errors"])) == (422, ["refund_amount"])


def test_the_console_settles_with_a_refund_and_says_what_happens(
    client: FlaskClient,
    dispute_id: int,
    delivered: Stop,
) -> None:
    log_in(client, "support")
    page = client.get(f"/console/deliveries/{delivered.id}").get_data(as_text=True)
    assert "as the customer will be told" not in page
    response = post_form(
        client,
        f"/console/disputes/{dispute_id}/resolve",
        {
            "outcome": "upheld",
            "remedy": "refund",
            "refund_amount": "12.50",
            "refund_currency": "EUR",
            "reason": "box crushed",
            "confirm": "true",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    page = client.get(f"/console/deliveries/{delivered.id}").get_data(as_text=True)
    assert "Refund: 12.50 EUR" in page
