"""Recomputing a driver's ETAs: after syncs and plan changes, with snapshots of what
moved and the ``stop.eta_changed`` webhook for big moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import (
    DoorEventRow,
    EtaSnapshot,
    Notification,
    Stop,
    StopEta,
    WebhookDelivery,
    WebhookEndpoint,
)
from backend.db.session import scope_to_tenant
from backend.domain.eta import DEFAULT_SERVICE_SECONDS, MIN_SERVICE_SAMPLES
from backend.eta.service import eta_view, learned_service_time, recompute
from tests.conftest import World
from tests.factories import SERVICE_DATE, make_manifest
from tests.sync.helpers import Device

NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
Auth = Callable[[str], dict[str, str]]


def _etas(session: Session) -> dict[int, tuple[datetime, int]]:
    session.rollback()
    return {row.stop_id: (row.eta_at, row.stops_before) for row in session.scalars(select(StopEta))}


def _snapshots(session: Session, stop_id: int) -> list[datetime]:
    return list(
        session.scalars(
            select(EtaSnapshot.eta_at)
            .where(EtaSnapshot.stop_id == stop_id)
            .order_by(EtaSnapshot.id)
        )
    )


def test_a_sync_with_a_position_gives_every_open_stop_an_eta(
    device: Device, stops: list[int], session: Session
) -> None:
    near_first = {"lat": 47.6, "lon": -122.33, "recorded_at": "2026-11-24T16:58:00+00:00"}
    assert device.sync(positions=[near_first]).status_code == 200
    etas = _etas(session)
    assert sorted(etas) == stops
    assert [etas[s][1] for s in stops] == [0, 1, 2]
    times = [etas[s][0] for s in stops]
    assert times == sorted(times)
    assert times[0] >= NOW
    assert all(len(_snapshots(session, s)) == 1 for s in stops)


def test_a_sync_that_changes_nothing_reads_nothing(
    device: Device, stops: list[int], session: Session
) -> None:
    assert device.sync().status_code == 200
    assert _etas(session) == {}


def test_a_completed_stop_loses_its_eta_and_the_rest_move_up(
    device: Device, stops: list[int], session: Session
) -> None:
    device.sync([device.event(stops[0], "arrived")])
    before = _etas(session)
    assert sorted(before) == stops
    device.sync([device.event(stops[0], "delivered")])
    after = _etas(session)
    assert sorted(after) == stops[1:]
    assert [after[s][1] for s in stops[1:]] == [0, 1]


def test_only_an_estimate_that_moved_a_minute_gets_a_snapshot_and_five_a_webhook(
    world: World, stops: list[int], session: Session
) -> None:
    session.add(
        WebhookEndpoint(
            org_id=world.org_id,
            url="https://example.com/h",
            secret="s",
            events=["stop.eta_changed"],
        )
    )
    session.commit()
    scope_to_tenant(session, world.org_id)
    driver = world.users["driver_a"]
    recompute(session, world.org_id, driver, SERVICE_DATE, NOW, service_seconds=240)
    recompute(
        session,
        world.org_id,
        driver,
        SERVICE_DATE,
        NOW + timedelta(seconds=30),
        service_seconds=240,
    )
    assert all(len(_snapshots(session, s)) == 1 for s in stops)
    assert session.scalars(select(WebhookDelivery)).first() is None
    # Ten minutes later the driver has not moved: every estimate slides ten minutes.
    result = recompute(
        session,
        world.org_id,
        driver,
        SERVICE_DATE,
        NOW + timedelta(minutes=10),
        service_seconds=240,
    )
    session.commit()
    assert sorted(result.changed) == sorted(result.announced) == stops
    assert all(len(_snapshots(session, s)) == 2 for s in stops)
    payloads = [d.payload for d in session.scalars(select(WebhookDelivery))]
    assert {p["type"] for p in payloads} == {"stop.eta_changed"}
    assert sorted(p["stop_id"] for p in payloads) == stops
    assert payloads[0]["previous_eta_at"] < payloads[0]["eta_at"]


def test_cancelling_or_moving_a_stop_rewrites_the_etas(
    client: FlaskClient, device: Device, stops: list[int], session: Session, auth: Auth
) -> None:
    device.sync(positions=[{"lat": 47.6, "lon": -122.33, "recorded_at": "2026-11-24T16:58:00Z"}])
    response = client.post(
        f"/api/v1/stops/{stops[0]}/cancel", json={"reason": "moved"}, headers=auth("dispatcher")
    )
    assert response.status_code == 200
    etas = _etas(session)
    assert sorted(etas) == stops[1:]
    assert etas[stops[1]][1] == 0
    response = client.put(
        f"/api/v1/manifests/driver_b/{SERVICE_DATE}",
        json={"stop_ids": [stops[2]]},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    etas = _etas(session)
    assert etas[stops[1]][1] == 0
    assert etas[stops[2]][1] == 0


def test_eta_view_says_when_and_how_many_stops_come_first(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    device.sync(positions=[{"lat": 47.6, "lon": -122.33, "recorded_at": "2026-11-24T16:58:00Z"}])
    session.rollback()
    scope_to_tenant(session, world.org_id)
    stop = session.get(Stop, stops[2])
    assert stop is not None
    view = eta_view(session, stop, NOW)
    assert view is not None
    assert view["stops_before"] == 2
    assert view["minutes_away"] > 0
    assert view["eta_at"].endswith("Z")
    device.sync([device.event(stops[2], "failed")])
    session.rollback()
    stop = session.get(Stop, stops[2])
    assert stop is not None
    assert eta_view(session, stop, NOW) is None


def _door_times(session: Session, world: World, stop_ids: list[int], days_ago: int) -> None:
    for n, stop_id in enumerate(stop_ids):
        arrived = NOW - timedelta(days=days_ago, minutes=10 * n)
        for kind, when in (("arrived", arrived), ("delivered", arrived + timedelta(seconds=90))):
            session.add(
                DoorEventRow(
                    org_id=world.org_id,
                    event_id=f"{kind}-{stop_id}",
                    stop_id=stop_id,
                    driver_id=world.users["driver_b"],
                    device_key="d",
                    type=kind,
                    recorded_at=when,
                    hlc=f"{n}",
                    base_version=1,
                    payload={},
                    evidence=[],
                    fingerprint="f",
                    result="applied",
                )
            )
    session.commit()


def _stops_of(session: Session, manifest_id: int) -> list[int]:
    return list(session.scalars(select(Stop.id).where(Stop.manifest_id == manifest_id)))


def test_the_service_time_is_learned_from_the_tenants_recent_door_times(
    world: World, session: Session
) -> None:
    scope_to_tenant(session, world.org_id)
    assert learned_service_time(session, world.org_id, NOW) == DEFAULT_SERVICE_SECONDS
    yesterday = make_manifest(
        session,
        world.org_id,
        world.users["driver_b"],
        MIN_SERVICE_SAMPLES,
        service_date=SERVICE_DATE - timedelta(days=1),
    )
    _door_times(session, world, _stops_of(session, yesterday.id)[:-1], days_ago=1)
    # One sample short of trusting the tenant's own figure.
    assert learned_service_time(session, world.org_id, NOW) == DEFAULT_SERVICE_SECONDS
    _door_times(session, world, _stops_of(session, yesterday.id)[-1:], days_ago=1)
    assert learned_service_time(session, world.org_id, NOW) == 90.0


def test_door_times_older_than_thirty_days_are_not_learned_from(
    world: World, session: Session
) -> None:
    scope_to_tenant(session, world.org_id)
    old = make_manifest(
        session,
        world.org_id,
        world.users["driver_b"],
        MIN_SERVICE_SAMPLES + 5,
        service_date=SERVICE_DATE - timedelta(days=31),
    )
    _door_times(session, world, _stops_of(session, old.id), days_ago=31)
    assert learned_service_time(session, world.org_id, NOW) == DEFAULT_SERVICE_SECONDS


def _arriving_soon(session: Session) -> list[int]:
    session.rollback()
    return sorted(
        n.stop_id
        for n in session.scalars(select(Notification).where(Notification.kind == "arriving_soon"))
    )


def test_arriving_soon_waits_for_the_route_to_start_then_reaches_the_next_stop_once(
    device: Device, stops: list[int], session: Session, world: World
) -> None:
    for stop in session.scalars(select(Stop).where(Stop.id.in_(stops))):
        stop.recipient_email = f"r{stop.id}@example.com"
    session.commit()
    # A position before any door report: ETAs, but nobody is told the driver is close.
    near_first = {"lat": 47.6, "lon": -122.33, "recorded_at": "2026-11-24T16:58:00+00:00"}
    assert device.sync(positions=[near_first]).status_code == 200
    assert _etas(session)
    assert _arriving_soon(session) == []
    # The first delivery starts the route: the stop now next hears it, once, however
    # often the driver syncs.
    device.sync([device.event(stops[0], "arrived"), device.event(stops[0], "delivered")])
    device.sync([device.event(stops[1], "note", payload={"text": "ringing"})])
    assert stops[1] in _arriving_soon(session)
    assert _arriving_soon(session).count(stops[1]) == 1
    assert stops[0] not in _arriving_soon(session)
