"""The demo always has a today: Seattle's date, whatever the UTC date or the day it was seeded."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.models import Manifest
from backend.db.session import Database
from backend.domain.clock import SetClock
from demo.app import create_app
from demo.seed import plan_demo_day_if_missing, seed_demo
from tests.factories import SERVICE_DATE

SEATTLE = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def app(settings: Settings, database: Database, clock: SetClock) -> Flask:
    """The app `make run` serves: the shipped one, kept on the demo's today."""
    app = create_app(settings, database, clock)
    app.config["TESTING"] = True
    return app


def _driver1(client: FlaskClient, settings: Settings) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token",
        json={"username": "driver1", "password": settings.demo_password, "device_id": "phone"},
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def _days_planned(session: Session) -> Counter[str]:
    session.rollback()
    return Counter(d.isoformat() for d in session.scalars(select(Manifest.service_date)))


def test_a_demo_seeded_on_a_seattle_evening_serves_that_evenings_day(
    app: Flask, client: FlaskClient, session: Session, settings: Settings, clock: SetClock
) -> None:
    # 20:00 in Seattle: in UTC it is already 04:00 the next day.
    clock.set(datetime.combine(SERVICE_DATE, time(20, 0), SEATTLE))
    with app.app_context():
        seed_demo(session, settings)
    headers = _driver1(client, settings)

    manifest = client.get("/api/v1/manifests/mine", headers=headers)
    assert manifest.status_code == 200, manifest.get_json()
    assert manifest.get_json()["service_date"] == SERVICE_DATE.isoformat()
    sync = client.post(
        "/api/v1/sync", json={"device_id": "phone", "cursor": None, "events": []}, headers=headers
    )
    assert len(sync.get_json()["changes"]) == len(manifest.get_json()["stops"])


def test_a_demo_left_running_past_midnight_in_seattle_plans_the_new_day(
    app: Flask, client: FlaskClient, session: Session, settings: Settings, clock: SetClock
) -> None:
    clock.set(datetime.combine(SERVICE_DATE, time(23, 55), SEATTLE))
    with app.app_context():
        seed_demo(session, settings)
    headers = _driver1(client, settings)
    assert client.get("/api/v1/manifests/mine", headers=headers).status_code == 200

    clock.advance(timedelta(minutes=10))  # within the access token's life
    manifest = client.get("/api/v1/manifests/mine", headers=headers)

    assert manifest.status_code == 200, manifest.get_json()
    tomorrow = SERVICE_DATE + timedelta(days=1)
    assert manifest.get_json()["service_date"] == tomorrow.isoformat()
    # Five drivers, each with a plan for both days: yesterday stays as history.
    assert _days_planned(session) == {SERVICE_DATE.isoformat(): 5, tomorrow.isoformat(): 5}


def test_planning_the_demos_day_twice_plans_it_once(
    app: Flask, session: Session, settings: Settings
) -> None:
    with app.app_context():
        seed_demo(session, settings, SERVICE_DATE)
    next_day = SERVICE_DATE + timedelta(days=1)

    assert plan_demo_day_if_missing(session, next_day) is True
    assert plan_demo_day_if_missing(session, next_day) is False
    assert plan_demo_day_if_missing(session, SERVICE_DATE) is False
    assert _days_planned(session) == {SERVICE_DATE.isoformat(): 5, next_day.isoformat(): 5}
